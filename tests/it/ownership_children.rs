//! Ownership of a TieredApp's children against the in-process emulator: a name held by
//! an object the app does not control (a foreign Service, another app's children) is
//! never written, pruned or garbage-collected through the app; the app is `Stalled`
//! with reason `NameConflict` naming the object and its owner.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::operator_tiered_app::{delete_app_until_collected, names};
use crate::support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Service, ServiceAccount};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{DeleteParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};
use support::operator::{
    NamespacedKind, Running, condition, create_foreign, emulator, eventually, eventually_event,
    eventually_gone, launch, start, start_with_foreign, test_config, two_tier_app,
};
use tiered::api::TieredApp;
use tiered::controllers::tiered_app::build::Child;

const NS: &str = "shop";

/// An app `name` with one application tier `tier`.
fn one_tier_app(name: &str, tier: &str) -> TieredApp {
    serde_norway::from_str(&format!(
        r"
apiVersion: tiered.io/v1alpha1
kind: TieredApp
metadata: {{name: {name}, namespace: {NS}}}
spec:
  tiers:
    - name: {tier}
      role: application
      image: ghcr.io/acme/api:1.0.0
      port: 5000
      replicas: 1
"
    ))
    .unwrap()
}

/// Creates `app` through `apps`, waits until it is `Stalled` with reason `NameConflict`
/// and returns its `Stalled` message, after checking that `Ready` is False for the same
/// reason.
async fn create_until_name_conflict(apps: &Api<TieredApp>, app: &TieredApp) -> String {
    apps.create(&PostParams::default(), app).await.unwrap();
    let name = app.metadata.name.as_deref().unwrap();
    eventually(&format!("{name} is Stalled NameConflict"), || async {
        apps.get(name).await.is_ok_and(|app| {
            condition(&app, "Stalled")
                .is_some_and(|(status, reason, _)| status == "True" && reason == "NameConflict")
        })
    })
    .await;
    let app = apps.get(name).await.unwrap();
    let (ready, reason, _) = condition(&app, "Ready").unwrap();
    assert_eq!((ready.as_str(), reason.as_str()), ("False", "NameConflict"));
    condition(&app, "Stalled").unwrap().2
}

/// Checks that the app's `C` children are still `held` (their sorted names) once the
/// passes that follow the first have run (`why`: what holding them prevents), then deletes
/// the object `name` of someone else, which `foreign` reaches, and waits until the app's
/// `C` children are `freed`.
async fn assert_held_until_removed<C: Child, F: NamespacedKind>(
    op: &Running,
    foreign: &Api<F>,
    name: &str,
    held: &[&str],
    why: &str,
    freed: &[&str],
) {
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert_eq!(names::<C>(&op.client).await, held, "{why}");

    foreign
        .delete(name, &DeleteParams::default())
        .await
        .unwrap();
    eventually(
        &format!(
            "the {}s are {freed:?} once {name} is the app's",
            C::kind(&())
        ),
        || async { names::<C>(&op.client).await == freed },
    )
    .await;
}

/// The object as JSON, managedFields included: any write would change it.
async fn snapshot<K>(api: &Api<K>, name: &str) -> Value
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    serde_json::to_value(api.get(name).await.unwrap()).unwrap()
}

#[tokio::test]
async fn a_foreign_service_with_a_childs_name_is_never_taken_over_nor_collected_with_the_app() {
    let (op, services, _) = start_with_foreign::<Service>(
        NS,
        json!({
            "metadata": {"name": "newsread-api", "labels": {"team": "payments"}},
            "spec": {"selector": {"app": "payments"}, "ports": [{"name": "pay", "port": 9999}]}
        }),
    )
    .await;
    let before = snapshot(&services, "newsread-api").await;

    let apps: Api<TieredApp> = Api::namespaced(op.client.clone(), NS);
    let message = create_until_name_conflict(&apps, &two_tier_app(NS)).await;
    assert!(
        message.contains("Service/newsread-api") && message.contains("not managed by tiered"),
        "{message}"
    );
    // The app's other children are still applied (see src/controllers/tiered_app/apply.rs).
    eventually("the other children exist", || async {
        names::<Deployment>(&op.client).await == ["newsread-api", "newsread-web"]
    })
    .await;
    eventually_event(
        "a Warning Event names the conflict",
        &op.client,
        NS,
        "Warning",
        "NameConflict",
        "Service/newsread-api",
    )
    .await;
    assert_eq!(snapshot(&services, "newsread-api").await, before);

    delete_app_until_collected(&op, &apps, "the app's own children are collected").await;
    op.emulator.collect_garbage();
    assert_eq!(names::<Service>(&op.client).await, ["newsread-api"]);
    assert_eq!(snapshot(&services, "newsread-api").await, before);
    op.stop().await;
}

