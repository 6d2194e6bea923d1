//! Emulator throughput: simple requests from a `kube::Client` at a fixed concurrency.
//!
//! Each task creates ConfigMaps labelled with its task number and a batch of ten, reads
//! every one back, and after each batch lists its batch with a label selector: ten
//! creates, ten gets and one list per batch. Every request is timed on its own.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{ListParams, ObjectMeta, PostParams};
use kube_emulator::{Emulator, EmulatorOptions};

use crate::BenchResult;
use crate::stats::{self, Latencies, Row};

/// Objects per label-selected batch.
const BATCH: usize = 10;

/// Flags of the throughput run.
#[derive(Debug, Clone, clap::Args)]
pub struct ThroughputArgs {
    /// Client tasks issuing requests at once.
    #[arg(
        long = "emulator-concurrency",
        id = "emulator-concurrency",
        default_value_t = 8
    )]
    pub concurrency: usize,
    /// ConfigMaps each task creates (each also read once; one list per ten).
    #[arg(
        long = "emulator-objects",
        id = "emulator-objects",
        default_value_t = 1000
    )]
    pub objects_per_task: usize,
}

/// What the run measured.
#[derive(Debug)]
pub struct Throughput {
    /// Requests served.
    pub requests: usize,
    /// Wall time of all of them.
    pub elapsed: Duration,
    /// Latencies by verb (`create`, `get`, `list`).
    pub by_verb: BTreeMap<&'static str, Latencies>,
    /// Latencies of every request.
    pub all: Latencies,
}

impl Throughput {
    /// Requests per second.
    pub fn rate(&self) -> f64 {
        stats::rate(self.requests, self.elapsed)
    }
}

async fn task(
    api: Api<ConfigMap>,
    task: usize,
    objects: usize,
) -> BenchResult<BTreeMap<&'static str, Latencies>> {
    let mut by_verb: BTreeMap<&'static str, Latencies> = BTreeMap::new();
    for i in 0..objects {
        let name = format!("bench-{task}-{i}");
        let config_map = ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(BTreeMap::from([
                    ("bench-task".to_owned(), task.to_string()),
                    ("bench-batch".to_owned(), (i / BATCH).to_string()),
                ])),
                ..ObjectMeta::default()
            },
            data: Some(BTreeMap::from([("index".to_owned(), i.to_string())])),
            ..ConfigMap::default()
        };
        let at = Instant::now();
        api.create(&PostParams::default(), &config_map).await?;
        by_verb.entry("create").or_default().push(at.elapsed());
        let at = Instant::now();
        api.get(&name).await?;
        by_verb.entry("get").or_default().push(at.elapsed());
        if (i + 1) % BATCH == 0 || i + 1 == objects {
            let selector = format!("bench-task={task},bench-batch={}", i / BATCH);
            let at = Instant::now();
            let list = api.list(&ListParams::default().labels(&selector)).await?;
            by_verb.entry("list").or_default().push(at.elapsed());
            if list.items.is_empty() {
                return Err(format!("the list of {selector} came back empty").into());
            }
        }
    }
    Ok(by_verb)
}

/// Starts an emulator, runs the tasks, stops the emulator.
pub async fn run(args: &ThroughputArgs) -> BenchResult<Throughput> {
    let emulator = Emulator::start(EmulatorOptions::default()).await?;
    let api: Api<ConfigMap> = Api::default_namespaced(emulator.client());
    // One request per connection the pool will hold, so that connecting is not timed.
    let warm: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let api = api.clone();
            tokio::spawn(async move { api.list(&ListParams::default().limit(1)).await })
        })
        .collect();
    for handle in warm {
        handle.await??;
    }
    let start = Instant::now();
    let handles: Vec<_> = (0..args.concurrency)
        .map(|t| tokio::spawn(task(api.clone(), t, args.objects_per_task)))
        .collect();
    let mut by_verb: BTreeMap<&'static str, Latencies> = BTreeMap::new();
    for handle in handles {
        for (verb, latencies) in handle.await?? {
            by_verb.entry(verb).or_default().extend(&latencies);
        }
    }
    let elapsed = start.elapsed();
    emulator.shutdown().await;
    let mut all = Latencies::default();
    for latencies in by_verb.values() {
        all.extend(latencies);
    }
    Ok(Throughput {
        requests: all.len(),
        elapsed,
        by_verb,
        all,
    })
}

/// Prints the figures of a run.
pub fn print(args: &ThroughputArgs, result: &Throughput) {
    println!(
        "emulator throughput: {} requests (create + get + label-selected list, concurrency {}) in {}: {:.0} req/s",
        result.requests,
        args.concurrency,
        stats::secs(result.elapsed),
        result.rate()
    );
    for (verb, latencies) in result
        .by_verb
        .iter()
        .map(|(v, l)| (*v, l))
        .chain([("all", &result.all)])
    {
        println!(
            "  {verb:<6} {:>6} requests  p50 {:>9}  p99 {:>9}",
            latencies.len(),
            stats::ms(latencies.percentile(50)),
            stats::ms(latencies.percentile(99)),
        );
    }
}

/// Rows of the summary table.
pub fn rows(result: &Throughput) -> Vec<Row> {
    vec![
        Row::aimed(
            "emulator: simple requests / s",
            format!("{:.0}", result.rate()),
            ">= 5000",
            result.rate() >= 5000.0,
        ),
        Row::plain(
            "emulator: p50 / p99 latency",
            format!(
                "{} / {}",
                stats::ms(result.all.percentile(50)),
                stats::ms(result.all.percentile(99))
            ),
        ),
    ]
}
