//! Leader election of `tiered run` against the emulator: two operator instances share
//! one Lease, only the holder reconciles (its metrics and its Events' reporting instance
//! say so), and when the holder stops the other takes the Lease over within the lease
//! duration and keeps the app converged. A second candidate's claim of a Lease the first
//! has just claimed is refused by the API server.

use crate::operator_tiered_app::{api_image, set_tiers};
use crate::support;

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::api::PostParams;
use kube::api::{Patch, PatchParams};
use kube_emulator::EmulatorHandle;
use serde_json::json;
use support::operator::{
    Instance, condition, emulator, events, eventually, http_get, launch, metric, test_config,
    two_tier_app,
};
use tiered::api::TieredApp;
use tiered::process::leader::{LeaderConfig, lease_field_manager};
use tiered::process::shutdown::StopReason;

const NS: &str = "shop";
const LEASE: &str = "tiered-operator";
const LEASE_NAMESPACE: &str = "default";
// The shipped timings (`LeaderConfig::new`: valid 15 s, renewed 10 s before expiry). With
// 8 s and 3 s, a renewal delayed 3 s by a loaded machine (four test threads on two cores)
// lost the Lease: the leader stopped and the test's next request to it was refused.
const DURATION_SECONDS: u64 = 15;
const RENEW_DEADLINE_SECONDS: u64 = 10;
const RECONCILES: &str = "tiered_reconcile_total{controller=\"tieredapp\"}";

async fn candidate(client: &kube::Client, identity: &str) -> Instance {
    candidate_with(client, identity, DURATION_SECONDS).await
}

async fn candidate_with(client: &kube::Client, identity: &str, duration_seconds: u64) -> Instance {
    let mut config = test_config(&[NS]);
    config.leader = Some(LeaderConfig {
        lease_name: LEASE.to_owned(),
        lease_namespace: LEASE_NAMESPACE.to_owned(),
        identity: identity.to_owned(),
        duration_seconds,
        renew_deadline_seconds: RENEW_DEADLINE_SECONDS,
    });
    launch(client.clone(), config).await
}

/// Starts the candidate `identity` (leases of `duration_seconds`) where no one else
/// leads, and waits until it holds the Lease and runs the controllers.
async fn leader_with(
    client: &kube::Client,
    leases: &Api<Lease>,
    identity: &str,
    duration_seconds: u64,
) -> Instance {
    let leader = candidate_with(client, identity, duration_seconds).await;
    until_held_by(leases, identity).await;
    until_leading(&leader, identity).await;
    leader
}

/// Starts the candidate `identity` (leases of `duration_seconds`) while another leads,
/// and waits until it is ready and stands by.
async fn standby_with(client: &kube::Client, identity: &str, duration_seconds: u64) -> Instance {
    let standby = candidate_with(client, identity, duration_seconds).await;
    until_standing_by(&standby, identity).await;
    standby
}

/// Stops `leader` and waits until `successor` holds the Lease; returns how long the
/// takeover took from the stop.
async fn stop_until_taken_over(leader: Instance, leases: &Api<Lease>, successor: &str) -> Duration {
    let stopped = Instant::now();
    leader.stop().await;
    until_held_by(leases, successor).await;
    stopped.elapsed()
}

/// A sandbox emulator (Deployments roll out) serving [`NS`], its client and the Leases
/// of the namespace that holds [`LEASE`]; keep the emulator for the test's length.
async fn sandbox_with_leases() -> (EmulatorHandle, kube::Client, Api<Lease>) {
    let emulator = emulator(&[NS], true).await;
    let client = emulator.client();
    let leases = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    (emulator, client, leases)
}

/// The body of the server-side apply (without force) with which a candidate claims
/// [`LEASE`] for `holder`, `duration_seconds` from now: what the previous release of
/// tiered (on kube-lease-manager) sent for a Lease it last read as free.
fn claim(holder: &str, duration_seconds: u64) -> serde_json::Value {
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "spec": {
            "acquireTime": now,
            "renewTime": now,
            "holderIdentity": holder,
            "leaseDurationSeconds": duration_seconds,
        },
    })
}

