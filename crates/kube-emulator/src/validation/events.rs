//! Event validation after `k8s.io/kubernetes/pkg/apis/core/validation/events.go`, for both
//! APIs that store Events: core/v1 gets only the legacy rules (limits apply to "new"
//! Events, those with `eventTime`), events.k8s.io/v1 the strict ones on top (`eventTime`
//! required, `type` Normal or Warning, deprecated fields unset, series checked, most fields
//! immutable). Field paths are the internal names upstream reports, whatever the API calls
//! them: a too long events.k8s.io `note` is `message: Invalid value: "": can have at most
//! 1024 characters` (the limit counts bytes).

use serde_json::{Value, json};

use super::{each_invalid, format, invalid};
use crate::events_conversion::is_zero_scalar;
use crate::schema::FieldError;

/// `ReportingInstanceLengthLimit`, `ActionLengthLimit`, `ReasonLengthLimit`.
pub const SHORT_FIELD_LIMIT: usize = 128;
/// `NoteLengthLimit`: an Event's note (core/v1 `message`), in bytes.
pub const NOTE_LENGTH_LIMIT: usize = 1024;

/// Where the internal Event fields live in each API's JSON.
struct Fields {
    message: &'static str,
    involved_object: &'static str,
    reporting_controller: &'static str,
    source: &'static str,
    first_timestamp: &'static str,
    last_timestamp: &'static str,
    count: &'static str,
}

const CORE_V1: Fields = Fields {
    message: "message",
    involved_object: "involvedObject",
    reporting_controller: "reportingComponent",
    source: "source",
    first_timestamp: "firstTimestamp",
    last_timestamp: "lastTimestamp",
    count: "count",
};

const EVENTS_V1: Fields = Fields {
    message: "note",
    involved_object: "regarding",
    reporting_controller: "reportingController",
    source: "deprecatedSource",
    first_timestamp: "deprecatedFirstTimestamp",
    last_timestamp: "deprecatedLastTimestamp",
    count: "deprecatedCount",
};

fn text<'a>(event: &'a Value, key: &str) -> &'a str {
    event[key].as_str().unwrap_or_default()
}

fn required(path: &str) -> FieldError {
    super::required(path, "")
}

/// Whether a value is Go's zero value once decoded (absent, null, "", 0, false, {}).
fn is_zero(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.values().all(is_zero),
        scalar => is_zero_scalar(scalar),
    }
}

/// `apiequality.Semantic.DeepEqual` over JSON: zero values and absent fields are equal.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => x.keys().chain(y.keys()).all(|key| {
            same(
                &x.get(key).cloned().unwrap_or(Value::Null),
                &y.get(key).cloned().unwrap_or(Value::Null),
            )
        }),
        _ if is_zero(a) && is_zero(b) => true,
        _ => a == b,
    }
}

/// `legacyValidateEvent`, for both APIs.
fn legacy(event: &Value, fields: &Fields) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let namespace = event["metadata"]["namespace"].as_str().unwrap_or_default();
    let involved_namespace = event[fields.involved_object]["namespace"]
        .as_str()
        .unwrap_or_default();
    let mismatch = || {
        invalid(
            "involvedObject.namespace",
            json!(involved_namespace),
            "does not match event.namespace",
        )
    };
    if is_zero(&event["eventTime"]) {
        let matches = if involved_namespace.is_empty() {
            namespace.is_empty() || namespace == "default"
        } else {
            namespace == involved_namespace
        };
        if !matches {
            errors.push(mismatch());
        }
    } else {
        if involved_namespace.is_empty() && namespace != "default" && namespace != "kube-system" {
            errors.push(mismatch());
        }
        let controller = text(event, fields.reporting_controller);
        if controller.is_empty() {
            errors.push(required("reportingController"));
        }
        errors.extend(each_invalid(
            "reportingController",
            controller,
            format::qualified_name(controller),
        ));
        for (path, key, limit) in [
            ("reportingInstance", "reportingInstance", SHORT_FIELD_LIMIT),
            ("action", "action", SHORT_FIELD_LIMIT),
            ("reason", "reason", SHORT_FIELD_LIMIT),
        ] {
            let value = text(event, key);
            if value.is_empty() {
                errors.push(required(path));
            }
            if value.len() > limit {
                errors.push(invalid(
                    path,
                    json!(""),
                    format!("can have at most {limit} characters"),
                ));
            }
        }
        if text(event, fields.message).len() > NOTE_LENGTH_LIMIT {
            errors.push(invalid(
                "message",
                json!(""),
                format!("can have at most {NOTE_LENGTH_LIMIT} characters"),
            ));
        }
    }
    errors.extend(each_invalid(
        "namespace",
        namespace,
        format::dns1123_subdomain(namespace),
    ));
    errors
}

/// `validateV1EventSeries`.
fn series(event: &Value) -> Vec<FieldError> {
    let series = &event["series"];
    if series.is_null() {
        return Vec::new();
    }
    let mut errors = Vec::new();
    if series["count"].as_i64().unwrap_or(0) < 2 {
        errors.push(invalid("series.count", json!(""), "should be at least 2"));
    }
    if is_zero(&series["lastObservedTime"]) {
        errors.push(required("series.lastObservedTime"));
    }
    errors
}

/// `ValidateEventCreate` (the name and the rest of `metadata` are checked apart).
pub fn on_create(events_api: bool, event: &Value) -> Vec<FieldError> {
    let fields = if events_api { &EVENTS_V1 } else { &CORE_V1 };
    let mut errors = legacy(event, fields);
    if !events_api {
        return errors;
    }
    errors.extend(series(event));
    if is_zero(&event["eventTime"]) {
        errors.push(required("eventTime"));
    }
    let type_ = text(event, "type");
    if type_ != "Normal" && type_ != "Warning" {
        errors.push(invalid(
            "type",
            json!(""),
            format!("has invalid value: {type_}"),
        ));
    }
    for (path, key) in [
        ("firstTimestamp", fields.first_timestamp),
        ("lastTimestamp", fields.last_timestamp),
        ("count", fields.count),
        ("source", fields.source),
    ] {
        if !is_zero(&event[key]) {
            errors.push(invalid(path, json!(""), "needs to be unset"));
        }
    }
    errors
}

/// `ValidateEventUpdate`: the legacy rules, the series when it changed, and (events.k8s.io
/// only) every identifying field immutable.
pub fn on_update(events_api: bool, event: &Value, old: &Value) -> Vec<FieldError> {
    let fields = if events_api { &EVENTS_V1 } else { &CORE_V1 };
    let mut errors = legacy(event, fields);
    if !events_api {
        return errors;
    }
    if !same(&event["series"], &old["series"]) {
        errors.extend(series(event));
    }
    for (path, key) in [
        ("involvedObject", fields.involved_object),
        ("reason", "reason"),
        ("message", fields.message),
        ("source", fields.source),
        ("firstTimestamp", fields.first_timestamp),
        ("lastTimestamp", fields.last_timestamp),
        ("count", fields.count),
        ("type", "type"),
        ("eventTime", "eventTime"),
        ("action", "action"),
        ("related", "related"),
        ("reportingController", fields.reporting_controller),
        ("reportingInstance", "reportingInstance"),
    ] {
        if !same(&event[key], &old[key]) {
            errors.push(invalid(path, event[key].clone(), "field is immutable"));
        }
    }
    errors
}
