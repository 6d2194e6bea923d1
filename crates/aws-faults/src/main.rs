//! `aws-faults`: the fault layer as a process, for `scripts/chaos.sh`. Prints
//! `listening on http://<addr>` once it accepts requests, then runs until killed.

use std::net::SocketAddr;

use aws_faults::{Proxy, Rule};
use clap::Parser;

/// A fault-injecting proxy in front of moto_server.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Where moto_server listens, e.g. http://127.0.0.1:5000.
    #[arg(long)]
    upstream: String,
    /// Where to listen (port 0: any free port, printed).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Seed of the dice (one generator per AWS action).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// `ACTION:throttle=R,fail=R,deny=R,lose=R,latency=200ms@R`, `*` for every action; the first
    /// rule that matches a call applies. Repeatable.
    #[arg(long = "rule", value_parser = Rule::parse)]
    rules: Vec<Rule>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let proxy = match Proxy::start(args.listen, &args.upstream, args.rules, args.seed).await {
        Ok(proxy) => proxy,
        Err(error) => {
            eprintln!("aws-faults: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("listening on {}", proxy.endpoint());
    let _ = tokio::signal::ctrl_c().await;
    drop(proxy);
    std::process::ExitCode::SUCCESS
}
