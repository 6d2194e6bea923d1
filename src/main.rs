//! The `tiered` binary: a thin command-line shell over the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = tiered::cli::Cli::parse();
    match tiered::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
