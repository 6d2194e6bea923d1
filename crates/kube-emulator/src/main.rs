//! `kube-emulator`: the in-process Kubernetes API emulator as a standalone server for the
//! local sandbox. Prints the URL, writes a kubeconfig, serves until SIGTERM or SIGINT.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use kube_emulator::{Emulator, EmulatorOptions};

/// Command line of `kube-emulator`.
#[derive(Debug, Parser)]
#[command(
    name = "kube-emulator",
    about = "Kubernetes API emulator for the local sandbox"
)]
struct Args {
    /// Port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Where to write a kubeconfig for kubectl and the operator.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Sandbox mode: Deployments report available replicas after a short delay.
    #[arg(long)]
    sandbox: bool,
    /// Delay before sandbox mode marks a Deployment available, in milliseconds.
    #[arg(long, default_value_t = 500)]
    sandbox_delay_ms: u64,
}

async fn wait_for_signal() -> std::io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result,
        _ = term.recv() => Ok(()),
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let options = EmulatorOptions {
        port: args.port,
        sandbox: args.sandbox,
        sandbox_delay: Duration::from_millis(args.sandbox_delay_ms),
        ..EmulatorOptions::default()
    };
    let handle = Emulator::start(options).await?;
    if let Some(path) = &args.kubeconfig {
        std::fs::write(path, handle.kubeconfig_yaml())?;
    }
    println!("{}", handle.url());
    wait_for_signal().await?;
    handle.shutdown().await;
    Ok(())
}
