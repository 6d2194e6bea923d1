//! The `tiered` binary: a thin command-line shell over the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = tiered::cli::Cli::parse();
    match tiered::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of standard output went away (`tiered render … | head`): quietly.
        Err(error) if error.is_closed_output() => ExitCode::SUCCESS,
        Err(error) => {
            // The whole chain: "failed to run the operator: failed to run the HTTP
            // endpoints: failed to bind 0.0.0.0:8080: Address in use", not its first link.
            eprintln!("error: {}", tiered::runtime::error::chain(&error));
            ExitCode::FAILURE
        }
    }
}