async fn holder(leases: &Api<Lease>) -> Option<String> {
    leases
        .get_opt(LEASE)
        .await
        .unwrap()?
        .spec?
        .holder_identity
        .filter(|h| !h.is_empty())
}

async fn reconciles(instance: &Instance) -> f64 {
    metric(&http_get(instance.http, "/metrics").await.1, RECONCILES)
}

/// `tiered_leader` of `instance`: 1 while it runs the controllers, else 0.
async fn leads(instance: &Instance) -> f64 {
    metric(
        &http_get(instance.http, "/metrics").await.1,
        "tiered_leader",
    )
}

/// Waits until the Lease names `identity` as its holder.
async fn until_held_by(leases: &Api<Lease>, identity: &str) {
    eventually(&format!("{identity} holds the Lease"), || async {
        holder(leases).await.as_deref() == Some(identity)
    })
    .await;
}

/// Whether `instance` runs the controllers: its `tiered_leader` is 1.
async fn is_leading(instance: &Instance) -> bool {
    (leads(instance).await - 1.0).abs() < f64::EPSILON
}

/// Waits until `instance` (`who`) runs the controllers.
async fn until_leading(instance: &Instance, who: &str) {
    eventually(&format!("{who} leads"), || async {
        is_leading(instance).await
    })
    .await;
}

/// Waits until `instance` (`who`) is ready and says it stands by.
async fn until_standing_by(instance: &Instance, who: &str) {
    eventually(&format!("{who} stands by"), || async {
        http_get(instance.http, "/readyz")
            .await
            .1
            .contains("Standby")
    })
    .await;
}

/// Edits the api tier's image and waits for its Deployment to follow.
async fn roll_new_api_image(client: &kube::Client, apps: &Api<TieredApp>) {
    let mut app = apps.get("newsread").await.unwrap();
    app.spec.tiers[1].image = "ghcr.io/acme/api:2.0.0".to_owned();
    set_tiers(apps, &app.spec.tiers).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    eventually("the new leader rolls the new image out", || async {
        api_image(&deployments).await.as_deref() == Some("ghcr.io/acme/api:2.0.0")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_lease_holder_reconciles_and_the_standby_takes_over_when_it_stops() {
    let (_emulator, client, leases) = sandbox_with_leases().await;
    let a = candidate(&client, "operator-a").await;
    let b = candidate(&client, "operator-b").await;
    // Roles are read once both candidates are ready and a holder is recorded: while both
    // start at once, who ends up holding the Lease is only settled then.
    eventually(
        "both candidates report ready and one holds the Lease",
        || async {
            http_get(a.http, "/readyz").await.0 == 200
                && http_get(b.http, "/readyz").await.0 == 200
                && holder(&leases).await.is_some()
        },
    )
    .await;
    let first = holder(&leases).await.unwrap();
    let (leader, standby, standby_identity) = if first == "operator-a" {
        (a, b, "operator-b")
    } else {
        (b, a, "operator-a")
    };
    let lease = leases.get(LEASE).await.unwrap().spec.unwrap();
    assert_eq!(
        lease.lease_duration_seconds,
        Some(i32::try_from(DURATION_SECONDS).unwrap())
    );
    until_standing_by(&standby, "the standby").await;

    let apps: Api<TieredApp> = Api::namespaced(client.clone(), NS);
    apps.create(&PostParams::default(), &two_tier_app(NS))
        .await
        .unwrap();
    eventually("the app is Ready", || async {
        condition(&apps.get("newsread").await.unwrap(), "Ready").is_some_and(|c| c.0 == "True")
    })
    .await;
    assert!(reconciles(&leader).await > 0.0, "the leader reconciles");
    assert!(is_leading(&leader).await, "the leader's tiered_leader is 1");
    assert!(
        leads(&standby).await.abs() < f64::EPSILON,
        "the standby's tiered_leader is 0"
    );
    assert!(
        reconciles(&standby).await.abs() < f64::EPSILON,
        "the standby never reconciles"
    );
    let reporters: Vec<Option<String>> = events(&client, NS)
        .await
        .into_iter()
        .map(|e| e.reporting_instance)
        .collect();
    assert!(!reporters.is_empty(), "the leader published Events");
    assert!(
        reporters
            .iter()
            .all(|r| r.as_deref() == Some(first.as_str())),
        "every Event comes from the leader {first}: {reporters:?}"
    );

    let takeover = stop_until_taken_over(leader, &leases, standby_identity).await;
    assert!(
        takeover <= Duration::from_secs(2 * DURATION_SECONDS),
        "taken over within the lease duration (plus one renewal period), took {takeover:?}"
    );

    roll_new_api_image(&client, &apps).await;
    eventually("the app is Ready again at the new generation", || async {
        let app = apps.get("newsread").await.unwrap();
        condition(&app, "Ready").is_some_and(|c| c.0 == "True")
            && app.status.as_ref().and_then(|s| s.observed_generation) == app.metadata.generation
    })
    .await;
    assert!(
        reconciles(&standby).await > 0.0,
        "the new leader reconciles"
    );
    assert!(
        is_leading(&standby).await,
        "the new leader's tiered_leader is 1"
    );
    standby.stop().await;
}

/// Found in CI: both candidates started at once, both claimed the free Lease, and both
/// led for a while (the first read itself back as the holder before the second's claim
/// landed), because both wrote under one field manager and the API server took the
/// later server-side apply without a conflict. Here candidate B's claim arrives while A
/// holds the Lease, as it does in that race, and must be refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_candidates_claim_of_a_lease_the_first_holds_is_refused() {
    let (_emulator, client, leases) = sandbox_with_leases().await;
    // A's `tiered_leader` follows its claim's response, which may land after the Lease
    // is readable (CI once read 0 here on a loaded machine): `leader_with` waits for both.
    let a = leader_with(&client, &leases, "operator-a", DURATION_SECONDS).await;
    // B's claim, under B's own field manager.
    let params = PatchParams {
        field_manager: Some(lease_field_manager("operator-b")),
        ..PatchParams::default()
    };
    let claim = claim("operator-b", DURATION_SECONDS);
    match leases.patch(LEASE, &params, &Patch::Apply(&claim)).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 409, "{status:?}"),
        other => panic!("operator-b's claim must be refused as a conflict, got {other:?}"),
    }
    assert_eq!(holder(&leases).await.as_deref(), Some("operator-a"));
    assert!(is_leading(&a).await, "operator-a still leads");
    a.stop().await;
}

