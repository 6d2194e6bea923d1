//! Shared volumes of a TieredApp against the in-process emulator: one claim per volume
//! that the tiers mount, retained across a tier's removal and the app's deletion (or
//! garbage-collected with `whenDeleted: Delete`), never taking over a claim the app does
//! not own, and no writes once converged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;
use tiered::api::TieredApp;
use tiered::api::tiered_app::{
    ClaimRetention, SharedVolume, TierVolumeMount, VolumeRetentionPolicy,
};

use crate::operator_tiered_app::{
    delete_app_until_collected, mark_deployments_available, names, set_tiers,
};
use crate::support::operator::{
    Running, eventually, eventually_condition, eventually_stalled, start, start_with_app,
    start_with_foreign, two_tier_app, writes_since,
};

const NS: &str = "shop";
const CLAIM: &str = "newsread-files";

/// The two-tier app with a volume `files` (EFS class) mounted by the api tier.
pub(crate) fn app_with_volume(retention: Option<ClaimRetention>) -> TieredApp {
    let mut app = two_tier_app(NS);
    app.spec.volumes = vec![SharedVolume {
        name: "files".to_owned(),
        storage_class_name: Some("efs-sc".to_owned()),
        size: "5Gi".to_owned(),
        access_modes: Vec::new(),
    }];
    app.spec.persistent_volume_claim_retention_policy =
        retention.map(|when_deleted| VolumeRetentionPolicy {
            when_deleted: Some(when_deleted),
        });
    app.spec.tiers[1].volume_mounts = vec![TierVolumeMount {
        name: "files".to_owned(),
        mount_path: "/srv/files".to_owned(),
        read_only: None,
    }];
    app
}

pub(crate) async fn claim(client: &kube::Client) -> Option<PersistentVolumeClaim> {
    Api::<PersistentVolumeClaim>::namespaced(client.clone(), NS)
        .get_opt(CLAIM)
        .await
        .unwrap()
}

/// Marks the claim Bound, as the PV controller would.
pub(crate) async fn bind_claim(client: &kube::Client) {
    Api::<PersistentVolumeClaim>::namespaced(client.clone(), NS)
        .patch_status(
            CLAIM,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Bound"}})),
        )
        .await
        .unwrap();
}

/// The operator running with [`app_with_volume`] (no retention) created and its claim
/// there.
pub(crate) async fn start_with_claim() -> (Running, Api<TieredApp>) {
    let (op, apps) = start_with_app(NS, &app_with_volume(None)).await;
    eventually("the claim exists", || async {
        claim(&op.client).await.is_some()
    })
    .await;
    (op, apps)
}

/// Changes the app's volume to another storage class, a change the API server refuses
/// on a claim; returns the claim as it was before.
pub(crate) async fn ask_for_another_class(
    op: &Running,
    apps: &Api<TieredApp>,
) -> PersistentVolumeClaim {
    let before = claim(&op.client).await.unwrap();
    let other_class =
        json!({"spec": {"volumes": [{"name": "files", "storageClassName": "gp3", "size": "5Gi"}]}});
    apps.patch(
        "newsread",
        &PatchParams::default(),
        &Patch::Merge(&other_class),
    )
    .await
    .unwrap();
    before
}

fn claimed_by(claim: &PersistentVolumeClaim) -> Option<String> {
    claim.labels().get("tiered.io/app-uid").cloned()
}

/// Marks the Deployments available, waits for Ready, and asserts that three seconds of
/// resyncs then make no write.
async fn assert_converged_without_writes(op: &Running, apps: &Api<TieredApp>) {
    mark_deployments_available(&op.client).await;
    eventually_condition("the app is Ready", apps, "Ready", |c| c.0 == "True").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let since = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let writes = writes_since(&op.emulator, since);
    assert!(
        writes.is_empty(),
        "a converged app makes no writes, saw {writes:?}"
    );
}

