//! A change to a shared volume that the API server would refuse on its claim (upstream
//! `ValidatePersistentVolumeClaimUpdate`: "spec is immutable after creation except
//! resources.requests and volumeAttributesClassName for bound claims") is not sent:
//! the app is Stalled on it and says so once in a Warning Event; the emulator refuses
//! the same change made directly, as EKS would.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::operator_volumes::{ask_for_another_class, claim, start_with_claim};
use crate::support::operator::{condition, eventually};
use crate::support::operator::{events, has_event};

const NS: &str = "shop";
const REFUSED: &str = "PersistentVolumeClaim/newsread-files: storageClassName";

/// How many times the refusal was told (an Event's `deprecatedCount` counts repeats).
async fn refusals(client: &kube::Client) -> i32 {
    events(client, NS)
        .await
        .iter()
        .filter(|e| has_event(std::slice::from_ref(*e), "Warning", "InvalidSpec", REFUSED))
        .map(|e| e.deprecated_count.unwrap_or(1).max(1))
        .sum()
}

#[tokio::test]
async fn a_refused_claim_change_stalls_the_app_with_one_warning_event_and_the_api_server_refuses_it_too()
 {
    let (op, apps) = start_with_claim().await;

    // What the API server says to the change itself.
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(op.client.clone(), NS);
    let direct = claims
        .patch(
            "newsread-files",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"storageClassName": "gp3"}})),
        )
        .await
        .expect_err("the API server refuses another class");
    let kube::Error::Api(status) = direct else {
        panic!("{direct}");
    };
    assert_eq!(status.code, 422);
    assert!(
        status
            .message
            .contains("spec is immutable after creation except resources.requests"),
        "{}",
        status.message
    );

    // The same change through the app: not sent, Stalled, one Warning Event.
    let before = ask_for_another_class(&op, &apps).await;
    eventually("a Warning Event names the claim and the field", || async {
        refusals(&op.client).await > 0
    })
    .await;
    let app = apps.get("newsread").await.unwrap();
    let (stalled, reason, message) = condition(&app, "Stalled").unwrap();
    assert_eq!((stalled.as_str(), reason.as_str()), ("True", "InvalidSpec"));
    assert!(message.contains(REFUSED), "{message}");
    assert_eq!(
        claim(&op.client).await.unwrap().resource_version(),
        before.resource_version(),
        "the claim was not written"
    );
    // Resyncs (every second) do not repeat it.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(refusals(&op.client).await, 1);
    op.stop().await;
}