/// A leader that died without releasing the Lease, written by the previous release (one
/// field manager shared by every candidate): once the hold runs out, a candidate of this
/// release takes it over. Its forced release empties `holderIdentity`, which takes the
/// field from every manager, so its own claim under its own manager does not conflict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_left_by_a_dead_leader_of_the_previous_release_is_taken_over_when_it_expires() {
    let (_emulator, client, leases) = sandbox_with_leases().await;
    // The dead leader's claim, which also creates the Lease (so it names it).
    let mut dead = claim("operator-gone", 3);
    dead["metadata"] = json!({ "name": LEASE });
    leases
        .patch(
            LEASE,
            &PatchParams::apply("tiered-leader-election"),
            &Patch::Apply(&dead),
        )
        .await
        .unwrap();
    let started = Instant::now();
    let b = candidate(&client, "operator-b").await;
    until_held_by(&leases, "operator-b").await;
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "not before the dead leader's hold ran out"
    );
    until_leading(&b, "operator-b").await;
    b.stop().await;
}

/// A clean stop (a rolling update of the operator) releases the Lease, and the standby
/// takes it over within a few seconds, not at the expiry it last read: with a 60 s lease
/// it slept for up to a minute (about 9 s with the shipped 15 s) with no one leading.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_takes_a_released_lease_over_within_seconds_not_at_its_expiry() {
    let (_emulator, client, leases) = sandbox_with_leases().await;
    let a = leader_with(&client, &leases, "operator-a", 60).await;
    let b = standby_with(&client, "operator-b", 60).await;
    let takeover = stop_until_taken_over(a, &leases, "operator-b").await;
    assert!(
        takeover <= Duration::from_secs(10),
        "taken over within a few standby polls (2 s each), took {takeover:?}"
    );
    until_leading(&b, "operator-b").await;
    b.stop().await;
}