/// The claim as created for the app with `uid` under `Retain`, after checking it and
/// the api tier's mount of it.
async fn assert_retained_and_mounted(client: &kube::Client, uid: &str) -> PersistentVolumeClaim {
    let created = claim(client).await.unwrap();
    assert!(
        created.owner_references().is_empty(),
        "Retain: no ownerReference"
    );
    assert_eq!(claimed_by(&created), Some(uid.to_owned()));
    let spec = created.spec.as_ref().unwrap();
    assert_eq!(spec.access_modes, Some(vec!["ReadWriteMany".to_owned()]));
    assert_eq!(spec.storage_class_name.as_deref(), Some("efs-sc"));
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let pod = deployments
        .get("newsread-api")
        .await
        .unwrap()
        .spec
        .unwrap()
        .template
        .spec
        .unwrap();
    let mounted = pod
        .volumes
        .unwrap()
        .into_iter()
        .find_map(|v| v.persistent_volume_claim);
    assert_eq!(mounted.unwrap().claim_name, CLAIM);
    let mounts = pod.containers[0].volume_mounts.clone().unwrap();
    assert!(
        mounts.iter().any(|m| m.mount_path == "/srv/files"),
        "{mounts:?}"
    );

    created
}

#[tokio::test]
async fn a_retained_claim_is_mounted_outlives_its_tier_and_the_app_and_is_not_taken_over() {
    let op = start(&[NS]).await;
    let apps: Api<TieredApp> = Api::namespaced(op.client.clone(), NS);
    let app = apps
        .create(&PostParams::default(), &app_with_volume(None))
        .await
        .unwrap();
    let uid = app.uid().unwrap();
    eventually("the claim and both Deployments exist", || async {
        claim(&op.client).await.is_some() && names::<Deployment>(&op.client).await.len() == 2
    })
    .await;
    let created = assert_retained_and_mounted(&op.client, &uid).await;
    // Converged: Ready and no writes, the claim included.
    assert_converged_without_writes(&op, &apps).await;

    // Removing the tier that mounts it keeps the claim.
    let mut web_only = vec![apps.get("newsread").await.unwrap().spec.tiers[0].clone()];
    web_only[0].calls.clear();
    set_tiers(&apps, &web_only).await;
    eventually("the api tier is pruned", || async {
        names::<Deployment>(&op.client).await == ["newsread-web"]
    })
    .await;
    assert_eq!(claim(&op.client).await.unwrap().uid(), created.uid());

    // Deleting the app keeps the claim.
    delete_app_until_collected(&op, &apps, "the app's Deployments are collected").await;
    op.emulator.collect_garbage();
    assert_eq!(claim(&op.client).await.unwrap().uid(), created.uid());

    // A new app of the same name does not take the retained claim over…
    let again = apps
        .create(&PostParams::default(), &app_with_volume(None))
        .await
        .unwrap();
    eventually_stalled(
        "the new app is Stalled on the retained claim",
        &apps,
        "NameConflict",
        &["PersistentVolumeClaim/newsread-files"],
    )
    .await;
    assert_eq!(
        claimed_by(&claim(&op.client).await.unwrap()),
        Some(uid.clone())
    );
    assert_eq!(
        names::<Deployment>(&op.client).await,
        ["newsread-web"],
        "the api tier is held"
    );
    // …until an administrator hands it over with the label.
    Api::<PersistentVolumeClaim>::namespaced(op.client.clone(), NS)
        .patch(
            CLAIM,
            &PatchParams::default(),
            &Patch::Merge(
                &json!({"metadata": {"labels": {"tiered.io/app-uid": again.uid().unwrap()}}}),
            ),
        )
        .await
        .unwrap();
    apps.patch(
        "newsread",
        &PatchParams::default(),
        &Patch::Merge(&json!({"metadata": {"annotations": {"touch": "1"}}})),
    )
    .await
    .unwrap();
    eventually("the new app mounts the handed-over claim", || async {
        names::<Deployment>(&op.client).await.len() == 2
    })
    .await;
    assert_eq!(claim(&op.client).await.unwrap().uid(), created.uid());
    op.stop().await;
}

