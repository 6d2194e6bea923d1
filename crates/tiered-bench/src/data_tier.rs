//! Data-tier scale: N ManagedDatabases and M CacheClusters against moto_server, with
//! `tiered run` as its own process and the `aws-faults` proxy (no rules: it only
//! records) between the operator and moto. Measures the time until every object is
//! Ready, the AWS describe calls per resync in an idle window (aim: the fleet reads, one
//! page per 100 resources: instances, replication groups and their cache clusters), the mutating AWS calls and the Kubernetes writes in that
//! window (aim: 0 and 0), and the operator's peak RSS.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use aws_faults::{Call, Proxy};
use kube::Api;
use kube::api::{DynamicObject, ListParams, PostParams};
use serde_json::{Value, json};
use tiered::cli::run::parse_duration;

use crate::BenchResult;
use crate::chaos::fleet::{Kind, State, state_of};
use crate::operator_process::{Memory, OperatorProcess};
use crate::stats::{self, Row};
use crate::tasks;
use crate::workload::{self, NAMESPACE};

/// Flags of the data-tier run.
#[derive(Debug, Clone, clap::Args)]
pub struct DataTierArgs {
    /// moto_server's endpoint (`scripts/bench.sh data-tier` starts one).
    #[arg(long, env = "MOTO_ENDPOINT")]
    pub moto_endpoint: String,
    /// ManagedDatabases to create (no read replica each).
    #[arg(long, default_value_t = 1000)]
    pub databases: usize,
    /// CacheClusters to create (one shard, one replica each).
    #[arg(long, default_value_t = 300)]
    pub caches: usize,
    /// Operator reconcile concurrency, and the benchmark's create tasks.
    #[arg(long, default_value_t = 4)]
    pub concurrency: u16,
    /// The operator's `--resync` (also the window of its shared fleet read).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub resync: Duration,
    /// Length of the idle window counted for AWS calls and Kubernetes writes (the issue
    /// asks for 10 minutes).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub idle: Duration,
    /// Wait between "every object is Ready" and the idle window.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub settle: Duration,
    /// Give up when the objects are not all Ready within this long.
    #[arg(long, default_value = "30m", value_parser = parse_duration)]
    pub timeout: Duration,
    /// The `tiered` binary to run (default: next to this one).
    #[arg(long)]
    pub tiered_bin: Option<PathBuf>,
}

/// What the run measured.
#[derive(Debug)]
pub struct DataTier {
    /// Databases created.
    pub databases: usize,
    /// Caches created.
    pub caches: usize,
    /// Time from the first create until every object was Ready.
    pub ready: Duration,
    /// AWS calls from the first create until every object was Ready, by action.
    pub converge_calls: BTreeMap<String, usize>,
    /// Length of the idle window.
    pub idle: Duration,
    /// The operator's resync.
    pub resync: Duration,
    /// AWS calls in the idle window, by action; fleet-wide reads (naming no resource)
    /// and reads of one resource apart.
    pub idle_calls: Vec<Call>,
    /// Kubernetes writes in the idle window, by verb and resource.
    pub idle_writes: BTreeMap<String, usize>,
    /// Kubernetes reads in the idle window.
    pub idle_reads: usize,
    /// The operator's memory at the end.
    pub memory: Memory,
    /// CPU the operator used from its start to the end of the idle window.
    pub cpu: Duration,
}

impl DataTier {
    /// Resync periods in the idle window.
    pub fn resyncs(&self) -> f64 {
        self.idle.as_secs_f64() / self.resync.as_secs_f64().max(f64::EPSILON)
    }

    /// Describe/List calls of the idle window per resync.
    pub fn describes_per_resync(&self) -> f64 {
        self.idle_calls.iter().filter(|c| !c.is_mutating()).count() as f64 / self.resyncs()
    }

    /// The aim: the fleet reads, one page per 100 resources, once per resync: the DB
    /// instances, the replication groups, and the groups' cache clusters (each cache
    /// here has one shard of a primary and a replica: [`NODES_PER_CACHE`]), whose first
    /// member reports the engine version, maintenance window and parameter group.
    pub fn describe_aim(&self) -> usize {
        self.databases.div_ceil(100)
            + self.caches.div_ceil(100)
            + (self.caches * NODES_PER_CACHE).div_ceil(100)
    }

