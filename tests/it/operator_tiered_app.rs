//! The TieredApp controller against the in-process emulator: children, edits, pruning,
//! status, invalid specs, faults, garbage collection and zero writes when converged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use kube_emulator::Matcher;
use serde_json::json;
use support::operator::{
    Running, condition, eventually, eventually_condition, http_get, metric, start, two_tier_app,
    writes_since,
};
use tiered::api::TieredApp;
use tiered::api::tiered_app::{Tier, TierRole};
use tiered::controllers::tiered_app::build::Child;

const NS: &str = "shop";

/// Deletes the app `newsread` and waits until garbage collection has taken its
/// Deployments.
pub(crate) async fn delete_app_until_collected(op: &Running, apps: &Api<TieredApp>, what: &str) {
    apps.delete("newsread", &DeleteParams::default())
        .await
        .unwrap();
    eventually(what, || async {
        op.emulator.collect_garbage();
        names::<Deployment>(&op.client).await.is_empty()
    })
    .await;
}

/// The sorted names of the objects of kind `K` in the namespace `shop`.
pub(crate) async fn names<K: Child>(client: &kube::Client) -> Vec<String> {
    let api: Api<K> = Api::namespaced(client.clone(), NS);
    let mut names: Vec<String> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    names.sort();
    names
}

pub(crate) async fn mark_deployments_available(client: &kube::Client) {
    let api: Api<Deployment> = Api::namespaced(client.clone(), NS);
    for deployment in api.list(&ListParams::default()).await.unwrap() {
        let replicas = deployment
            .spec
            .as_ref()
            .and_then(|s| s.replicas)
            .unwrap_or(1);
        let status = json!({"status": {"observedGeneration": deployment.metadata.generation, "replicas": replicas,
            "readyReplicas": replicas, "updatedReplicas": replicas, "availableReplicas": replicas}});
        api.patch_status(
            &deployment.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&status),
        )
        .await
        .unwrap();
    }
}

/// The operator with `app` created; returns the operator, the TieredApp API and the
/// app as created.
async fn start_with(app: &TieredApp) -> (Running, Api<TieredApp>, TieredApp) {
    let op = start(&[NS]).await;
    let apps: Api<TieredApp> = Api::namespaced(op.client.clone(), NS);
    let app = apps.create(&PostParams::default(), app).await.unwrap();
    (op, apps, app)
}

/// The operator with the two-tier app `newsread` created and both its Deployments
/// applied; returns the operator, the TieredApp API and the created app.
async fn start_with_two_tier_app() -> (Running, Api<TieredApp>, TieredApp) {
    let (op, apps, app) = start_with(&two_tier_app(NS)).await;
    eventually("both Deployments exist", || async {
        names::<Deployment>(&op.client).await.len() == 2
    })
    .await;
    (op, apps, app)
}

/// Replaces the tiers of the app `newsread` (a merge patch, as `kubectl edit` sends).
pub(crate) async fn set_tiers(apps: &Api<TieredApp>, tiers: &[Tier]) {
    apps.patch(
        "newsread",
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": {"tiers": tiers}})),
    )
    .await
    .unwrap();
}

/// The image of the api tier's Deployment `newsread-api`.
pub(crate) async fn api_image(deployments: &Api<Deployment>) -> Option<String> {
    let deployment = deployments.get("newsread-api").await.unwrap();
    deployment.spec?.template.spec?.containers[0].image.clone()
}

#[tokio::test]
async fn creating_an_app_creates_every_child_with_owner_labels_and_conditions() {
    let (op, apps, app) = start_with_two_tier_app().await;
    let uid = app.uid().unwrap();
    eventually("every child kind exists", || async {
        names::<Service>(&op.client).await == ["newsread-api", "newsread-web"]
            && names::<PodDisruptionBudget>(&op.client).await.len() == 2
            && names::<NetworkPolicy>(&op.client).await.len() == 2
            && names::<Ingress>(&op.client).await == ["newsread-web"]
    })
    .await;
    let deployments: Api<Deployment> = Api::namespaced(op.client.clone(), NS);
    let web = deployments.get("newsread-web").await.unwrap();
    let owner = &web.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
        ("TieredApp", uid.as_str(), Some(true))
    );
    assert_eq!(
        web.labels()
            .get("app.kubernetes.io/instance")
            .map(String::as_str),
        Some("newsread")
    );
    assert_eq!(
        web.labels()
            .get("app.kubernetes.io/managed-by")
            .map(String::as_str),
        Some("tiered")
    );
    eventually("Ready, Reconciling and Stalled are written", || async {
        let app = apps.get("newsread").await.unwrap();
        ["Ready", "Reconciling", "Stalled"]
            .iter()
            .all(|t| condition(&app, t).is_some())
            && app.status.as_ref().and_then(|s| s.observed_generation) == app.metadata.generation
    })
    .await;
    let app = apps.get("newsread").await.unwrap();
    assert_eq!(
        condition(&app, "Ready").unwrap().0,
        "False",
        "no replica is ready yet"
    );
    assert_eq!(condition(&app, "Stalled").unwrap().0, "False");
    op.stop().await;
}

