//! A data-tier object whose AWS resource another installation made: tiered run under
//! another `--cluster-name` (a second installation watching the namespace, or this one
//! after its cluster name changed) derives another resource id. It must neither create
//! a second, empty resource and move the tiers' connection Secret to it, nor end the
//! finalizer on finding nothing at its own id while the first resource stands.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Resource, ResourceExt};
use serde_json::json;
use tiered::api::conditions::reasons;

use support::data_tier::operator::{NS, condition, setup, wire_status};
use support::data_tier::{Kind, both_kinds};
use support::moto::aws_config;
use support::operator::{eventually, test_config};

both_kinds!(a_second_cluster_name_neither_creates_nor_deletes_the_resource_of_the_first);

async fn a_second_cluster_name_neither_creates_nor_deletes_the_resource_of_the_first<K: Kind>() {
    let mut s = setup::<K>().await;
    s.create(&json!({})).await;
    let ready = s.wait_ready().await;
    let known = wire_status::<K>(&ready)["identifier"].clone();
    let known = known.as_str().expect("status.identifier").to_owned();
    let secrets: Api<Secret> = Api::namespaced(s.op.client.clone(), NS);
    let secret_name = format!("{}-connection", K::OBJECT);
    let secret_before = secrets.get(&secret_name).await.expect("connection Secret");
    let kind = K::on(&s.moto);
    assert_eq!(kind.count().await, 1);

    let mut other = test_config(&[NS]);
    other.cluster_name = "other".to_owned();
    s.op.relaunch(other.clone(), &aws_config(&s.moto)).await;
    let stalled = s
        .wait_for("Stalled", "True", Some(reasons::OWNED_ELSEWHERE))
        .await;
    let (_, _, message) = condition::<K>(&stalled, "Stalled").unwrap();
    for part in [known.as_str(), "--cluster-name", "\"other\""] {
        assert!(message.contains(part), "{part}: {message}");
    }
    assert_eq!(
        kind.count().await,
        1,
        "no second resource under the other cluster name"
    );
    assert_eq!(
        wire_status::<K>(&stalled)["identifier"],
        known.as_str(),
        "the status keeps naming the resource that exists"
    );
    let secret_after = secrets.get(&secret_name).await.expect("connection Secret");
    assert_eq!(
        secret_after.data, secret_before.data,
        "the tiers keep their connection"
    );

    // Back under the cluster name that made it: Ready again, the same resource.
    s.op.relaunch(test_config(&[NS]), &aws_config(&s.moto))
        .await;
    let again = s.wait_ready().await;
    assert_eq!(wire_status::<K>(&again)["identifier"], known.as_str());

    // Deleted while the other cluster name runs: the finalizer finds nothing at its
    // own id, and still leaves the resource of the first and the finalizer that guards
    // it, saying why.
    s.op.relaunch(other, &aws_config(&s.moto)).await;
    s.delete().await;
    eventually("the deletion is refused", || async {
        let object = s
            .objects
            .get(K::OBJECT)
            .await
            .expect("the finalizer holds it");
        let status = wire_status::<K>(&object);
        object.meta().deletion_timestamp.is_some()
            && status["observedGeneration"] == json!(object.meta().generation)
            && condition::<K>(&object, "Stalled")
                .is_some_and(|(s, r, _)| s == "True" && r == reasons::OWNED_ELSEWHERE)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let held = s
        .objects
        .get(K::OBJECT)
        .await
        .expect("the finalizer holds it");
    assert!(held.finalizers().contains(&K::FINALIZER.to_owned()));
    assert!(
        support::data_tier::resource(&kind, &known).await.is_some(),
        "{known} is not deleted by an installation that did not make it"
    );
    s.op.stop().await;
}
