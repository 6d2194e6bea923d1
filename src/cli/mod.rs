//! Command-line interface of the `tiered` binary: argument parsing and dispatch to the
//! subcommands. Each subcommand lives in its own module.

pub mod crd;
pub mod reference;
pub mod render;
pub mod run;
#[cfg(test)]
mod run_flags_tests;

use clap::{Parser, Subcommand};

/// tiered: run a highly available three-tier application on Amazon EKS from three
/// custom resources.
#[derive(Debug, Parser)]
#[command(name = "tiered", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands of `tiered`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the CustomResourceDefinitions of all tiered kinds as multi-document YAML.
    Crd(crd::CrdArgs),
    /// Run the controllers: the operator process.
    Run(Box<run::RunArgs>),
    /// Offline plan: validate TieredApp, ManagedDatabase and CacheCluster manifests and
    /// print the Kubernetes objects the operator would apply.
    Render(render::RenderArgs),
}

/// Errors a subcommand can end with.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Writing to standard output or a file failed.
    #[error("failed to write output")]
    Write(#[source] std::io::Error),
    /// Serializing an object to YAML failed.
    #[error("failed to serialize {what} to YAML")]
    Yaml {
        /// What was being serialized.
        what: String,
        /// The cause.
        #[source]
        source: serde_norway::Error,
    },
    /// Logging could not be set up.
    #[error("failed to set up logging")]
    Telemetry(#[source] crate::process::telemetry::TelemetryError),
    /// The async runtime could not start.
    #[error("failed to start the async runtime")]
    Runtime(#[source] std::io::Error),
    /// The operator process failed.
    #[error("failed to run the operator")]
    Run(#[source] crate::process::run::RunError),
    /// `tiered render` found invalid input; each problem was printed to standard error.
    #[error("failed to render: {0} problem(s) in the input, listed above")]
    InvalidInput(usize),
}

impl CliError {
    /// Whether this is a write to an output its reader closed (`tiered crd | head -1`,
    /// quitting `less` early): the rest of the output has nowhere to go, which is not a
    /// failure of the command, as for other Unix tools.
    pub fn is_closed_output(&self) -> bool {
        matches!(self, Self::Write(error) if error.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Crd(args) => crd::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Render(args) => render::run(&args),
    }
}
