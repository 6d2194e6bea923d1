//! AWS failing must never make a loop (issue 10, part 3): the operator in-process on the
//! emulator, its AWS the `aws-faults` proxy in front of moto, which throttles, fails and
//! loses responses (AWS acted, the client saw a 500) by action and rate with a fixed
//! seed. The tests count the calls the proxy saw per object; they never time anything.
//! The two `measure_*` runs print the figures of the issue (calls per object over 25 s
//! with every replica create lost; a mixed fleet under 5% lost among 20% throttled or
//! failed calls): `cargo test -p tiered --test it aws_faults::measure -- --ignored --nocapture`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use aws_faults::Rule;
use serde_json::json;
use tiered::controllers::cache_cluster::ElastiCache;
use tiered::controllers::managed_database::Rds;

use crate::support::faults::{Faulty, aws_id, start};

/// The production default resync (`--resync 5m`).
const RESYNC: Duration = Duration::from_mins(5);

fn rule(text: &str) -> Rule {
    Rule::parse(text).unwrap()
}

/// What the proxy saw of the object whose AWS id is `id`, as one line.
fn figures(f: &Faulty, name: &str, id: &str) -> String {
    let calls = f.proxy.calls();
    format!(
        "{name} ({id}): {:?}; most mutating calls in any minute: {}",
        calls.by_action(id),
        calls.most_mutating_per_minute(id)
    )
}

#[tokio::test]
#[ignore = "measurement: prints AWS calls per object; run with --ignored --nocapture"]
async fn measure_every_read_replica_response_lost() {
    let f = start(vec![rule("CreateDBInstanceReadReplica:lose=1")], 1, RESYNC).await;
    f.create::<Rds>("db", &json!({"highAvailability": {"readReplicas": 1}}))
        .await;
    tokio::time::sleep(Duration::from_secs(25)).await;
    let id = aws_id::<Rds>("db");
    println!("every CreateDBInstanceReadReplica response lost, 25 s, resync 5m:");
    println!("  {}", figures(&f, "db", &id));
    println!("  instances in moto: {:?}", f.instances(&id).await);
    println!("  Ready: {:?}", f.ready_condition::<Rds>("db").await);
}

#[tokio::test]
#[ignore = "measurement: prints AWS calls per object; run with --ignored --nocapture"]
async fn measure_lost_among_throttled_and_failed_calls() {
    let f = start(
        vec![rule("*:throttle=0.1,fail=0.1,lose=0.05")],
        7,
        RESYNC,
    )
    .await;
    let databases: Vec<String> = (1..=6).map(|n| format!("db-{n}")).collect();
    let caches: Vec<String> = (1..=3).map(|n| format!("cache-{n}")).collect();
    for (n, name) in databases.iter().enumerate() {
        let replicas = n % 3; // 0, 1, 2 replicas
        f.create::<Rds>(name, &json!({"highAvailability": {"readReplicas": replicas}}))
            .await;
    }
    for name in &caches {
        f.create::<ElastiCache>(name, &json!({})).await;
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs(90);
    let mut ready_at: Vec<Option<Duration>> = vec![None; databases.len() + caches.len()];
    while Instant::now() < deadline && ready_at.iter().any(Option::is_none) {
        for (n, name) in databases.iter().enumerate() {
            if ready_at[n].is_none() && f.is_ready::<Rds>(name).await {
                ready_at[n] = Some(started.elapsed());
            }
        }
        for (n, name) in caches.iter().enumerate() {
            let n = databases.len() + n;
            if ready_at[n].is_none() && f.is_ready::<ElastiCache>(name).await {
                ready_at[n] = Some(started.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    println!("5% lost among 20% throttled or failed calls (seed 7), resync 5m, 90 s at most:");
    for (n, name) in databases.iter().enumerate() {
        let id = aws_id::<Rds>(name);
        println!("  {}", figures(&f, name, &id));
        println!(
            "    Ready after {:?}; instances {:?}",
            ready_at[n],
            f.instances(&id).await
        );
    }
    for (n, name) in caches.iter().enumerate() {
        let id = aws_id::<ElastiCache>(name);
        println!("  {}", figures(&f, name, &id));
        println!(
            "    Ready after {:?}; groups {:?}",
            ready_at[databases.len() + n],
            f.groups(&id).await
        );
    }
}
