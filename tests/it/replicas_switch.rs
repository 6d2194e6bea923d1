//! Switching a tier between fixed replicas and autoscaling, with the operator running
//! against the emulator: the Deployment's `spec.replicas` never leaves the running count
//! on its own (issue 9.6; kubernetes/kubernetes#25238 and the Kubernetes docs page
//! "Migrating Deployments and StatefulSets to horizontal autoscaling").
//!
//! On a real API server a `spec.replicas` that an apply stops sending (and nobody else
//! owns) is removed and defaulted to 1. Every version of the Deployment is recorded
//! through a watch and must carry a count other than 1: where the emulator defaults a
//! dropped count, the hazard shows as 1; where it does not, as a missing count. Both fail.
//!
//! The emulator runs no HPA controller, so the test plays the HPA: it replaces the
//! Deployment's `/scale` under the HPA's field manager (an update, not an apply, as the
//! HPA controller's write), which gives that manager the field.
//!
//! Someone scaling an autoscaled tier to 0 by hand pauses its HPA (`ScalingActive=False`,
//! `ScalingDisabled`: the HPA leaves a target at 0 alone); the operator leaves the count
//! to the HPA, so the app must say the tier serves nothing and how to resume.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};
use tiered::api::TieredApp;
use tiered::controllers::tiered_app::build::replicas::{HANDED_OVER, REPLICAS_HANDOVER_ANNOTATION};

use crate::support::operator::{Running, eventually, eventually_event, eventually_gone, start};

const NS: &str = "scaling";
const DEPLOYMENT: &str = "newsread-api";
/// The field manager of the HPA controller's writes.
const HPA_MANAGER: &str = "kube-controller-manager";

/// The one tier of the app, with `scaling` (e.g. `{"replicas": 6}`) merged in.
fn tier(scaling: &Value) -> Value {
    let mut tier = json!({"name": "api", "role": "application", "image": "ghcr.io/acme/api:1.0.0", "port": 5000});
    for (key, value) in scaling.as_object().unwrap() {
        tier[key] = value.clone();
    }
    tier
}

/// The operator with the app `newsread` of one tier `api` (`scaling` merged in, as
/// [`tier`]) created; returns it with the TieredApp and Deployment APIs of [`NS`].
async fn start_with_tier(scaling: &Value) -> (Running, Api<TieredApp>, Api<Deployment>) {
    let op = start(&[NS]).await;
    let apps: Api<TieredApp> = Api::namespaced(op.client.clone(), NS);
    let deployments: Api<Deployment> = Api::namespaced(op.client.clone(), NS);
    let app: TieredApp = serde_json::from_value(json!({
        "apiVersion": "tiered.io/v1alpha1", "kind": "TieredApp",
        "metadata": {"name": "newsread", "namespace": NS},
        "spec": {"tiers": [tier(scaling)]}
    }))
    .unwrap();
    let app = apps.create(&PostParams::default(), &app).await.unwrap();
    assert!(app.uid().is_some());
    (op, apps, deployments)
}

