//! One storage for both Event APIs, as kube-apiserver keeps them: core/v1 `events` and
//! `events.k8s.io/v1` `events` are two views of the internal core `Event`, so an Event
//! written through one API is read, listed, watched, patched and deleted through the
//! other. The emulator stores Events in their core/v1 form under [`STORE_KEY`] and
//! converts at the edges: [`from_storage`] when serving (`read::served`), [`to_storage`]
//! when writing (after validating the form of the API written through).
//!
//! Upstream sources: `k8s.io/kubernetes/pkg/apis/events/v1/conversion.go`
//! (`Convert_v1_Event_To_core_Event`, `Convert_core_Event_To_v1_Event`: `regarding` ↔
//! `involvedObject`, `note` ↔ `message`, `deprecatedSource`/`deprecatedFirstTimestamp`/
//! `deprecatedLastTimestamp`/`deprecatedCount` ↔ `source`/`firstTimestamp`/
//! `lastTimestamp`/`count`, `reportingController` ↔ core's `reportingComponent`;
//! `AddFieldLabelConversionsForEvent`: the events.k8s.io field labels),
//! `pkg/apis/core/v1/conversion.go` (`AddFieldLabelConversionsForEvent`: the core labels)
//! and `pkg/registry/core/event/strategy.go` (`ToSelectableFields`: `source` is
//! `source.component`, else the reporting controller).
//!
//! Each form is written as Go's `encoding/json` writes the versioned struct: fields that
//! are not `omitempty` (or are structs, which `omitempty` never drops) are always there
//! (core `involvedObject: {}`, `reportingComponent: ""`, `eventTime: null`, events.k8s.io
//! `regarding: {}`, `deprecatedSource: {}`), empty `omitempty` fields are left out, and
//! fields neither API has are dropped, as decoding into the struct drops them.

use serde_json::{Map, Value};

use crate::resources::ResourceType;
use crate::selectors::Field;

/// Where Events of both APIs are stored: the core resource's store key.
pub const STORE_KEY: &str = "/events";
/// The group of the newer Event API.
pub const EVENTS_GROUP: &str = "events.k8s.io";

/// How Go writes a field of the versioned struct when it is empty.
#[derive(Debug, Clone, Copy)]
enum Empty {
    /// `omitempty` on a string, number or pointer: left out.
    Omit,
    /// A struct (`omitempty` has no effect): `{}`.
    Object,
    /// A `metav1.Time`/`MicroTime`: `null`.
    Null,
    /// A string without `omitempty`: `""`.
    Text,
}

/// Every field of the Event, `(core/v1 name, events.k8s.io/v1 name, empty in core, empty
/// in events.k8s.io)`; `metadata` is carried as is.
const FIELDS: &[(&str, &str, Empty, Empty)] = &[
    ("involvedObject", "regarding", Empty::Object, Empty::Object),
    ("reason", "reason", Empty::Omit, Empty::Omit),
    ("message", "note", Empty::Omit, Empty::Omit),
    ("source", "deprecatedSource", Empty::Object, Empty::Object),
    (
        "firstTimestamp",
        "deprecatedFirstTimestamp",
        Empty::Null,
        Empty::Null,
    ),
    (
        "lastTimestamp",
        "deprecatedLastTimestamp",
        Empty::Null,
        Empty::Null,
    ),
    ("count", "deprecatedCount", Empty::Omit, Empty::Omit),
    ("type", "type", Empty::Omit, Empty::Omit),
    ("eventTime", "eventTime", Empty::Null, Empty::Null),
    ("series", "series", Empty::Omit, Empty::Omit),
    ("action", "action", Empty::Omit, Empty::Omit),
    ("related", "related", Empty::Omit, Empty::Omit),
    (
        "reportingComponent",
        "reportingController",
        Empty::Text,
        Empty::Omit,
    ),
    (
        "reportingInstance",
        "reportingInstance",
        Empty::Text,
        Empty::Omit,
    ),
];

/// Whether `rt` is one of the two built-in Event resources.
pub fn is_event(rt: &ResourceType) -> bool {
    !rt.custom && rt.kind == "Event" && (rt.group.is_empty() || rt.group == EVENTS_GROUP)
}

/// Whether `rt` is the `events.k8s.io` Event resource.
fn is_events_api(rt: &ResourceType) -> bool {
    is_event(rt) && rt.group == EVENTS_GROUP
}

