//! `marrow`: the boot service and the admin CLI. Parsing and exit codes only;
//! the work lives in the library.

use clap::Parser;
use marrow_server::cli::{run, Cli};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("marrow: {err}");
            for cause in marrow_protocol::causes::causes(&err) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}
