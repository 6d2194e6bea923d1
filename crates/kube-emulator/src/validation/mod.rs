//! Validation of writes as kube-apiserver's registry strategies do it before storing:
//! every object's `metadata` (apimachinery's `ValidateObjectMeta`: the kind's name format,
//! labels, annotations, ownerReferences, finalizers) and the spec rules of the built-in
//! kinds the operator writes (Events, Deployments, Services, HPAs, PDBs, Ingresses,
//! NetworkPolicies, Secrets, `ConfigMaps`, PersistentVolumeClaims). Failures are `FieldError`s with the real field
//! paths and messages; the write handlers turn them into `422 Invalid`.
//!
//! Layout: [`format`](mod@format) the apimachinery string formats, [`object_meta`], [`events`],
//! `workloads` (Deployment, HPA, PDB), `network` (Service, Ingress, `NetworkPolicy`),
//! `config` (Secret, `ConfigMap`), [`storage`] (PersistentVolumeClaim updates). Pure
//! functions over JSON.

mod config;
pub mod events;
pub mod format;
mod network;
pub mod object_meta;
pub mod storage;
mod workloads;

use std::collections::BTreeSet;

use serde_json::Value;

use crate::resources::ResourceType;
use crate::schema::{FieldError, FieldErrorKind};
use crate::status::ApiError;

fn invalid(path: &str, value: Value, detail: impl Into<String>) -> FieldError {
    FieldError::new(FieldErrorKind::Invalid, path, Some(value), detail)
}

fn required(path: &str, detail: &str) -> FieldError {
    FieldError::new(FieldErrorKind::Required, path, None, detail)
}

fn not_supported(path: &str, value: &str, supported: &[&str]) -> FieldError {
    let quoted: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
    FieldError::new(
        FieldErrorKind::NotSupported,
        path,
        Some(Value::String(value.to_owned())),
        format!("supported values: {}", quoted.join(", ")),
    )
}

/// `field.Invalid` for every message of a format check.
fn each_invalid(path: &str, value: &str, messages: Vec<String>) -> Vec<FieldError> {
    messages
        .into_iter()
        .map(|m| invalid(path, Value::String(value.to_owned()), m))
        .collect()
}

/// A DNS-1123 label name unique among its siblings (`seen`): a container's, a Service
/// port's. Empty is `Required` when `needed`, else fine.
fn unique_label<'a>(
    path: &str,
    name: &'a str,
    needed: bool,
    seen: &mut BTreeSet<&'a str>,
) -> Vec<FieldError> {
    if name.is_empty() {
        return if needed {
            vec![required(path, "")]
        } else {
            Vec::new()
        };
    }
    let mut errors = each_invalid(path, name, format::dns1123_label(name));
    if !seen.insert(name) {
        errors.push(FieldError::new(
            FieldErrorKind::Duplicate,
            path,
            Some(Value::String(name.to_owned())),
            "",
        ));
    }
    errors
}

/// `ValidateNonnegativeField`.
fn nonnegative(path: &str, value: &Value) -> Option<FieldError> {
    value
        .as_i64()
        .filter(|n| *n < 0)
        .map(|n| invalid(path, Value::from(n), "must be greater than or equal to 0"))
}

/// The field errors of a write of a built-in kind (`old`: the stored object on update).
/// `metadata` is checked for every kind; custom resources get their schema checked apart.
pub fn errors(rt: &ResourceType, object: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut errors = match old {
        None => object_meta::on_create(rt, object),
        Some(_) => object_meta::on_update(object),
    };
    if rt.custom {
        return errors;
    }
    let events_api = rt.group == "events.k8s.io";
    errors.extend(match (rt.group.as_str(), rt.kind.as_str(), old) {
        ("" | "events.k8s.io", "Event", None) => events::on_create(events_api, object),
        ("" | "events.k8s.io", "Event", Some(old)) => events::on_update(events_api, object, old),
        ("apps", "Deployment", _) => workloads::deployment(object, old),
        ("autoscaling", "HorizontalPodAutoscaler", _) => workloads::hpa(object),
        ("policy", "PodDisruptionBudget", _) => workloads::pdb(object),
        ("", "Service", _) => network::service(object, old),
        ("networking.k8s.io", "Ingress", _) => network::ingress(object),
        ("networking.k8s.io", "NetworkPolicy", _) => network::network_policy(object),
        ("", "Secret", _) => config::secret(object, old),
        ("", "ConfigMap", _) => config::config_map(object),
        ("apiextensions.k8s.io", "CustomResourceDefinition", _) => {
            crate::schema::cel_cost::crd_errors(object, old)
        }
        ("", "PersistentVolumeClaim", Some(old)) => {
            storage::persistent_volume_claim_update(object, old)
        }
        _ => Vec::new(),
    });
    errors
}

/// The `422 Invalid` the real server answers for `errors`. Events are reported as the
/// core `Event` kind whichever API wrote them, as upstream (both APIs store the internal
/// core type): `Event "x" is invalid: message: …`.
pub fn rejection(rt: &ResourceType, name: &str, errors: &[FieldError]) -> ApiError {
    let group = if rt.kind == "Event" { "" } else { &rt.group };
    ApiError::invalid_kind(group, &rt.kind, name, errors)
}