/// Whether `value` is Go's zero value of a scalar (what `omitempty` leaves out): null,
/// `""`, 0 or false. An object or array never is (a struct, or a pointer to one, is
/// written whatever it holds).
pub(crate) fn is_zero_scalar(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Bool(b) => !b,
        Value::Array(_) | Value::Object(_) => false,
    }
}

/// Rewrites an Event into one API's form: `api_version`, reading each field under its
/// name in the other form (`from_events`: the input is in the events.k8s.io form).
fn convert(object: Value, api_version: &str, from_events: bool) -> Value {
    let Value::Object(mut input) = object else {
        return object;
    };
    let mut out = Map::new();
    out.insert(
        "apiVersion".to_owned(),
        Value::String(api_version.to_owned()),
    );
    out.insert("kind".to_owned(), Value::String("Event".to_owned()));
    out.insert(
        "metadata".to_owned(),
        input
            .remove("metadata")
            .unwrap_or_else(|| Value::Object(Map::new())),
    );
    let to_events = api_version != "v1";
    for &(core, events, core_empty, events_empty) in FIELDS {
        let source = if from_events { events } else { core };
        let (target, empty) = if to_events {
            (events, events_empty)
        } else {
            (core, core_empty)
        };
        let value = input.remove(source).filter(|v| !v.is_null());
        let value = match (value, empty) {
            (Some(v), Empty::Omit) if is_zero_scalar(&v) => None,
            (Some(v), _) => Some(v),
            (None, Empty::Omit) => None,
            (None, Empty::Object) => Some(Value::Object(Map::new())),
            (None, Empty::Null) => Some(Value::Null),
            (None, Empty::Text) => Some(Value::String(String::new())),
        };
        if let Some(value) = value {
            out.insert(target.to_owned(), value);
        }
    }
    Value::Object(out)
}

/// The stored (core/v1) form of an object written through `rt`; objects of other
/// resources are stored as written.
pub fn to_storage(rt: &ResourceType, object: Value) -> Value {
    if !is_event(rt) {
        return object;
    }
    convert(object, "v1", is_events_api(rt))
}

/// A stored object in the form `rt` serves; objects of other resources as stored.
pub fn from_storage(rt: &ResourceType, object: Value) -> Value {
    if !is_event(rt) {
        return object;
    }
    convert(object, &rt.api_version(), false)
}

/// An object written through `rt` as it will read back through `rt` once stored (for
/// Events: Go's shape, unknown fields dropped); other objects unchanged.
pub fn normalize(rt: &ResourceType, object: Value) -> Value {
    if !is_event(rt) {
        return object;
    }
    from_storage(rt, to_storage(rt, object))
}

/// `source` of a stored Event as a field selector reads it: `source.component`, else the
/// reporting controller (core `reportingComponent`).
fn event_source(event: &Value) -> String {
    [&event["source"]["component"], &event["reportingComponent"]]
        .into_iter()
        .filter_map(Value::as_str)
        .find(|s| !s.is_empty())
        .unwrap_or_default()
        .to_owned()
}

