//! A deletion AWS refuses (an IAM policy or an organization's SCP that denies the
//! delete call, as `aws-faults` answers it: 403 `AccessDenied`): the finalizer stays and
//! the resource is left, and the object says why, in its status, a Warning Event and
//! `tiered_reconcile_errors_total{category="access_denied"}`, instead of hanging with the
//! Ready status of its last pass. Once the call is allowed the deletion goes through.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use aws_faults::Rule;
use kube::Api;
use kube::api::DeleteParams;
use serde_json::json;
use tiered::api::conditions::reasons;

use crate::support::data_tier::operator::{NS, condition};
use crate::support::data_tier::{Kind, both_kinds};
use crate::support::faults::{aws_id, start};
use crate::support::operator::{eventually, eventually_counted_error, eventually_event};

both_kinds!(a_denied_delete_is_said_in_the_status_and_an_event_and_retried);

async fn a_denied_delete_is_said_in_the_status_and_an_event_and_retried<K: Kind>() {
    let action = K::DELETE_ACTION.rsplit(':').next().unwrap();
    let deny = Rule::parse(&format!("{action}:deny=1")).unwrap();
    let f = start(vec![deny], 1, Duration::from_secs(2)).await;
    f.create::<K>(K::NAME, &json!({"deletionPolicy": "Delete"}))
        .await;
    f.wait_ready_within::<K>(K::NAME, Duration::from_mins(1))
        .await;
    let objects: Api<K::Object> = Api::namespaced(f.op.client.clone(), NS);
    objects
        .delete(K::NAME, &DeleteParams::default())
        .await
        .expect("delete");

    eventually("the status says the delete is denied", || async {
        objects
            .get_opt(K::NAME)
            .await
            .unwrap()
            .is_some_and(|object| {
                condition::<K>(&object, "Ready").is_some_and(|(status, reason, message)| {
                    status == "False"
                        && reason == reasons::AWS_ACCESS_DENIED
                        && message.contains(K::DELETE_ACTION)
                })
            })
    })
    .await;
    eventually_event(
        "a Warning Event names the denied call",
        &f.op.client,
        NS,
        "Warning",
        reasons::AWS_ACCESS_DENIED,
        K::DELETE_ACTION,
    )
    .await;
    eventually_counted_error(f.op.http, K::CONTROLLER, "access_denied").await;
    let id = aws_id::<K>(K::NAME);
    assert_eq!(
        f.resources::<K>(&id).await,
        std::slice::from_ref(&id),
        "the resource stands"
    );

    f.proxy.set_rules(Vec::new());
    eventually("the object is gone once the delete is allowed", || async {
        objects.get_opt(K::NAME).await.unwrap().is_none()
    })
    .await;
}
