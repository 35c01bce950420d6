//! `marrow-client`: the imaging client. Not built yet; it says so instead of
//! pretending.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!("marrow-client: the imaging client is not built yet in this version of marrow");
    ExitCode::FAILURE
}
