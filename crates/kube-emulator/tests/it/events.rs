//! Event validation as `k8s.io/kubernetes/pkg/apis/core/validation/events.go` does it:
//! events.k8s.io/v1 `note` ≤ 1 KiB (bytes), `reason` and `action` required and ≤ 128,
//! `reportingController` a qualified name, `eventTime` and `type` required, only the series
//! may change; core/v1 Events get the same limits once they carry an `eventTime`.

use kube::api::{DynamicObject, Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};

use crate::support::{causes, create, dynamic, invalid, object, refused, start};

/// A valid events.k8s.io/v1 Event named `web.1` about TieredApp `web`, with `fields`
/// merged in.
pub fn event(fields: &Value) -> DynamicObject {
    let mut event = json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "web.1"},
        "eventTime": "2025-01-01T00:00:00.000000Z",
        "regarding": {"kind": "TieredApp", "namespace": "default", "name": "web"},
        "reportingController": "tiered.io/operator", "reportingInstance": "tiered-0",
        "action": "Apply", "reason": "Updated", "type": "Normal", "note": "ok"
    });
    json_patch::merge(&mut event, fields);
    object(event)
}

/// The events.k8s.io/v1 Event API in `default`.
pub fn events_api(emu: &kube_emulator::EmulatorHandle) -> Api<DynamicObject> {
    dynamic(emu, "events.k8s.io", "v1", "Event", "events")
}

// Upstream `NoteLengthLimit` = 1024, counted in bytes (`len(event.Message)`), reported on
// the internal field `message` of the core `Event` kind: `Event "x" is invalid: message:
// Invalid value: "": can have at most 1024 characters`.
#[tokio::test]
async fn an_event_note_holds_at_most_1024_bytes() {
    let emu = start().await;
    let api = events_api(&emu);
    create(&api, &event(&json!({"note": "n".repeat(1024)}))).await;
    let status = refused(
        &api,
        &event(&json!({"metadata": {"name": "long"}, "note": "n".repeat(1025)})),
    )
    .await;
    assert_eq!(
        status.message,
        "Event \"long\" is invalid: message: Invalid value: \"\": can have at most 1024 characters"
    );
    let details = status.details.clone().unwrap();
    assert_eq!(
        (details.kind.as_str(), details.group.as_str()),
        ("Event", "")
    );
    assert_eq!(causes(&status)[0].0, "message");
    // 342 three-byte characters: 342 characters, 1026 bytes.
    let euros = "€".repeat(342);
    refused(
        &api,
        &event(&json!({"metadata": {"name": "euros"}, "note": euros})),
    )
    .await;
}

// Upstream `ReasonLengthLimit`, `ActionLengthLimit` = 128 and both required (there is no
// syntax rule for them); `reportingController` is `IsQualifiedName`.
#[tokio::test]
async fn reason_and_action_are_required_short_and_the_controller_a_qualified_name() {
    let emu = start().await;
    let api = events_api(&emu);
    create(&api, &event(&json!({"reason": "R".repeat(128)}))).await;
    for (fields, field, message) in [
        (
            json!({"reason": "R".repeat(129)}),
            "reason",
            "Invalid value: \"\": can have at most 128 characters",
        ),
        (json!({"reason": null}), "reason", "Required value"),
        (
            json!({"action": "A".repeat(129)}),
            "action",
            "Invalid value: \"\": can have at most 128 characters",
        ),
        (json!({"action": ""}), "action", "Required value"),
        (
            json!({"reportingInstance": "i".repeat(129)}),
            "reportingInstance",
            "Invalid value: \"\": can have at most 128 characters",
        ),
        (
            json!({"reportingController": "tiered operator"}),
            "reportingController",
            "Invalid value: \"tiered operator\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName', or 'my.name', or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
        ),
    ] {
        let mut fields = fields;
        fields["metadata"] = json!({"name": "bad"});
        let status = refused(&api, &event(&fields)).await;
        assert_eq!(causes(&status)[0].0, field, "{}", status.message);
        assert_eq!(causes(&status)[0].2, message);
    }
}

// Upstream `ValidateEventCreate` (events.k8s.io/v1 only): `eventTime` required, `type`
// Normal or Warning, the deprecated fields unset.
#[tokio::test]
async fn an_events_v1_event_has_a_time_a_known_type_and_no_deprecated_fields() {
    let emu = start().await;
    let api = events_api(&emu);
    for (fields, field) in [
        (json!({"eventTime": null}), "eventTime"),
        (json!({"type": "Info"}), "type"),
        (json!({"deprecatedCount": 3}), "count"),
        (json!({"deprecatedSource": {"component": "x"}}), "source"),
    ] {
        let mut fields = fields;
        fields["metadata"] = json!({"name": "bad"});
        let status = refused(&api, &event(&fields)).await;
        assert!(
            causes(&status).iter().any(|c| c.0 == field),
            "{field}: {}",
            status.message
        );
    }
}

// Upstream `ValidateEventUpdate`: the note, reason and the other identifying fields are
// immutable; a series may grow (count ≥ 2, with `lastObservedTime`).
#[tokio::test]
async fn only_the_series_of_an_events_v1_event_changes() {
    let emu = start().await;
    let api = events_api(&emu);
    let created = create(&api, &event(&json!({}))).await;
    let name = created.name_any();
    let params = PatchParams::default();
    let status = invalid(
        api.patch(&name, &params, &Patch::Merge(json!({"note": "changed"})))
            .await,
    );
    assert_eq!(
        status.message,
        "Event \"web.1\" is invalid: message: Invalid value: \"changed\": field is immutable"
    );
    invalid(
        api.patch(&name, &params, &Patch::Merge(json!({"reason": "Other"})))
            .await,
    );
    let status = invalid(
        api.patch(
            &name,
            &params,
            &Patch::Merge(
                json!({"series": {"count": 1, "lastObservedTime": "2025-01-01T00:00:01.000000Z"}}),
            ),
        )
        .await,
    );
    assert_eq!(causes(&status)[0].0, "series.count");
    let grown = api
        .patch(
            &name,
            &params,
            &Patch::Merge(
                json!({"series": {"count": 2, "lastObservedTime": "2025-01-01T00:00:01.000000Z"}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(grown.data["series"]["count"], 2);
}

// Upstream `legacyValidateEvent`: a core/v1 Event with `eventTime` has the note limit on
// `message` (and reportingComponent, action, reason required); one without is an old-style
// Event whose message the server does not limit.
#[tokio::test]
async fn a_core_v1_event_is_limited_once_it_has_an_event_time() {
    let emu = start().await;
    let api = dynamic(&emu, "", "v1", "Event", "events");
    let core = |name: &str, fields: Value| -> DynamicObject {
        let mut event = json!({
            "apiVersion": "v1", "kind": "Event", "metadata": {"name": name},
            "involvedObject": {"kind": "Pod", "namespace": "default", "name": "p"},
            "reason": "Started", "message": "m".repeat(2000), "type": "Normal"
        });
        json_patch::merge(&mut event, &fields);
        object(event)
    };
    create(&api, &core("old-style", json!({}))).await;
    let new_style = json!({"eventTime": "2025-01-01T00:00:00.000000Z", "action": "Start",
        "reportingComponent": "kubelet", "reportingInstance": "node-1"});
    let status = refused(&api, &core("new-style", new_style)).await;
    assert_eq!(causes(&status)[0].0, "message");
    let status = refused(
        &api,
        &core(
            "elsewhere",
            json!({"involvedObject": {"namespace": "other"}}),
        ),
    )
    .await;
    assert_eq!(causes(&status)[0].0, "involvedObject.namespace");
}
