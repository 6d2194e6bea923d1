//! Finalizers, `deletionTimestamp` and ownerReference garbage collection, as the real
//! API server's generic registry and kube-controller-manager's garbage collector do them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, Error, ResourceExt};
use kube_emulator::EmulatorHandle;

use crate::support::{config_map, create, start};
use serde_json::json;

fn owned_secret(name: &str, owner: &ConfigMap) -> Secret {
    let mut secret = Secret::default();
    secret.metadata.name = Some(name.to_owned());
    secret.metadata.owner_references = Some(vec![OwnerReference {
        api_version: "v1".to_owned(),
        kind: "ConfigMap".to_owned(),
        name: owner.name_any(),
        uid: owner.uid().unwrap(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }]);
    secret.string_data = Some(BTreeMap::from([("k".to_owned(), "v".to_owned())]));
    secret
}

/// A `ConfigMap` `owner` and, controlled by it, a Secret `child`: the two APIs.
async fn owner_and_child(emu: &EmulatorHandle, child: &str) -> (Api<ConfigMap>, Api<Secret>) {
    let owners: Api<ConfigMap> = Api::default_namespaced(emu.client());
    let secrets: Api<Secret> = Api::default_namespaced(emu.client());
    let owner = create(&owners, &config_map("owner")).await;
    create(&secrets, &owned_secret(child, &owner)).await;
    (owners, secrets)
}

/// Deletes the owner of [`owner_and_child`] with `params`.
async fn delete_owner(owners: &Api<ConfigMap>, params: &DeleteParams) {
    owners.delete("owner", params).await.unwrap();
}

async fn gone_within<K>(api: &Api<K>, name: &str, deadline: Duration) -> bool
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let start = Instant::now();
    while start.elapsed() < deadline {
        if matches!(api.get(name).await, Err(Error::Api(s)) if s.code == 404) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

// Upstream: DELETE of an object with finalizers sets deletionTimestamp (and
// deletionGracePeriodSeconds 0) and keeps it; removing the last finalizer deletes it; no
// new finalizer may be added meanwhile (422 Forbidden on metadata.finalizers).
#[tokio::test]
async fn finalizers_hold_an_object_until_the_last_one_is_removed() {
    let emu = start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(emu.client());
    let mut cm = config_map("held");
    cm.metadata.finalizers = Some(vec!["example.io/cleanup".to_owned()]);
    create(&api, &cm).await;

    api.delete("held", &DeleteParams::default()).await.unwrap();
    let deleting = api.get("held").await.unwrap();
    assert!(deleting.metadata.deletion_timestamp.is_some());
    assert_eq!(deleting.metadata.deletion_grace_period_seconds, Some(0));

    let add = json!({"metadata": {"finalizers": ["example.io/cleanup", "example.io/late"]}});
    match api
        .patch("held", &PatchParams::default(), &Patch::Merge(&add))
        .await
    {
        Err(Error::Api(s)) => {
            assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
            assert!(
                s.message
                    .contains("no new finalizers can be added if the object is being deleted")
            );
        }
        other => panic!("expected 422, got {other:?}"),
    }

    let release = json!({"metadata": {"finalizers": null}});
    api.patch("held", &PatchParams::default(), &Patch::Merge(&release))
        .await
        .unwrap();
    assert!(matches!(api.get("held").await, Err(Error::Api(s)) if s.code == 404));
}

// Upstream (garbage collector, Background propagation): once the owner is really gone,
// its dependents are deleted asynchronously.
#[tokio::test]
async fn dependents_are_collected_after_their_owner_is_deleted() {
    let emu = start().await;
    let (owners, secrets) = owner_and_child(&emu, "child").await;

    delete_owner(&owners, &DeleteParams::background()).await;
    assert!(
        gone_within(&secrets, "child", Duration::from_secs(5)).await,
        "dependent was not collected"
    );
}

// Upstream: a dependent whose owner uid matches no object is collected too, without
// another delete to wake the collector (kube-controller-manager's collector watches every
// object): a child a controller's late pass writes after its owner went, an
// ownerReference added by an update. (The emulator collected only after the next delete.)
#[tokio::test]
async fn a_dependent_of_a_nonexistent_owner_is_collected() {
    let emu = start().await;
    let secrets: Api<Secret> = Api::default_namespaced(emu.client());
    let mut ghost = config_map("ghost");
    ghost.metadata.uid = Some("00000000-0000-4000-8000-000000000000".to_owned());
    create(&secrets, &owned_secret("orphan", &ghost)).await;
    assert!(gone_within(&secrets, "orphan", Duration::from_secs(5)).await);

    let mut adopted = owned_secret("adopted", &ghost);
    adopted.metadata.owner_references = None;
    create(&secrets, &adopted).await;
    let owners = json!({"metadata": {"ownerReferences": [{
        "apiVersion": "v1", "kind": "ConfigMap", "name": "ghost",
        "uid": "00000000-0000-4000-8000-000000000000"
    }]}});
    secrets
        .patch("adopted", &PatchParams::default(), &Patch::Merge(&owners))
        .await
        .unwrap();
    assert!(gone_within(&secrets, "adopted", Duration::from_secs(5)).await);
}

// Upstream: the collector resolves an owner reference's apiVersion and kind before it
// looks for the owner; one it cannot resolve (a custom kind whose CRD is not installed)
// makes it retry the dependent, never delete it. (The emulator collected it as dangling,
// which also made object_meta::at_most_one_owner_reference_is_the_controller flaky: its
// ConfigMap names TieredApp owners and was collected before the test's last patch.)
#[tokio::test]
async fn a_dependent_of_an_owner_kind_not_served_is_kept() {
    let emu = start().await;
    let secrets: Api<Secret> = Api::default_namespaced(emu.client());
    let owned_by = |name: &str, api_version: &str, kind: &str| {
        let mut secret = Secret::default();
        secret.metadata.name = Some(name.to_owned());
        let reference = json!([{
            "apiVersion": api_version, "kind": kind, "name": "gone",
            "uid": "00000000-0000-4000-8000-000000000001", "controller": true
        }]);
        secret.metadata.owner_references = Some(serde_json::from_value(reference).unwrap());
        secret
    };
    create(
        &secrets,
        &owned_by("unresolved", "tiered.io/v1alpha1", "TieredApp"),
    )
    .await;
    create(&secrets, &owned_by("dangling", "v1", "ConfigMap")).await;

    // The collector ran after both writes: the one whose owner kind is served went.
    assert!(gone_within(&secrets, "dangling", Duration::from_secs(5)).await);
    let kept = secrets
        .get("unresolved")
        .await
        .expect("the dependent is kept");
    assert_eq!(kept.metadata.owner_references.map(|r| r.len()), Some(1));
}

// Upstream: propagationPolicy=Orphan removes the ownerReference and keeps the dependent.
#[tokio::test]
async fn orphan_propagation_keeps_dependents_without_the_owner_reference() {
    let emu = start().await;
    let (owners, secrets) = owner_and_child(&emu, "kept").await;

    delete_owner(&owners, &DeleteParams::orphan()).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let kept = secrets.get("kept").await.unwrap();
    assert!(kept.metadata.owner_references.is_none());
}

// Upstream: Foreground propagation keeps the owner (finalizer foregroundDeletion) until
// its dependents are gone, then removes it.
#[tokio::test]
async fn foreground_propagation_deletes_dependents_first() {
    let emu = start().await;
    let (owners, secrets) = owner_and_child(&emu, "first").await;

    let response = owners
        .delete("owner", &DeleteParams::foreground())
        .await
        .unwrap();
    let pending = response.left().expect("the owner is still there");
    assert!(
        pending
            .finalizers()
            .contains(&"foregroundDeletion".to_owned())
    );
    assert!(gone_within(&secrets, "first", Duration::from_secs(5)).await);
    assert!(gone_within(&owners, "owner", Duration::from_secs(5)).await);
}
