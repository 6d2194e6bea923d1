//! `metadata` validation of every kind, after apimachinery's `ValidateObjectMetaAccessor`
//! (create) and `ValidateObjectMetaAccessorUpdate` (update): the name format of the kind's
//! registry strategy, `ValidateLabels`, `ValidateAnnotations` (keys, 256 KiB in total),
//! `ValidateOwnerReferences` (at most one controller) and `ValidateFinalizers`.

use serde_json::{Map, Value, json};

use super::{each_invalid, format, invalid};
use crate::resources::ResourceType;
use crate::schema::{FieldError, FieldErrorKind};

/// `TotalAnnotationSizeLimitB`: keys and values of all annotations together.
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// The `ValidateNameFunc` a kind's registry strategy passes to `ValidateObjectMeta`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// `NameIsDNSSubdomain` (≤ 253): most kinds, custom resources included.
    Subdomain,
    /// `NameIsDNSLabel` (≤ 63): Namespaces.
    Dns1123Label,
    /// `NameIsDNS1035Label` (≤ 63, starts with a letter): Services.
    Dns1035Label,
    /// Only the generic `ValidatePathSegmentName` (no `/`, no `%`, not `.` or `..`): kinds
    /// whose strategy validates no name format (core/v1 Event, PodDisruptionBudget), and
    /// RBAC's `ValidateRBACName` (`system:controller:x` is a valid Role name).
    PathSegment,
}

/// The name rule of `rt` (group and kind as the registry knows them).
pub fn name_rule(rt: &ResourceType) -> NameRule {
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Service") => NameRule::Dns1035Label,
        ("", "Namespace") => NameRule::Dns1123Label,
        ("", "Event") | ("policy", "PodDisruptionBudget") | ("rbac.authorization.k8s.io", _) => {
            NameRule::PathSegment
        }
        _ => NameRule::Subdomain,
    }
}

/// The messages of `rule` for `name` (`prefix`: a `generateName`, whose trailing `-` is
/// allowed).
fn name_messages(rule: NameRule, name: &str, prefix: bool) -> Vec<String> {
    let masked = if prefix {
        format::mask_trailing_dash(name)
    } else {
        name.to_owned()
    };
    match rule {
        NameRule::Subdomain => format::dns1123_subdomain(&masked),
        NameRule::Dns1123Label => format::dns1123_label(&masked),
        NameRule::Dns1035Label => format::dns1035_label(&masked),
        NameRule::PathSegment => format::path_segment_name(name, prefix),
    }
}

/// `metadata` of an object being created: `generateName` and `name` in the kind's format
/// (a CRD's name must also be `<plural>.<group>`), then everything an update checks too.
pub fn on_create(rt: &ResourceType, object: &Value) -> Vec<FieldError> {
    let meta = &object["metadata"];
    let rule = name_rule(rt);
    let mut errors = Vec::new();
    if let Some(generate) = meta["generateName"].as_str().filter(|g| !g.is_empty()) {
        errors.extend(each_invalid(
            "metadata.generateName",
            generate,
            name_messages(rule, generate, true),
        ));
    }
    let name = meta["name"].as_str().unwrap_or_default();
    let mut messages = name_messages(rule, name, false);
    if rt.group == "apiextensions.k8s.io" && rt.kind == "CustomResourceDefinition" {
        let spec = &object["spec"];
        let required = format!(
            "{}.{}",
            spec["names"]["plural"].as_str().unwrap_or_default(),
            spec["group"].as_str().unwrap_or_default()
        );
        if name != required {
            messages.push("must be spec.names.plural+\".\"+spec.group".to_owned());
        }
    }
    errors.extend(each_invalid("metadata.name", name, messages));
    errors.extend(on_update(object));
    errors
}