#[tokio::test]
async fn a_pdb_edited_by_hand_to_min_available_is_put_back() {
    // `kubectl edit pdb` from maxUnavailable to minAvailable: kubectl then owns
    // minAvailable, and tiered's apply of maxUnavailable alone was refused (422, both
    // set) on every pass, leaving the budget as edited (minAvailable: 0 protects nothing).
    let (op, _apps, _app) = start_with_two_tier_app().await;
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(op.client.clone(), NS);
    eventually("the PDB exists", || async {
        pdbs.get_opt("newsread-web").await.unwrap().is_some()
    })
    .await;
    pdbs.patch(
        "newsread-web",
        &PatchParams {
            field_manager: Some("kubectl-edit".to_owned()),
            ..PatchParams::default()
        },
        &Patch::Merge(&json!({"spec": {"maxUnavailable": null, "minAvailable": 0}})),
    )
    .await
    .unwrap();
    eventually("maxUnavailable is back and minAvailable gone", || async {
        let spec = pdbs.get("newsread-web").await.unwrap().spec.unwrap();
        spec.max_unavailable == Some(IntOrString::Int(1)) && spec.min_available.is_none()
    })
    .await;
    op.stop().await;
}

#[tokio::test]
async fn editing_the_image_updates_the_deployment() {
    let (op, apps, mut app) = start_with_two_tier_app().await;
    let deployments: Api<Deployment> = Api::namespaced(op.client.clone(), NS);
    app.spec.tiers[1].image = "ghcr.io/acme/api:2.0.0".to_owned();
    set_tiers(&apps, &app.spec.tiers).await;
    eventually("the Deployment runs the new image", || async {
        api_image(&deployments).await.as_deref() == Some("ghcr.io/acme/api:2.0.0")
    })
    .await;
    op.stop().await;
}

#[tokio::test]
async fn adding_and_removing_a_tier_creates_and_prunes_its_objects() {
    let (op, apps, mut app) = start_with_two_tier_app().await;
    app.spec.tiers.push(worker_tier(&app));
    set_tiers(&apps, &app.spec.tiers).await;
    eventually("the worker Deployment appears", || async {
        names::<Deployment>(&op.client).await == ["newsread-api", "newsread-web", "newsread-worker"]
    })
    .await;
    app.spec.tiers.retain(|t| t.name != "api");
    app.spec.tiers[0].calls.clear();
    set_tiers(&apps, &app.spec.tiers).await;
    eventually("the api objects are pruned", || async {
        names::<Deployment>(&op.client).await == ["newsread-web", "newsread-worker"]
            && !names::<Service>(&op.client)
                .await
                .contains(&"newsread-api".to_owned())
            && !names::<NetworkPolicy>(&op.client)
                .await
                .contains(&"newsread-api".to_owned())
    })
    .await;
    op.stop().await;
}

/// A worker tier `worker` made from the app's api tier (no port).
fn worker_tier(app: &TieredApp) -> Tier {
    let mut worker = app.spec.tiers[1].clone();
    worker.name = "worker".to_owned();
    worker.role = TierRole::Worker;
    worker.port = None;
    worker
}

#[tokio::test]
async fn deployment_status_drives_ready_and_a_converged_app_makes_zero_writes() {
    let (op, apps, _) = start_with_two_tier_app().await;
    eventually_condition("the app reports replicas not ready", &apps, "Ready", |c| {
        c.1 == "ReplicasNotReady"
    })
    .await;
    mark_deployments_available(&op.client).await;
    eventually("the app is Ready with per-tier status", || async {
        let app = apps.get("newsread").await.unwrap();
        let tiers = app
            .status
            .as_ref()
            .map(|s| s.tiers.clone())
            .unwrap_or_default();
        condition(&app, "Ready").is_some_and(|c| c.0 == "True")
            && condition(&app, "Reconciling").is_some_and(|c| c.0 == "False")
            && tiers.len() == 2
            && tiers
                .iter()
                .all(|t| t.ready && t.ready_replicas == 2 && t.desired_replicas == 2)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, before) = http_get(op.http, "/metrics").await;
    let since = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, after) = http_get(op.http, "/metrics").await;
    let reconciles =
        metric(&after, "tiered_reconcile_total") - metric(&before, "tiered_reconcile_total");
    assert!(
        reconciles >= 2.0,
        "the 1 s resync reconciled the app ({reconciles} times)"
    );
    let writes = writes_since(&op.emulator, since);
    assert!(
        writes.is_empty(),
        "a converged app makes no writes, saw {writes:?}"
    );
    op.stop().await;
}