/// Found by trying a long `POD_NAME` (a pod name may have 253 characters): the identity
/// (`<POD_NAME>-<pid>`) is each Event's `reportingInstance`, which the API server caps at
/// 128 bytes, so every Event of that leader was refused (422) and only logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_with_a_long_pod_name_still_publishes_its_events() {
    let (_emulator, client, leases) = sandbox_with_leases().await;
    let identity = format!("tiered-operator-{}-1", "x".repeat(200));
    let leader = leader_with(&client, &leases, &identity, DURATION_SECONDS).await;
    let apps: Api<TieredApp> = Api::namespaced(client.clone(), NS);
    apps.create(&PostParams::default(), &two_tier_app(NS))
        .await
        .unwrap();
    eventually("the leader publishes Events", || async {
        !events(&client, NS).await.is_empty()
    })
    .await;
    for event in events(&client, NS).await {
        let instance = event.reporting_instance.unwrap_or_default();
        assert!(instance.len() <= 128, "{instance}");
        assert!(instance.starts_with("tiered-operator-xxx"), "{instance}");
    }
    leader.stop().await;
}

/// Found by deleting the Lease by hand while a leader held it: the leader stopped (it no
/// longer holds anything), and the standby never led, because `kube-lease-manager`
/// creates the Lease only when a candidate starts; no one led until a process restarted.
/// The standby now creates and claims it once it has been absent for a lease duration,
/// by which time the old leader has read the Lease and stopped (never two leaders).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_deleted_by_hand_is_recreated_and_claimed_by_the_standby() {
    let (_emulator, client, leases) = sandbox_with_leases().await;
    let a = leader_with(&client, &leases, "operator-a", DURATION_SECONDS).await;
    let b = standby_with(&client, "operator-b", DURATION_SECONDS).await;
    leases
        .delete(LEASE, &kube::api::DeleteParams::default())
        .await
        .unwrap();
    let deleted = Instant::now();
    eventually("operator-a stops: it no longer holds the Lease", || async {
        a.task.is_finished()
    })
    .await;
    assert!(
        matches!(
            a.task.await.unwrap(),
            Err(tiered::process::run::RunError::LeaseLost)
        ),
        "operator-a exits as having lost the Lease"
    );
    let stopped = deleted.elapsed();
    eventually(
        "operator-b creates the Lease again and holds it",
        || async { holder(&leases).await.as_deref() == Some("operator-b") },
    )
    .await;
    let takeover = deleted.elapsed();
    let duration = Duration::from_secs(DURATION_SECONDS);
    assert!(
        stopped < Duration::from_secs(5) && takeover >= duration,
        "operator-a stops at its next renewal, not at its renew deadline ({stopped:?}), \
         operator-b claims a lease duration after the deletion, not before ({takeover:?})"
    );
    until_leading(&b, "operator-b").await;
    b.stop().await;
}

/// Found in session 14 with the binary: with the API server frozen (SIGSTOP), a SIGTERM
/// left `tiered run` waiting on the release of its Lease for over 120 s, until the
/// kubelet's SIGKILL; and, once the leader's stop was bounded, a trial found a standby
/// still waiting on its Lease request after 600 s. A stop of either now ends within
/// `graceful_shutdown_timeout` (5 s here); the Lease runs out on its own.
#[tokio::test]
async fn a_stop_ends_in_time_for_the_leader_and_a_standby_when_the_api_server_is_silent() {
    let (emulator, client, leases) = sandbox_with_leases().await;
    let leader = leader_with(&client, &leases, "operator-a", DURATION_SECONDS).await;
    let standby = standby_with(&client, "operator-b", DURATION_SECONDS).await;

    emulator
        .faults()
        .add_latency(kube_emulator::Matcher::any(), Duration::from_mins(10));
    let asked = Instant::now();
    for (who, instance) in [("the leader", leader), ("the standby", standby)] {
        instance.shutdown.trigger(StopReason::Signal);
        let stopped = tokio::time::timeout(Duration::from_mins(1), instance.task)
            .await
            .unwrap_or_else(|_| {
                panic!("{who}'s stop ends although the API server does not answer")
            });
        stopped.unwrap().unwrap();
    }
    let took = asked.elapsed();
    assert!(
        took >= Duration::from_secs(4) && took < Duration::from_secs(40),
        "each waited up to the timeout, then gave up: {took:?}"
    );
}
