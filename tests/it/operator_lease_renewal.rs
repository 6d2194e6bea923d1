//! A leader whose Lease renewals fail stops leading before the Lease can pass to
//! another replica: kube-lease-manager retries a failed renewal for ever and keeps
//! reporting this process as the holder, so without a check of its own a leader cut off
//! from the API server went on reconciling (and calling AWS) next to the replica that
//! took the expired Lease over.

use crate::support;

use std::time::{Duration, Instant};

use kube_emulator::Matcher;
use support::operator::{emulator, eventually, http_get, launch, test_config};
use tiered::process::leader::LeaderConfig;
use tiered::process::run::RunError;

const NS: &str = "shop";
const DURATION_SECONDS: u64 = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_cannot_renew_its_lease_stops_within_the_lease_duration() {
    let emulator = emulator(&[NS], true).await;
    let mut config = test_config(&[NS]);
    config.leader = Some(LeaderConfig {
        lease_name: "tiered-operator".to_owned(),
        lease_namespace: "default".to_owned(),
        identity: "operator-a".to_owned(),
        duration_seconds: DURATION_SECONDS,
        grace_seconds: 2,
    });
    let leader = launch(emulator.client(), config).await;
    eventually("the operator leads", || async {
        http_get(leader.http, "/readyz").await.1.contains("Leading")
    })
    .await;
    // Renewals (server-side apply or strategic merge patches of the Lease) now fail;
    // reads still work, so the stored Lease shows the hold running out.
    emulator
        .faults()
        .fail(Matcher::on("patch", "leases"), 500, usize::MAX);
    let failing = Instant::now();
    let ended = tokio::time::timeout(Duration::from_secs(4 * DURATION_SECONDS), leader.task)
        .await
        .expect("the leader stops once it cannot renew its Lease")
        .unwrap();
    assert!(
        matches!(ended, Err(RunError::LeaseLost)),
        "it stops as a lost lease (exit status, restart by the kubelet): {ended:?}"
    );
    assert!(
        failing.elapsed() <= Duration::from_secs(2 * DURATION_SECONDS),
        "within about a lease duration of the first failed renewal: {:?}",
        failing.elapsed()
    );
}
