//! `marrow`: the boot service and the admin CLI. Parsing and exit codes only;
//! the work lives in the library.

use clap::Parser;
use marrow_server::cli::{run, Cli};
use std::process::ExitCode;

/// mimalloc returns freed pages to the system shortly after a burst, where
/// glibc's malloc keeps the high-water mark of concurrent request bodies.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