#[tokio::test]
async fn an_invalid_spec_is_stalled_with_the_field_path_and_creates_no_children() {
    let mut app = two_tier_app(NS);
    let mut worker = worker_tier(&app);
    worker.health_check = Some(tiered::api::tiered_app::HealthCheck {
        path: "/health".to_owned(),
        initial_delay_seconds: None,
        period_seconds: None,
    });
    app.spec.tiers.push(worker);
    let (op, apps, _) = start_with(&app).await;
    eventually_condition("the app is Stalled", &apps, "Stalled", |c| c.0 == "True").await;
    let app = apps.get("newsread").await.unwrap();
    let (_, reason, message) = condition(&app, "Stalled").unwrap();
    assert_eq!(reason, "InvalidSpec");
    assert!(
        message.starts_with("spec.tiers[2].healthCheck"),
        "{message}"
    );
    assert_eq!(condition(&app, "Ready").unwrap().0, "False");
    assert!(names::<Deployment>(&op.client).await.is_empty());
    assert!(names::<Service>(&op.client).await.is_empty());
    op.stop().await;
}

#[tokio::test]
async fn a_tier_waiting_for_its_database_is_not_rolled_out() {
    let mut app = two_tier_app(NS);
    app.spec.tiers[1].database = Some(tiered::api::shared::LocalRef {
        name: "newsread-db".to_owned(),
    });
    let (op, apps, _) = start_with(&app).await;
    eventually("the app waits for the database", || async {
        let app = apps.get("newsread").await.unwrap();
        condition(&app, "Ready").is_some_and(|c| {
            c.1 == "WaitingForDatabase" && c.2.contains("api") && c.2.contains("newsread-db")
        })
    })
    .await;
    assert_eq!(names::<Deployment>(&op.client).await, ["newsread-web"]);
    op.stop().await;
}

#[tokio::test]
async fn injected_conflicts_server_errors_and_dropped_watches_still_converge() {
    let op = start(&[NS]).await;
    let faults = op.emulator.faults();
    faults.fail(Matcher::on("patch", "deployments"), 409, 2);
    faults.fail(Matcher::on("patch", "services"), 500, 2);
    faults.fail(Matcher::on("patch", "tieredapps"), 500, 1);
    let apps: Api<TieredApp> = Api::namespaced(op.client.clone(), NS);
    apps.create(&PostParams::default(), &two_tier_app(NS))
        .await
        .unwrap();
    faults.close_watches(None);
    eventually("every child exists despite the faults", || async {
        names::<Deployment>(&op.client).await.len() == 2
            && names::<Service>(&op.client).await.len() == 2
    })
    .await;
    faults.close_watches(None);
    mark_deployments_available(&op.client).await;
    eventually_condition("the app becomes Ready", &apps, "Ready", |c| c.0 == "True").await;
    let (_, metrics) = http_get(op.http, "/metrics").await;
    assert!(
        metric(&metrics, "tiered_reconcile_errors_total") >= 1.0,
        "the faults were counted:\n{metrics}"
    );
    op.stop().await;
}

#[tokio::test]
async fn deleting_the_app_garbage_collects_its_children() {
    let (op, apps, _) = start_with_two_tier_app().await;
    apps.delete("newsread", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the children are gone", || async {
        op.emulator.collect_garbage();
        names::<Deployment>(&op.client).await.is_empty()
            && names::<Service>(&op.client).await.is_empty()
    })
    .await;
    op.stop().await;
}

#[tokio::test]
async fn every_cache_the_controller_reads_syncs_against_the_emulator() {
    use futures::StreamExt;
    use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
    use kube::runtime::watcher;
    use tiered::runtime::stores::reflected;
    let emulator = support::operator::emulator(&[NS], false).await;
    let client = emulator.client();
    let config = watcher::Config::default().labels("app.kubernetes.io/managed-by=tiered");
    macro_rules! check {
        ($kind:ty) => {{
            let (store, stream) =
                reflected::<$kind>(Api::namespaced(client.clone(), NS), config.clone());
            let pump = tokio::spawn(stream.for_each(|_| async {}));
            let synced =
                tokio::time::timeout(Duration::from_secs(5), store.store.wait_until_ready()).await;
            pump.abort();
            assert!(
                matches!(synced, Ok(Ok(()))),
                "{} cache syncs",
                stringify!($kind)
            );
        }};
    }
    check!(Deployment);
    check!(Service);
    check!(HorizontalPodAutoscaler);
    check!(PodDisruptionBudget);
    check!(NetworkPolicy);
    check!(Ingress);
    let (store, writer) =
        kube::runtime::reflector::store::<kube::core::DeserializeGuard<TieredApp>>();
    let stream = watcher(
        Api::<kube::core::DeserializeGuard<TieredApp>>::namespaced(client.clone(), NS),
        watcher::Config::default(),
    );
    let pump =
        tokio::spawn(kube::runtime::WatchStreamExt::reflect(stream, writer).for_each(|_| async {}));
    let synced = tokio::time::timeout(Duration::from_secs(5), store.wait_until_ready()).await;
    pump.abort();
    assert!(matches!(synced, Ok(Ok(()))), "TieredApp cache syncs");
}