/// The field of a stored Event a field selector `label` of `rt`'s API reads, `None` for
/// labels that API does not support (`metadata.name` and `metadata.namespace` are every
/// kind's, resolved apart). events.k8s.io labels name their field as that API does
/// (`regarding.uid`, `reportingController`), core/v1 labels as core does.
pub fn field_label(rt: &ResourceType, label: &str) -> Option<Field> {
    const OBJECT_FIELDS: &[&str] = &[
        "kind",
        "namespace",
        "name",
        "uid",
        "apiVersion",
        "resourceVersion",
        "fieldPath",
    ];
    let (object, controller) = if is_events_api(rt) {
        ("regarding.", "reportingController")
    } else {
        ("involvedObject.", "reportingComponent")
    };
    let core_label = if let Some(field) = label.strip_prefix(object) {
        if !OBJECT_FIELDS.contains(&field) {
            return None;
        }
        format!("involvedObject.{field}")
    } else if label == controller {
        "reportingComponent".to_owned()
    } else if matches!(label, "reason" | "type") {
        label.to_owned()
    } else if label == "source" {
        return Some(Field::Computed(event_source));
    } else {
        return None;
    };
    Some(Field::Path(core_label))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::resources::builtins;

    fn event_type(group: &str) -> ResourceType {
        builtins()
            .into_iter()
            .find(|r| r.kind == "Event" && r.group == group)
            .unwrap_or_else(|| panic!("no Event in {group:?}"))
    }

    // Upstream `Convert_v1_Event_To_core_Event` and back: every field of one form has its
    // place in the other, so an events.k8s.io Event survives the round trip.
    #[test]
    fn an_events_v1_event_round_trips_through_the_core_form() {
        let events = event_type(EVENTS_GROUP);
        // Every field an events.k8s.io Event can carry: (its name there, its name in the
        // core form, a value).
        let fields = [
            (
                "eventTime",
                "eventTime",
                json!("2025-01-01T00:00:00.000000Z"),
            ),
            (
                "series",
                "series",
                json!({"count": 2, "lastObservedTime": "2025-01-01T00:00:01.000000Z"}),
            ),
            (
                "reportingController",
                "reportingComponent",
                json!("tiered.io/operator"),
            ),
            ("reportingInstance", "reportingInstance", json!("tiered-0")),
            ("action", "action", json!("Apply")),
            ("reason", "reason", json!("Updated")),
            ("type", "type", json!("Normal")),
            ("note", "message", json!("ok")),
            (
                "regarding",
                "involvedObject",
                json!({"kind": "ConfigMap", "name": "c", "uid": "u"}),
            ),
            ("related", "related", json!({"kind": "Secret", "name": "s"})),
            ("deprecatedSource", "source", json!({"component": "x"})),
            (
                "deprecatedFirstTimestamp",
                "firstTimestamp",
                json!("2025-01-01T00:00:00Z"),
            ),
            (
                "deprecatedLastTimestamp",
                "lastTimestamp",
                json!("2025-01-01T00:00:02Z"),
            ),
            ("deprecatedCount", "count", json!(3)),
        ];
        let metadata = json!({"name": "e", "namespace": "default"});
        let mut written =
            json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": metadata});
        let mut core = json!({"apiVersion": "v1", "kind": "Event", "metadata": metadata});
        for (events_name, core_name, value) in fields {
            written[events_name] = value.clone();
            core[core_name] = value;
        }
        let expected = written.clone();
        written["unknown"] = json!(true);
        let stored = to_storage(&events, written);
        assert_eq!(stored, core);
        assert_eq!(from_storage(&events, stored), expected);
    }

    // Go's encoding of the versioned structs: non-omitempty and struct fields always
    // written, empty omitempty fields left out.
    #[test]
    fn each_form_has_the_fields_go_always_writes() {
        let core = event_type("");
        let events = event_type(EVENTS_GROUP);
        let stored = to_storage(
            &core,
            json!({"metadata": {"name": "e"}, "reason": "Started", "count": 0, "message": ""}),
        );
        assert_eq!(
            stored,
            json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"},
                "involvedObject": {}, "reason": "Started", "source": {},
                "firstTimestamp": null, "lastTimestamp": null, "eventTime": null,
                "reportingComponent": "", "reportingInstance": ""})
        );
        assert_eq!(
            from_storage(&events, stored),
            json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e"},
                "regarding": {}, "reason": "Started", "deprecatedSource": {},
                "deprecatedFirstTimestamp": null, "deprecatedLastTimestamp": null,
                "eventTime": null})
        );
    }

    // Upstream `AddFieldLabelConversionsForEvent` of each API and `ToSelectableFields`.
    #[test]
    fn each_api_selects_by_its_own_field_names() {
        let core = event_type("");
        let events = event_type(EVENTS_GROUP);
        let path = |rt: &ResourceType, label: &str| match field_label(rt, label) {
            Some(Field::Path(path)) => Some(path),
            _ => None,
        };
        assert_eq!(
            path(&core, "involvedObject.uid").as_deref(),
            Some("involvedObject.uid")
        );
        assert_eq!(
            path(&events, "regarding.uid").as_deref(),
            Some("involvedObject.uid")
        );
        assert_eq!(
            path(&events, "reportingController").as_deref(),
            Some("reportingComponent")
        );
        assert_eq!(
            path(&core, "reportingComponent").as_deref(),
            Some("reportingComponent")
        );
        for (rt, label) in [
            (&core, "regarding.uid"),
            (&core, "reportingController"),
            (&events, "involvedObject.uid"),
            (&events, "reportingComponent"),
            (&events, "note"),
            (&core, "involvedObject.other"),
        ] {
            assert!(field_label(rt, label).is_none(), "{label}");
        }
        let Some(Field::Computed(source)) = field_label(&events, "source") else {
            panic!("source is computed");
        };
        assert_eq!(source(&json!({"reportingComponent": "ctl"})), "ctl");
        assert_eq!(
            source(&json!({"source": {"component": "kubelet"}, "reportingComponent": "ctl"})),
            "kubelet"
        );
    }
}