#[tokio::test]
async fn two_apps_whose_names_meet_in_one_child_name_the_later_stalls_and_the_first_keeps_its_children()
 {
    let op = start(&[NS]).await;
    let apps: Api<TieredApp> = Api::namespaced(op.client.clone(), NS);
    let first = apps
        .create(&PostParams::default(), &one_tier_app("a-b", "c"))
        .await
        .unwrap();
    let deployments: Api<Deployment> = Api::namespaced(op.client.clone(), NS);
    let services: Api<Service> = Api::namespaced(op.client.clone(), NS);
    eventually("a-b's children exist", || async {
        names::<Deployment>(&op.client).await == ["a-b-c"]
            && names::<Service>(&op.client).await == ["a-b-c"]
    })
    .await;
    // Let the first app settle so its children are not rewritten by itself below.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let deployment_before = snapshot(&deployments, "a-b-c").await;
    let service_before = snapshot(&services, "a-b-c").await;

    let message = create_until_name_conflict(&apps, &one_tier_app("a", "b-c")).await;
    assert!(
        message.contains("Deployment/a-b-c already exists and is owned by TieredApp/a-b")
            && message.contains("Service/a-b-c"),
        "{message}"
    );
    assert_eq!(snapshot(&deployments, "a-b-c").await, deployment_before);
    assert_eq!(snapshot(&services, "a-b-c").await, service_before);
    let owners = deployments
        .get("a-b-c")
        .await
        .unwrap()
        .owner_references()
        .to_vec();
    assert_eq!(owners.len(), 1);
    assert_eq!(Some(owners[0].uid.clone()), first.uid());

    apps.delete("a", &DeleteParams::default()).await.unwrap();
    eventually_gone("the app a is gone", &apps, "a").await;
    op.emulator.collect_garbage();
    op.emulator.collect_garbage();
    assert_eq!(names::<Deployment>(&op.client).await, ["a-b-c"]);
    assert_eq!(names::<Service>(&op.client).await, ["a-b-c"]);
    op.stop().await;
}

#[tokio::test]
async fn an_existing_service_account_with_a_tiers_name_is_never_annotated_nor_deleted() {
    // Someone else's ServiceAccount, e.g. made by eksctl for another workload.
    let (op, accounts, _) = start_with_foreign::<ServiceAccount>(
        NS,
        json!({
            "metadata": {"name": "newsread-api", "annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::999999999999:role/payments"}}
        }),
    )
    .await;
    let before = snapshot(&accounts, "newsread-api").await;
    let mut app = two_tier_app(NS);
    app.spec.tiers[1].service_account = Some(
        serde_norway::from_str("{roleArn: 'arn:aws:iam::123456789012:role/newsread-api'}").unwrap(),
    );
    let apps: Api<TieredApp> = Api::namespaced(op.client.clone(), NS);
    let message = create_until_name_conflict(&apps, &app).await;
    assert!(
        message.contains("ServiceAccount/newsread-api already exists and is not managed by tiered"),
        "{message}"
    );
    assert_eq!(
        snapshot(&accounts, "newsread-api").await,
        before,
        "not written"
    );
    // The tier is held: its pods would run under the foreign ServiceAccount's role.
    assert_eq!(names::<Deployment>(&op.client).await, ["newsread-web"]);
    // The app goes; the foreign ServiceAccount stays as it was.
    apps.delete("newsread", &DeleteParams::default())
        .await
        .unwrap();
    eventually_gone("the app is gone", &apps, "newsread").await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        snapshot(&accounts, "newsread-api").await,
        before,
        "not deleted"
    );
    op.stop().await;
}