async fn set_scaling(apps: &Api<TieredApp>, scaling: &Value) {
    let patch = json!({"spec": {"tiers": [tier(scaling)]}});
    apps.patch("newsread", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

fn replicas(deployment: &Deployment) -> Option<i32> {
    deployment.spec.as_ref().and_then(|spec| spec.replicas)
}

fn handover(deployment: &Deployment) -> Option<String> {
    deployment
        .annotations()
        .get(REPLICAS_HANDOVER_ANNOTATION)
        .cloned()
}

/// Plays the HPA scaling the Deployment to `count`: a read and a replace of its
/// `/scale`, as the HPA controller's scale client does.
async fn hpa_scales(deployments: &Api<Deployment>, count: i32) {
    let params = PostParams {
        field_manager: Some(HPA_MANAGER.to_owned()),
        ..PostParams::default()
    };
    let mut scale = deployments.get_scale(DEPLOYMENT).await.unwrap();
    scale.spec.get_or_insert_default().replicas = Some(count);
    deployments
        .replace_scale(DEPLOYMENT, &params, &scale)
        .await
        .unwrap();
}

/// Plays someone running `kubectl scale deployment/newsread-api --replicas=<count>`: a
/// merge patch of the Deployment's `/scale` (what kubectl's scale client sends).
async fn scaled_by_hand(deployments: &Api<Deployment>, count: i32) {
    let params = PatchParams {
        field_manager: Some("kubectl".to_owned()),
        ..PatchParams::default()
    };
    let patch = json!({"spec": {"replicas": count}});
    deployments
        .patch_scale(DEPLOYMENT, &params, &Patch::Merge(&patch))
        .await
        .unwrap();
}

/// Waits for the Updated Event that says the pass put back `fields` (as the note lists
/// them: `spec.replicas of Deployment/newsread-api (to 3)`).
async fn until_put_back_event(op: &Running, fields: &str) {
    eventually_event(
        &format!("an Updated Event names what it put back: {fields}"),
        &op.client,
        NS,
        "Normal",
        "Updated",
        &format!("put back what another writer changed: {fields}"),
    )
    .await;
}

/// Plays the Deployment controller: the Deployment's status reports every pod it asks
/// for as ready, for its current generation.
async fn report_all_ready(deployments: &Api<Deployment>) {
    let deployment = deployments.get(DEPLOYMENT).await.unwrap();
    let count = replicas(&deployment).unwrap_or(1);
    let status = json!({"status": {"observedGeneration": deployment.metadata.generation,
        "replicas": count, "readyReplicas": count, "updatedReplicas": count,
        "availableReplicas": count}});
    deployments
        .patch_status(DEPLOYMENT, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
}

/// `(status, reason, message)` of the app's `Ready` condition.
async fn ready_condition(apps: &Api<TieredApp>) -> Option<(String, String, String)> {
    let app = apps.get("newsread").await.unwrap();
    let status = app.status?;
    let ready = status.conditions.into_iter().find(|c| c.type_ == "Ready")?;
    Some((ready.status, ready.reason, ready.message))
}

/// Writes the operator made to the Deployment since `since`.
fn operator_writes(op: &Running, since: Instant) -> Vec<String> {
    op.emulator
        .requests()
        .since(since)
        .iter()
        .filter(|r| r.is_write() && r.resource == "deployments" && r.field_manager != HPA_MANAGER)
        .map(|r| format!("{} {} ({})", r.verb, r.path, r.field_manager))
        .collect()
}

/// Waits until the Deployment satisfies `check`, then holds 3 s (three resyncs) and
/// checks that the operator wrote nothing to it meanwhile and it still satisfies `check`.
async fn settles(op: &Running, what: &str, check: impl Fn(&Deployment) -> bool) {
    let deployments: Api<Deployment> = Api::namespaced(op.client.clone(), NS);
    eventually(what, || async {
        deployments.get(DEPLOYMENT).await.is_ok_and(|d| check(&d))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let since = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let writes = operator_writes(op, since);
    assert!(
        writes.is_empty(),
        "{what}: no writes once settled, saw {writes:?}"
    );
    let deployment = deployments.get(DEPLOYMENT).await.unwrap();
    assert!(
        check(&deployment),
        "{what}: still so after 3 s: {deployment:?}"
    );
}

#[tokio::test]
async fn switching_to_autoscaling_and_back_never_drops_the_running_pods() {
    let (op, apps, deployments) = start_with_tier(&json!({"replicas": 6})).await;
    let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(op.client.clone(), NS);
    settles(&op, "6 fixed replicas", |d| replicas(d) == Some(6)).await;

    // Every version of the Deployment from here on.
    let seen: Arc<Mutex<Vec<Option<i32>>>> = Arc::default();
    let recorder = {
        let seen = Arc::clone(&seen);
        let stream = watcher(deployments.clone(), watcher::Config::default()).applied_objects();
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(Ok(deployment)) = stream.next().await {
                seen.lock().unwrap().push(replicas(&deployment));
            }
        })
    };

    // Fixed 6 → autoscaling 2..10: the 6 pods stay until the HPA writes a count.
    set_scaling(
        &apps,
        &json!({"autoscaling": {"minReplicas": 2, "maxReplicas": 10}}),
    )
    .await;
    eventually("the HPA exists", || async {
        hpas.get_opt(DEPLOYMENT).await.unwrap().is_some()
    })
    .await;
    settles(&op, "6 replicas kept for the HPA", |d| {
        replicas(d) == Some(6) && handover(d).as_deref() == Some("6")
    })
    .await;

    // The HPA scales to 8: it owns the count now, the operator stops sending it.
    hpa_scales(&deployments, 8).await;
    settles(&op, "the HPA's 8 handed over", |d| {
        replicas(d) == Some(8) && handover(d).as_deref() == Some(HANDED_OVER)
    })
    .await;
    // The HPA scales again: nothing for the operator to write (no update loop).
    hpa_scales(&deployments, 9).await;
    settles(&op, "the HPA's 9 kept", |d| replicas(d) == Some(9)).await;

    // Autoscaling off without replicas: the HPA's 9 stay, not the default.
    set_scaling(&apps, &json!({})).await;
    eventually_gone("the HPA is pruned", &hpas, DEPLOYMENT).await;
    settles(&op, "9 replicas kept without autoscaling", |d| {
        replicas(d) == Some(9) && handover(d).is_none()
    })
    .await;

    // Back to autoscaling, then off with an explicit count: go to what the user asked.
    set_scaling(
        &apps,
        &json!({"autoscaling": {"minReplicas": 2, "maxReplicas": 10}}),
    )
    .await;
    settles(&op, "9 replicas kept for the HPA again", |d| {
        replicas(d) == Some(9) && handover(d).as_deref() == Some("9")
    })
    .await;
    set_scaling(&apps, &json!({"replicas": 4})).await;
    settles(&op, "the user's 4 replicas", |d| {
        replicas(d) == Some(4) && handover(d).is_none()
    })
    .await;

    recorder.abort();
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter().all(|count| count.is_some_and(|n| n != 1)),
        "spec.replicas was dropped (a real API server defaults it to 1): {seen:?}"
    );
    let mut counts: Vec<i32> = seen.into_iter().flatten().collect();
    counts.dedup();
    assert_eq!(
        counts,
        [6, 8, 9, 4],
        "only the HPA and the user changed the count"
    );
    op.stop().await;
}

#[tokio::test]
async fn an_autoscaled_tier_scaled_to_zero_by_hand_is_not_ready_until_scaled_back() {
    let (op, apps, deployments) =
        start_with_tier(&json!({"autoscaling": {"minReplicas": 2, "maxReplicas": 10}})).await;
    settles(&op, "minReplicas applied", |d| replicas(d) == Some(2)).await;
    report_all_ready(&deployments).await;
    eventually("the app is Ready", || async {
        ready_condition(&apps).await.is_some_and(|c| c.0 == "True")
    })
    .await;

    // `kubectl scale --replicas=0`: the pods go, the HPA pauses, the app is not Ready and
    // says which tier, why, and how to resume.
    scaled_by_hand(&deployments, 0).await;
    report_all_ready(&deployments).await;
    eventually("the app is not Ready: autoscaling paused", || async {
        ready_condition(&apps)
            .await
            .is_some_and(|(status, reason, message)| {
                status == "False"
                    && reason == "AutoscalingPaused"
                    && message.contains("tier api")
                    && message.contains("Deployment newsread-api was scaled to 0 by hand")
                    && message.contains("autoscaler is paused")
                    && message
                        .contains("kubectl scale deployment/newsread-api -n scaling --replicas=2")
            })
    })
    .await;
    let app = apps.get("newsread").await.unwrap();
    let tier = &app.status.unwrap().tiers[0];
    assert!(!tier.ready, "a tier with no pods is not ready: {tier:?}");
    // The operator honours the pause: it does not put the pods back itself.
    settles(&op, "the hand-set 0 kept", |d| replicas(d) == Some(0)).await;

    // Scaled back: Ready again.
    scaled_by_hand(&deployments, 2).await;
    report_all_ready(&deployments).await;
    eventually("the app is Ready again", || async {
        ready_condition(&apps).await.is_some_and(|c| c.0 == "True")
    })
    .await;
    op.stop().await;
}

// A tier with a fixed count is the operator's to keep: scaled to 0 by hand through
// `/scale`, it is put back to its `replicas` (the pause above is for autoscaled tiers).
#[tokio::test]
async fn a_fixed_tier_scaled_to_zero_by_hand_gets_its_replicas_back() {
    let (op, _apps, deployments) = start_with_tier(&json!({"replicas": 3})).await;
    settles(&op, "3 fixed replicas", |d| replicas(d) == Some(3)).await;

    scaled_by_hand(&deployments, 0).await;
    settles(&op, "3 fixed replicas put back", |d| replicas(d) == Some(3)).await;
    // The Event says what was put back and to what, not only "Updated".
    until_put_back_event(&op, "spec.replicas of Deployment/newsread-api (to 3)").await;
    op.stop().await;
}

// `kubectl edit` of several fields at once (a strategic merge patch, as kubectl sends):
// all are put back, and the Updated Event names each, not only the first (found in
// session 13: it named one field per child).
#[tokio::test]
async fn a_hand_edit_of_several_fields_is_put_back_and_the_event_names_each() {
    let (op, _apps, deployments) = start_with_tier(&json!({"replicas": 3})).await;
    settles(&op, "3 fixed replicas", |d| replicas(d) == Some(3)).await;

    let live = deployments.get(DEPLOYMENT).await.unwrap();
    let container = &live.spec.unwrap().template.spec.unwrap().containers[0].name;
    let edit = PatchParams {
        field_manager: Some("kubectl-edit".to_owned()),
        ..PatchParams::default()
    };
    let patch = json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [
        {"name": container, "image": "ghcr.io/acme/api:edited"}
    ]}}}});
    deployments
        .patch(DEPLOYMENT, &edit, &Patch::Strategic(&patch))
        .await
        .unwrap();
    settles(&op, "both fields put back", |d| {
        let image = d.spec.as_ref().and_then(|spec| {
            let containers = &spec.template.spec.as_ref()?.containers;
            containers.first()?.image.clone()
        });
        replicas(d) == Some(3) && image.as_deref() == Some("ghcr.io/acme/api:1.0.0")
    })
    .await;
    until_put_back_event(
        &op,
        "spec.replicas of Deployment/newsread-api (to 3), \
         spec.template.spec.containers[0].image of Deployment/newsread-api",
    )
    .await;
    op.stop().await;
}