    /// Mutating AWS calls in the idle window.
    pub fn idle_mutating(&self) -> usize {
        self.idle_calls.iter().filter(|c| c.is_mutating()).count()
    }
}

/// Cache clusters (nodes) of each CacheCluster of the run: one shard, a primary and
/// one replica.
pub const NODES_PER_CACHE: usize = 2;

/// A tiered object of `kind` named `name` in the bench namespace.
fn object(kind: &str, name: &str, spec: &Value) -> Value {
    json!({
        "apiVersion": "tiered.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": spec,
    })
}

fn database(index: usize) -> Value {
    object(
        "ManagedDatabase",
        &format!("db-{index}"),
        &json!({
            "engine": "postgres",
            "engineVersion": "16.4",
            "instanceClass": "db.t4g.micro",
            "storage": {"allocatedGiB": 20, "type": "gp3"},
            "databaseName": "app",
            "masterUsername": "app",
            "backup": {"retentionDays": 1},
            "applyImmediately": true,
            "deletionPolicy": "Delete",
            "deletionProtection": false,
            "tags": {"team": "bench"}
        }),
    )
}

fn cache(index: usize) -> Value {
    object(
        "CacheCluster",
        &format!("cache-{index}"),
        &json!({
            "engine": "valkey",
            "engineVersion": "8.0",
            "nodeType": "cache.t4g.micro",
            "replicasPerShard": 1,
            "shards": 1,
            "automaticFailover": true,
            "multiAZ": true,
            "transitEncryption": true,
            "applyImmediately": true,
            "deletionPolicy": "Delete",
            "tags": {"team": "bench"}
        }),
    )
}

/// Creates the databases, then the caches, over `concurrency` tasks.
async fn create_all(client: &kube::Client, args: &DataTierArgs) -> BenchResult<()> {
    let databases = args.databases;
    let client = client.clone();
    tasks::for_each_index(
        args.databases + args.caches,
        usize::from(args.concurrency),
        move |index| {
            let client = client.clone();
            async move {
                let (kind, manifest) = if index < databases {
                    (Kind::Database, database(index))
                } else {
                    (Kind::Cache, cache(index - databases))
                };
                let object: DynamicObject = serde_json::from_value(manifest)?;
                let api: Api<DynamicObject> =
                    Api::namespaced_with(client, NAMESPACE, &kind.resource());
                api.create(&PostParams::default(), &object).await?;
                Ok(())
            }
        },
    )
    .await
}

/// Ready objects of `kind` in the namespace.
async fn ready_count(client: &kube::Client, kind: Kind) -> BenchResult<usize> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), NAMESPACE, &kind.resource());
    Ok(api
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .filter(|object| state_of(object) == State::Ready)
        .count())
}

