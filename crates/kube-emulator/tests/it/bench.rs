//! Throughput benchmark (run on demand, never timed in CI):
//! `cargo test -p kube-emulator --test it bench -- --ignored --nocapture`
//! prints requests per second for create + get from a `kube::Client` at concurrency 8.

use std::time::Instant;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::PostParams;
use kube_emulator::{Emulator, EmulatorOptions};

const CONCURRENCY: usize = 8;
const PAIRS_PER_TASK: usize = 500;

// Benchmark, not an upstream behaviour: simple create/get requests per second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run on demand with --ignored --nocapture"]
async fn emulator_serves_simple_requests_quickly() {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let api: Api<ConfigMap> = Api::default_namespaced(emu.client());
    let start = Instant::now();
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|t| {
            let api = api.clone();
            tokio::spawn(async move {
                for i in 0..PAIRS_PER_TASK {
                    let mut cm = ConfigMap::default();
                    cm.metadata.name = Some(format!("bench-{t}-{i}"));
                    api.create(&PostParams::default(), &cm).await.unwrap();
                    api.get(&format!("bench-{t}-{i}")).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = start.elapsed();
    let requests = CONCURRENCY * PAIRS_PER_TASK * 2;
    #[allow(clippy::cast_precision_loss)]
    let rate = requests as f64 / elapsed.as_secs_f64();
    println!(
        "emulator: {requests} requests (create+get, concurrency {CONCURRENCY}) in {elapsed:?}: {rate:.0} req/s"
    );
    assert_eq!(emu.requests().all().len(), requests);
}