/// Sets the app's `persistentVolumeClaimRetentionPolicy.whenDeleted` to `policy`.
async fn set_when_deleted(apps: &Api<TieredApp>, policy: &str) {
    let patch = json!({"spec": {"persistentVolumeClaimRetentionPolicy": {"whenDeleted": policy}}});
    apps.patch("newsread", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

#[tokio::test]
async fn with_when_deleted_delete_the_claim_is_owned_and_goes_with_the_app() {
    let op = start(&[NS]).await;
    let apps: Api<TieredApp> = Api::namespaced(op.client.clone(), NS);
    let app = apps
        .create(
            &PostParams::default(),
            &app_with_volume(Some(ClaimRetention::Delete)),
        )
        .await
        .unwrap();
    let uid = app.uid().unwrap();
    eventually("the claim is controlled by the app", || async {
        claim(&op.client).await.is_some_and(|c| {
            c.owner_references()
                .iter()
                .any(|r| r.uid == uid && r.controller == Some(true))
        })
    })
    .await;
    // Back to Retain: server-side apply drops the ownerReference again.
    set_when_deleted(&apps, "Retain").await;
    eventually("the claim has no ownerReference", || async {
        claim(&op.client)
            .await
            .is_some_and(|c| c.owner_references().is_empty())
    })
    .await;
    set_when_deleted(&apps, "Delete").await;
    eventually("the claim is controlled by the app again", || async {
        claim(&op.client)
            .await
            .is_some_and(|c| !c.owner_references().is_empty())
    })
    .await;
    apps.delete("newsread", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the claim is collected with the app", || async {
        op.emulator.collect_garbage();
        claim(&op.client).await.is_none()
    })
    .await;
    op.stop().await;
}

#[tokio::test]
async fn a_foreign_claim_of_the_same_name_is_left_untouched_and_the_tier_mounting_it_is_held() {
    let (op, claims, foreign) = start_with_foreign::<PersistentVolumeClaim>(
        NS,
        json!({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": CLAIM, "labels": {"team": "billing"}},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
        }),
    )
    .await;
    let apps: Api<TieredApp> = Api::namespaced(op.client.clone(), NS);
    apps.create(
        &PostParams::default(),
        &app_with_volume(Some(ClaimRetention::Delete)),
    )
    .await
    .unwrap();
    eventually_stalled(
        "the app is Stalled with NameConflict naming the claim",
        &apps,
        "NameConflict",
        &["PersistentVolumeClaim/newsread-files"],
    )
    .await;
    assert_eq!(names::<Deployment>(&op.client).await, ["newsread-web"]);
    let after = claims.get(CLAIM).await.unwrap();
    assert_eq!(
        after.resource_version(),
        foreign.resource_version(),
        "never written"
    );
    delete_app_until_collected(&op, &apps, "the app's Deployment is collected").await;
    assert_eq!(claims.get(CLAIM).await.unwrap().uid(), foreign.uid());
    op.stop().await;
}

#[tokio::test]
async fn a_change_the_api_server_would_refuse_on_a_claim_is_not_sent_and_stalls_the_app() {
    let (op, apps) = start_with_claim().await;
    let before = ask_for_another_class(&op, &apps).await;
    eventually_stalled(
        "the app is Stalled naming the claim and the field",
        &apps,
        "InvalidSpec",
        &["PersistentVolumeClaim/newsread-files: storageClassName"],
    )
    .await;
    let after = claim(&op.client).await.unwrap();
    assert_eq!(
        after.resource_version(),
        before.resource_version(),
        "not written"
    );
    // Growing the claim is allowed once it is Bound (the API server refuses any spec
    // change of a Pending claim); the PV controller would bind it.
    bind_claim(&op.client).await;
    let bigger = json!({"spec": {"volumes": [{"name": "files", "storageClassName": "efs-sc", "size": "10Gi"}]}});
    apps.patch("newsread", &PatchParams::default(), &Patch::Merge(&bigger))
        .await
        .unwrap();
    eventually("the claim asks for 10Gi", || async {
        claim(&op.client).await.is_some_and(|c| {
            c.spec.unwrap().resources.unwrap().requests.unwrap()["storage"].0 == "10Gi"
        })
    })
    .await;
    eventually_condition("the app is no longer Stalled", &apps, "Stalled", |c| {
        c.0 == "False"
    })
    .await;
    op.stop().await;
}
