//! The controllers of both data-tier kinds in `tiered run`, in-process against the
//! emulator and a private `moto_server`, written once and run for each kind: create
//! (finalizer, tagged resource, connection Secret, all three conditions from the first
//! status write), zero writes when converged, a TieredApp tier that waits for the
//! object and then gets its `url`, a stall counted as a reconcile error, and a snapshot
//! taken on request that goes with the object under the `Delete` policy. What differs
//! per kind is in `cache_controller` and `database_controller`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;
use tiered::aws::tags;

use support::data_tier::operator::{NS, condition, setup, wire_status};
use support::data_tier::{Kind, both_kinds, resource};
use support::day2::wait_snapshots_available;
use support::operator::{assert_converged, eventually_counted_error, metric, secret_text};
use support::restore_sources::{snapshot_ids, snapshotable};

both_kinds!(
    an_object_gets_a_finalizer_a_tagged_resource_a_connection_secret_and_ready_status,
    a_converged_object_makes_zero_kubernetes_writes_and_zero_mutating_aws_calls,
    a_tier_waits_for_the_object_then_rolls_out_with_the_url_from_its_secret,
    a_stalled_object_is_counted_as_a_reconcile_error,
    a_requested_snapshot_goes_with_the_object_under_the_delete_policy,
);

async fn an_object_gets_a_finalizer_a_tagged_resource_a_connection_secret_and_ready_status<
    K: Kind,
>() {
    let s = setup::<K>().await;
    // Every version of the object the watch sees, to check the first status write.
    let seen = Arc::new(Mutex::new(Vec::<K::Object>::new()));
    let recorder = Arc::clone(&seen);
    let watch = watcher(s.objects.clone(), watcher::Config::default())
        .applied_objects()
        .for_each(move |object| {
            if let Ok(object) = object {
                recorder.lock().unwrap().push(object);
            }
            async {}
        });
    let watch = tokio::spawn(watch);
    tokio::time::sleep(Duration::from_millis(200)).await;

    s.create(&json!({})).await;
    let object = s.wait_ready().await;
    watch.abort();

    assert!(object.finalizers().contains(&K::FINALIZER.to_owned()));
    let status = wire_status::<K>(&object);
    assert_eq!(
        status["observedGeneration"].as_i64(),
        object.meta().generation
    );
    let secret_name = format!("{}-connection", K::OBJECT);
    assert_eq!(
        status["connectionSecret"].as_str(),
        Some(secret_name.as_str())
    );
    let address = status["endpoint"]["address"]
        .as_str()
        .expect("endpoint in status")
        .to_owned();
    let port = status["endpoint"]["port"].as_i64().expect("port");
    assert_eq!(port, i64::from(K::PORT));

    let aws = K::on(&s.moto);
    let identifier = status["identifier"].as_str().expect("identifier");
    assert!(resource(&aws, identifier).await.is_some(), "in moto");
    let found = support::data_tier::tags(&aws, identifier).await;
    assert_eq!(found.get(tags::CLUSTER).map(String::as_str), Some("test"));
    assert_eq!(found.get(tags::NAMESPACE).map(String::as_str), Some(NS));
    assert_eq!(found.get(tags::NAME).map(String::as_str), Some(K::OBJECT));
    assert_eq!(found.get(tags::UID), object.uid().as_ref());
    assert_eq!(found.get("team").map(String::as_str), Some("news"));

    let secrets: Api<Secret> = Api::namespaced(s.op.client.clone(), NS);
    let secret = secrets.get(&secret_name).await.unwrap();
    assert_eq!(
        secret.owner_references()[0].uid,
        object.uid().unwrap(),
        "the Secret is owned by the object"
    );
    assert_eq!(
        secret
            .labels()
            .get("app.kubernetes.io/component")
            .map(String::as_str),
        Some(K::COMPONENT)
    );
    let data = secret_text(&secret);
    assert_eq!(data["host"], address);
    assert_eq!(data["port"], port.to_string());
    let url = url::Url::parse(&data["url"]).expect("the url parses");
    assert_eq!(url.scheme(), K::URL_SCHEME);
    assert_eq!(url.host_str(), Some(address.as_str()));
    K::assert_connection_data(&data, &url);

    let with_status: Vec<_> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|version| !wire_status::<K>(version).is_null())
        .cloned()
        .collect();
    assert!(!with_status.is_empty(), "the watch saw the status");
    for version in &with_status {
        for type_ in ["Ready", "Reconciling", "Stalled"] {
            assert!(
                condition::<K>(version, type_).is_some(),
                "{type_} is in every status written, also the first: {}",
                wire_status::<K>(version)
            );
        }
    }
    s.op.stop().await;
}

async fn a_converged_object_makes_zero_kubernetes_writes_and_zero_mutating_aws_calls<K: Kind>() {
    let s = setup::<K>().await;
    s.create(&json!({})).await;
    s.wait_ready().await;
    let after = assert_converged(&s.op, K::CONTROLLER).await;
    let (series, at_least) = K::COUNTED_CALL;
    assert!(
        metric(&after, series) >= at_least,
        "AWS calls are counted by operation: {after}"
    );
    s.op.stop().await;
}

async fn a_tier_waits_for_the_object_then_rolls_out_with_the_url_from_its_secret<K: Kind>() {
    let s = setup::<K>().await;
    s.tier_waits_then_rolls_out().await;
    s.op.stop().await;
}

async fn a_stalled_object_is_counted_as_a_reconcile_error<K: Kind>() {
    let s = setup::<K>().await;
    // The operator allows no adoption (--adopt-namespaces empty): refused at once.
    // Retain: the CRD refuses adopt with deletionPolicy: Delete.
    s.create(&support::data_tier::merged(
        K::adopt(&format!("no-such-{}", K::NAME)),
        &json!({"deletionPolicy": "Retain"}),
    ))
    .await;
    let stalled = s
        .wait_for("Stalled", "True", Some("AdoptionNotAllowed"))
        .await;
    let (_, _, message) = condition::<K>(&stalled, "Stalled").unwrap();
    assert!(message.contains("no-such-"), "{message}");
    eventually_counted_error(s.op.http, K::CONTROLLER, "adoption_not_allowed").await;
    s.op.stop().await;
}

/// Issue 13 part 3: with `deletionPolicy: Delete` the snapshot an object took on request
/// goes once its resource is gone, and no final snapshot is taken (kept with `Snapshot`
/// and `Retain`: `database_snapshots`).
async fn a_requested_snapshot_goes_with_the_object_under_the_delete_policy<K: Kind>() {
    let s = setup::<K>().await;
    let spec = json!({"deletionPolicy": "Delete", "snapshots": [{"name": "before-upgrade"}]});
    s.create(&support::data_tier::merged(snapshotable::<K>(), &spec))
        .await;
    let object = wait_snapshots_available::<K>(&s.objects, K::OBJECT, 1).await;
    let identifier = wire_status::<K>(&object)["identifier"].clone();
    let taken = format!("{}-snap-before-upgrade", identifier.as_str().unwrap());
    assert_eq!(snapshot_ids::<K>(&s.moto).await, [taken]);
    s.delete().await;
    s.wait_gone().await;
    let left = snapshot_ids::<K>(&s.moto).await;
    assert!(
        left.is_empty(),
        "the requested snapshot went with the object, and no final one was taken: {left:?}"
    );
    s.op.stop().await;
}