/// Waits until every database and cache is Ready; the time it took from `start`.
async fn until_ready(
    client: &kube::Client,
    args: &DataTierArgs,
    start: Instant,
) -> BenchResult<Duration> {
    let mut last_print = Instant::now();
    loop {
        let databases = ready_count(client, Kind::Database).await?;
        let caches = ready_count(client, Kind::Cache).await?;
        if databases >= args.databases && caches >= args.caches {
            return Ok(start.elapsed());
        }
        if start.elapsed() > args.timeout {
            return Err(format!(
                "only {databases} databases and {caches} caches are Ready after {:?}",
                args.timeout
            )
            .into());
        }
        if last_print.elapsed() > Duration::from_secs(30) {
            println!(
                "  {}: {databases} databases and {caches} caches Ready",
                stats::secs(start.elapsed())
            );
            last_print = Instant::now();
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Counts calls by action.
fn by_action<'a>(calls: impl Iterator<Item = &'a Call>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for call in calls {
        *counts.entry(call.action.clone()).or_insert(0) += 1;
    }
    counts
}

/// Runs the data-tier benchmark.
pub async fn run(args: &DataTierArgs) -> BenchResult<DataTier> {
    let proxy = Proxy::start(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        &args.moto_endpoint,
        Vec::new(),
        1,
    )
    .await?;
    let endpoint = proxy.endpoint();
    let (emulator, operator) = OperatorProcess::start_with_emulator(
        args.tiered_bin.as_deref(),
        args.concurrency,
        args.resync,
        &[("AWS_ENDPOINT_URL", &endpoint)],
    )
    .await?;
    let client = emulator.client();

    let start = Instant::now();
    create_all(&client, args).await?;
    let ready = until_ready(&client, args, start).await?;
    let converge_calls = by_action(proxy.calls().all().iter());
    println!(
        "  every object Ready after {}; settling {}, then {} idle",
        stats::secs(ready),
        stats::secs(args.settle),
        stats::secs(args.idle)
    );
    tokio::time::sleep(args.settle).await;

    proxy.calls().clear();
    let idle_start = Instant::now();
    tokio::time::sleep(args.idle).await;
    let idle_calls = proxy.calls().all();
    let memory = operator.memory()?;
    let cpu = operator.cpu()?;
    let log = emulator.requests().since(idle_start);
    let idle_writes = workload::breakdown(log.iter().filter(|r| r.is_write()));
    let idle_reads = log.iter().filter(|r| !r.is_write()).count();
    let stopped = operator.stop().await;
    emulator.shutdown().await;
    drop(proxy);
    stopped?;
    Ok(DataTier {
        databases: args.databases,
        caches: args.caches,
        ready,
        converge_calls,
        idle: args.idle,
        resync: args.resync,
        idle_calls,
        idle_writes,
        idle_reads,
        memory,
        cpu,
    })
}

/// Prints the figures of a run.
pub fn print(args: &DataTierArgs, result: &DataTier) {
    println!(
        "data tier: {} ManagedDatabases + {} CacheClusters against moto_server, concurrency {}, resync {}",
        result.databases,
        result.caches,
        args.concurrency,
        stats::secs(result.resync)
    );
    println!(
        "  every object Ready after           {}",
        stats::secs(result.ready)
    );
    println!(
        "  AWS calls until then               {}",
        result.converge_calls.values().sum::<usize>()
    );
    for (action, count) in &result.converge_calls {
        println!("    {action:<40} {count:>7}");
    }
    println!(
        "  idle window {} ({:.1} resyncs):",
        stats::secs(result.idle),
        result.resyncs()
    );
    println!(
        "    AWS describe calls per resync    {:.1} (aim: at most {}, one page per 100 instances, groups, cache nodes)",
        result.describes_per_resync(),
        result.describe_aim()
    );
    let fleet_wide = result
        .idle_calls
        .iter()
        .filter(|c| !c.is_mutating() && c.resource.is_empty());
    let per_object = result
        .idle_calls
        .iter()
        .filter(|c| !c.is_mutating() && !c.resource.is_empty());
    for (action, count) in by_action(fleet_wide) {
        println!("      {action:<38} {count:>7}  fleet-wide (pages)");
    }
    for (action, count) in by_action(per_object) {
        println!("      {action:<38} {count:>7}  naming one resource");
    }
    println!(
        "    AWS mutating calls               {}",
        result.idle_mutating()
    );
    for (action, count) in by_action(result.idle_calls.iter().filter(|c| c.is_mutating())) {
        println!("      {action:<38} {count:>7}");
    }
    println!(
        "    Kubernetes writes                {} ({} reads)",
        result.idle_writes.values().sum::<usize>(),
        result.idle_reads
    );
    for (what, count) in &result.idle_writes {
        println!("      {what:<38} {count:>7}");
    }
    println!(
        "  operator CPU {}; {}",
        stats::secs(result.cpu),
        result.memory
    );
}

/// Rows of the summary table.
pub fn rows(result: &DataTier) -> Vec<Row> {
    let idle = stats::secs(result.idle);
    let writes: usize = result.idle_writes.values().sum();
    let describes = result.describes_per_resync();
    vec![
        Row::plain(
            &format!(
                "data tier: {} databases + {} caches, all Ready",
                result.databases, result.caches
            ),
            stats::secs(result.ready),
        ),
        Row::aimed(
            "data tier: AWS describe calls per resync",
            format!("{describes:.1}"),
            &format!("<= {}", result.describe_aim()),
            describes <= result.describe_aim() as f64,
        ),
        Row::aimed(
            &format!("data tier: AWS mutating calls in {idle} idle"),
            result.idle_mutating().to_string(),
            "0",
            result.idle_mutating() == 0,
        ),
        Row::aimed(
            &format!("data tier: Kubernetes writes in {idle} idle"),
            writes.to_string(),
            "0",
            writes == 0,
        ),
        Row::plain(
            "data tier: operator peak RSS",
            format!("{:.1} MiB", result.memory.peak_mib()),
        ),
    ]
}