#[tokio::test]
async fn an_app_recovers_soon_after_the_foreign_object_in_its_way_is_removed() {
    // What the NameConflict message tells the user to do: remove the other object. A
    // foreign object without tiered's label is not watched, so its removal triggers no
    // reconcile; the app must look again soon, not after the 10-minute Stalled re-check.
    // A sandbox emulator rolls the Deployments out, so that nothing else triggers one.
    let emulator = emulator(&[NS], true).await;
    let client = emulator.client();
    let (services, _) = create_foreign::<Service>(
        &client,
        NS,
        json!({
            "metadata": {"name": "newsread-api"},
            "spec": {"selector": {"app": "payments"}, "ports": [{"port": 9999}]}
        }),
    )
    .await;
    let op = launch(client.clone(), test_config(&[NS])).await;
    let apps: Api<TieredApp> = Api::namespaced(client.clone(), NS);
    create_until_name_conflict(&apps, &two_tier_app(NS)).await;
    let rolled_out = |app: &TieredApp| {
        app.status
            .as_ref()
            .is_some_and(|s| s.tiers.iter().all(|tier| tier.ready))
    };
    eventually("the other children are rolled out", || async {
        apps.get("newsread").await.is_ok_and(|app| rolled_out(&app))
    })
    .await;
    // Let the last watch events of the rollout pass.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    services
        .delete("newsread-api", &DeleteParams::default())
        .await
        .unwrap();
    // Within the 30 s of `eventually` (the test operator resyncs every second).
    eventually("the app is Ready", || async {
        apps.get("newsread").await.is_ok_and(|app| {
            condition(&app, "Ready").is_some_and(|(status, _, _)| status == "True")
        })
    })
    .await;
    let service = services.get("newsread-api").await.unwrap();
    assert_eq!(
        service.owner_references().first().map(|o| o.kind.as_str()),
        Some("TieredApp")
    );
    op.stop().await;
}

#[tokio::test]
async fn a_tiers_ingress_is_held_while_its_service_name_is_someone_elses() {
    // The web tier's Ingress routes to the Service newsread-web; with that name held by
    // another team's Service, an applied Ingress would send the app's public traffic
    // (and its status URL) to their pods.
    let (op, services, _) = start_with_foreign::<Service>(
        NS,
        json!({
            "metadata": {"name": "newsread-web"},
            "spec": {"selector": {"app": "legacy"}, "ports": [{"port": 80}]}
        }),
    )
    .await;
    let apps: Api<TieredApp> = Api::namespaced(op.client.clone(), NS);
    let message = create_until_name_conflict(&apps, &two_tier_app(NS)).await;
    assert!(message.contains("Service/newsread-web"), "{message}");
    eventually("the other children exist", || async {
        names::<Deployment>(&op.client).await == ["newsread-api", "newsread-web"]
            && names::<Service>(&op.client).await == ["newsread-api", "newsread-web"]
    })
    .await;
    assert_held_until_removed::<Ingress, _>(
        &op,
        &services,
        "newsread-web",
        &[],
        "no Ingress routes to the foreign Service",
        &["newsread-web"],
    )
    .await;
    op.stop().await;
}

/// Found by the outside trial of session 12: with another team's Deployment holding
/// `<app>-<tier>`, the app was NameConflict ("tiered does not take over objects it does
/// not control") yet created the tier's HPA, whose `scaleTargetRef` names that
/// Deployment: on EKS the HPA controller would resize their workload to the tier's
/// minReplicas..maxReplicas through its /scale. The HPA is held while the conflict lasts.
#[tokio::test]
async fn a_tiers_hpa_is_held_while_its_deployment_name_is_someone_elses() {
    let (op, deployments, _) = start_with_foreign::<Deployment>(
        NS,
        json!({
            "metadata": {"name": "newsread-web"},
            "spec": {"replicas": 10, "selector": {"matchLabels": {"app": "legacy"}},
                "template": {"metadata": {"labels": {"app": "legacy"}},
                    "spec": {"containers": [{"name": "legacy", "image": "legacy:1"}]}}}
        }),
    )
    .await;
    let apps: Api<TieredApp> = Api::namespaced(op.client.clone(), NS);
    let mut app = two_tier_app(NS);
    for tier in &mut app.spec.tiers {
        tier.replicas = None;
        tier.autoscaling = Some(tiered::api::tiered_app::Autoscaling {
            min_replicas: 2,
            max_replicas: 4,
            target_cpu_utilization: Some(70),
            target_memory_utilization: None,
        });
    }
    let message = create_until_name_conflict(&apps, &app).await;
    assert!(message.contains("Deployment/newsread-web"), "{message}");
    eventually("the api tier's HPA exists", || async {
        names::<HorizontalPodAutoscaler>(&op.client).await == ["newsread-api"]
    })
    .await;
    assert_held_until_removed::<HorizontalPodAutoscaler, _>(
        &op,
        &deployments,
        "newsread-web",
        &["newsread-api"],
        "no HPA scales the foreign Deployment",
        &["newsread-api", "newsread-web"],
    )
    .await;
    op.stop().await;
}
