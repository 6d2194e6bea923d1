//! `tiered-bench`: the benchmarks of TESTING.md's layer 5, run on demand and printed,
//! never asserted (`scripts/bench.sh` builds it in release and runs it).
//!
//! - `emulator`: simple requests (create, get, label-selected list of ConfigMaps) from a
//!   `kube::Client` at concurrency 8 against the in-process emulator: requests per
//!   second, p50 and p99 latency.
//! - `operator`: N TieredApps × 3 tiers against the emulator with `tiered run` as its own
//!   process: time until every child exists, the floor (a plain client issuing the same
//!   writes) and the ratio, requests per app, writes in steady state, peak RSS.
//! - `all`: both, then one summary table.
//! - `data-tier`: N ManagedDatabases and M CacheClusters against moto_server (through a
//!   recording proxy): time until all are Ready, AWS describe calls per resync, mutating
//!   AWS calls and Kubernetes writes in an idle window, peak RSS.
//! - `chaos`: the chaos run of `scripts/chaos.sh` (kills, API and AWS faults; figures,
//!   and with `--assert-zero` the short CI variant's verdict).
//!
//! A crate of its own, like the emulator, so never part of the release image.

// Counts and sizes become `f64` only to print rates and ratios.
#![allow(clippy::cast_precision_loss)]

mod chaos;
mod data_tier;
mod floor;
mod operator_process;
mod scale;
mod stats;
mod tasks;
mod throughput;
mod workload;

use clap::Parser;

/// Any failure of a benchmark run.
pub type BenchError = Box<dyn std::error::Error + Send + Sync>;
/// Result of a benchmark step.
pub type BenchResult<T> = Result<T, BenchError>;

/// Command line of `tiered-bench`.
#[derive(Debug, Parser)]
#[command(
    name = "tiered-bench",
    about = "Benchmarks of the emulator and the operator (figures, not tests)"
)]
enum Command {
    /// Emulator throughput: simple requests per second and latency.
    Emulator(throughput::ThroughputArgs),
    /// Operator scale: N TieredApps × 3 tiers.
    Operator(scale::ScaleArgs),
    /// Both, then one summary table.
    All {
        #[command(flatten)]
        emulator: throughput::ThroughputArgs,
        #[command(flatten)]
        operator: scale::ScaleArgs,
    },
    /// Data tier: ManagedDatabases and CacheClusters against moto_server.
    DataTier(data_tier::DataTierArgs),
    /// Chaos: a mixed fleet through create, edit and delete while the operator is
    /// killed and the API and AWS fail (run by scripts/chaos.sh).
    Chaos(chaos::ChaosArgs),
}

async fn emulator(args: &throughput::ThroughputArgs) -> BenchResult<Vec<stats::Row>> {
    let result = throughput::run(args).await?;
    throughput::print(args, &result);
    Ok(throughput::rows(&result))
}

async fn operator(args: &scale::ScaleArgs) -> BenchResult<Vec<stats::Row>> {
    let result = scale::run(args).await?;
    scale::print(args, &result);
    Ok(scale::rows(&result))
}

#[tokio::main]
async fn main() -> BenchResult<()> {
    tiered::process::run::install_crypto_provider();
    let rows = match Command::parse() {
        Command::Emulator(args) => emulator(&args).await?,
        Command::Operator(args) => operator(&args).await?,
        Command::All {
            emulator: emulator_args,
            operator: operator_args,
        } => {
            let mut rows = emulator(&emulator_args).await?;
            println!();
            rows.extend(operator(&operator_args).await?);
            rows
        }
        Command::DataTier(args) => {
            let result = data_tier::run(&args).await?;
            data_tier::print(&args, &result);
            data_tier::rows(&result)
        }
        Command::Chaos(args) => return chaos::run(&args).await,
    };
    println!(
        "\nsummary (figures, not assertions)\n{}",
        stats::table(&rows)
    );
    Ok(())
}