/// `metadata` of any write: labels, annotations, ownerReferences and finalizers.
pub fn on_update(object: &Value) -> Vec<FieldError> {
    let meta = &object["metadata"];
    let empty = Map::new();
    let map = |key: &str| meta[key].as_object().unwrap_or(&empty).clone();
    let mut errors = labels(&map("labels"), "metadata.labels");
    errors.extend(annotations(&map("annotations")));
    errors.extend(owner_references(&meta["ownerReferences"]));
    errors.extend(finalizers(&meta["finalizers"]));
    errors
}

/// `ValidateLabels`: every key a qualified name, every value a label value; the path is
/// the map's (`metadata.labels`), as upstream reports it.
pub fn labels(labels: &Map<String, Value>, path: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (key, value) in labels {
        errors.extend(each_invalid(path, key, format::qualified_name(key)));
        let text = value.as_str().unwrap_or_default();
        errors.extend(each_invalid(path, text, format::label_value(text)));
    }
    errors
}

/// `ValidateAnnotations`: keys are qualified names (case does not matter); keys and values
/// together at most [`TOTAL_ANNOTATION_SIZE_LIMIT`] bytes.
fn annotations(annotations: &Map<String, Value>) -> Vec<FieldError> {
    let path = "metadata.annotations";
    let mut errors = Vec::new();
    let mut total = 0;
    for (key, value) in annotations {
        errors.extend(each_invalid(
            path,
            key,
            format::qualified_name(&key.to_lowercase()),
        ));
        total += key.len() + value.as_str().map_or(0, str::len);
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errors.push(FieldError::new(
            FieldErrorKind::TooLong,
            path,
            None,
            format!("must have at most {TOTAL_ANNOTATION_SIZE_LIMIT} bytes"),
        ));
    }
    errors
}

/// `ValidateOwnerReferences`: each reference names a version, kind, name and uid, no
/// core/v1 Event owns anything, and only one reference has `controller: true`.
fn owner_references(references: &Value) -> Vec<FieldError> {
    let path = "metadata.ownerReferences";
    let Some(list) = references.as_array() else {
        return Vec::new();
    };
    let mut errors = Vec::new();
    let mut first_controller: Option<String> = None;
    for reference in list {
        let text = |key: &str| reference[key].as_str().unwrap_or_default().to_owned();
        let (api_version, kind) = (text("apiVersion"), text("kind"));
        let (group, version) = match api_version.split('/').collect::<Vec<_>>().as_slice() {
            [version] => (String::new(), (*version).to_owned()),
            [group, version] => ((*group).to_owned(), (*version).to_owned()),
            _ => (String::new(), String::new()),
        };
        if version.is_empty() {
            errors.push(invalid(
                &format!("{path}.apiVersion"),
                json!(api_version),
                "version must not be empty",
            ));
        }
        for (key, value) in [
            ("kind", &kind),
            ("name", &text("name")),
            ("uid", &text("uid")),
        ] {
            if value.is_empty() {
                errors.push(invalid(
                    &format!("{path}.{key}"),
                    json!(""),
                    "must not be empty",
                ));
            }
        }
        if group.is_empty() && version == "v1" && kind == "Event" {
            errors.push(invalid(
                path,
                reference.clone(),
                "/v1, Kind=Event is disallowed from being an owner",
            ));
        }
        if reference["controller"].as_bool() == Some(true) {
            let current = format!("{kind}/{}", text("name"));
            match &first_controller {
                Some(first) => errors.push(invalid(
                    path,
                    references.clone(),
                    format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {first} and {current}"
                    ),
                )),
                None => first_controller = Some(current),
            }
        }
    }
    errors
}

/// `ValidateFinalizers`: qualified names, and not both `orphan` and `foregroundDeletion`.
fn finalizers(finalizers: &Value) -> Vec<FieldError> {
    let path = "metadata.finalizers";
    let names: Vec<&str> = finalizers
        .as_array()
        .map(|list| list.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut errors: Vec<FieldError> = names
        .iter()
        .flat_map(|name| each_invalid(path, name, format::qualified_name(name)))
        .collect();
    if names.contains(&"orphan") && names.contains(&"foregroundDeletion") {
        errors.push(invalid(
            path,
            finalizers.clone(),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
    errors
}
