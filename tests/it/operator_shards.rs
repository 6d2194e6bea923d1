//! Horizontal sharding (`--watch-label-selector`, issue 12 part 3): two shards of
//! `tiered run` over one emulator, each with its own Lease, reconcile exactly the
//! objects their selector picks (their Events' reporting instance says who did the
//! work); when a shard's leader stops, its standby takes that shard over and the other
//! shard never touches its objects. A selector the API server refuses stops the process
//! at start, naming the flag.

use crate::operator_tiered_app::names;
use crate::support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use support::operator::{
    Instance, condition, emulator, events, eventually, http_get, launch, test_config, two_tier_app,
};
use tiered::api::TieredApp;
use tiered::process::leader::LeaderConfig;
use tiered::process::run::RunError;

const NS: &str = "shop";
const SHARD_LABEL: &str = "tiered.io/shard";

/// An operator of shard `shard` (selector `tiered.io/shard=<shard>`, Lease
/// `tiered-operator-<shard>`) reporting as `identity`.
async fn shard_member(client: &kube::Client, shard: &str, identity: &str) -> Instance {
    let mut config = test_config(&[NS]);
    config.watch_label_selector = Some(format!("{SHARD_LABEL}={shard}"));
    config.leader = Some(LeaderConfig {
        lease_name: format!("tiered-operator-{shard}"),
        lease_namespace: "default".to_owned(),
        identity: identity.to_owned(),
        // The shipped timings: with 8 s renewed 3 s before expiry, a renewal delayed
        // on a loaded machine lost the Lease.
        duration_seconds: 15,
        renew_deadline_seconds: 10,
    });
    launch(client.clone(), config).await
}

/// The two-tier app named `name`, labelled for `shard`.
fn app_of_shard(name: &str, shard: &str) -> TieredApp {
    let mut app = two_tier_app(NS);
    app.metadata.name = Some(name.to_owned());
    app.metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert(SHARD_LABEL.to_owned(), shard.to_owned());
    app
}

/// The reporting instances of the Events about the object named `name`.
async fn reporters(client: &kube::Client, name: &str) -> Vec<String> {
    events(client, NS)
        .await
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .filter_map(|e| e.reporting_instance)
        .collect()
}

async fn holder(leases: &Api<Lease>, shard: &str) -> Option<String> {
    leases
        .get_opt(&format!("tiered-operator-{shard}"))
        .await
        .unwrap()?
        .spec?
        .holder_identity
        .filter(|h| !h.is_empty())
}

async fn is_ready_at_generation(apps: &Api<TieredApp>, name: &str) -> bool {
    let app = apps.get(name).await.unwrap();
    condition(&app, "Ready").is_some_and(|c| c.0 == "True")
        && app.status.as_ref().and_then(|s| s.observed_generation) == app.metadata.generation
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_object_is_reconciled_by_its_shard_only_and_a_standby_takes_its_shard_over() {
    let emulator = emulator(&[NS], true).await;
    let client = emulator.client();
    let blue_0 = shard_member(&client, "blue", "blue-0").await;
    let green = shard_member(&client, "green", "green-0").await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), "default");
    eventually("both shards hold their own Lease", || async {
        holder(&leases, "blue").await.as_deref() == Some("blue-0")
            && holder(&leases, "green").await.as_deref() == Some("green-0")
    })
    .await;
    // The standby of the blue shard joins once blue-0 leads, so the roles are known.
    let blue_1 = shard_member(&client, "blue", "blue-1").await;
    eventually("the blue standby says it stands by", || async {
        http_get(blue_1.http, "/readyz").await.1.contains("Standby")
    })
    .await;

    let apps: Api<TieredApp> = Api::namespaced(client.clone(), NS);
    for (name, shard) in [("blue-app", "blue"), ("green-app", "green")] {
        apps.create(&PostParams::default(), &app_of_shard(name, shard))
            .await
            .unwrap();
    }
    // An object no shard selects is left alone by both.
    let mut stray = two_tier_app(NS);
    stray.metadata.name = Some("unsharded".to_owned());
    apps.create(&PostParams::default(), &stray).await.unwrap();

    eventually("both sharded apps are Ready", || async {
        is_ready_at_generation(&apps, "blue-app").await
            && is_ready_at_generation(&apps, "green-app").await
    })
    .await;
    let blue_reporters = reporters(&client, "blue-app").await;
    let green_reporters = reporters(&client, "green-app").await;
    assert!(!blue_reporters.is_empty() && !green_reporters.is_empty());
    assert!(
        blue_reporters.iter().all(|r| r == "blue-0"),
        "only the blue leader reports on blue-app: {blue_reporters:?}"
    );
    assert!(
        green_reporters.iter().all(|r| r == "green-0"),
        "only the green leader reports on green-app: {green_reporters:?}"
    );
    let unsharded = apps.get("unsharded").await.unwrap();
    assert!(
        unsharded.status.is_none(),
        "no shard writes the status of an object it does not select: {:?}",
        unsharded.status
    );
    assert!(reporters(&client, "unsharded").await.is_empty());
    let names = names::<Deployment>(&client).await;
    assert!(
        names.iter().all(|n| !n.starts_with("unsharded")),
        "no children for the unselected app: {names:?}"
    );

    // The blue leader stops: its standby takes the blue shard over; green carries on.
    blue_0.stop().await;
    eventually("blue-1 holds the blue Lease", || async {
        holder(&leases, "blue").await.as_deref() == Some("blue-1")
    })
    .await;
    let image = serde_json::json!({"spec": {"tiers": [
        {"name": "web", "role": "presentation", "image": "ghcr.io/acme/web:1.0.0", "port": 8080,
         "replicas": 2, "healthCheck": {"path": "/health"}, "ingress": {"host": "news.example.com"},
         "calls": ["api"]},
        {"name": "api", "role": "application", "image": "ghcr.io/acme/api:2.0.0", "port": 5000,
         "replicas": 2}
    ]}});
    apps.patch("blue-app", &PatchParams::default(), &Patch::Merge(&image))
        .await
        .unwrap();
    eventually("the blue app is Ready at its new generation", || async {
        is_ready_at_generation(&apps, "blue-app").await
    })
    .await;
    let after = reporters(&client, "blue-app").await;
    assert!(
        after.iter().any(|r| r == "blue-1"),
        "the new blue leader reconciled blue-app: {after:?}"
    );
    assert!(
        after.iter().all(|r| r.starts_with("blue-")),
        "the green shard never touches blue-app: {after:?}"
    );
    assert!(
        reporters(&client, "green-app")
            .await
            .iter()
            .all(|r| r == "green-0")
    );
    blue_1.stop().await;
    green.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_selector_the_api_server_refuses_stops_the_process_naming_the_flag() {
    let emulator = emulator(&[NS], true).await;
    let mut config = test_config(&[NS]);
    config.watch_label_selector = Some("tiered.io/shard in (blue".to_owned());
    let instance = launch(emulator.client(), config).await;
    let result = tokio::time::timeout(std::time::Duration::from_secs(10), instance.task)
        .await
        .expect("the process stops at once")
        .unwrap();
    let error = result.expect_err("a refused selector is an error");
    assert!(matches!(error, RunError::LabelSelector { .. }), "{error:?}");
    assert!(
        error.to_string().contains("--watch-label-selector"),
        "{error}"
    );
}
