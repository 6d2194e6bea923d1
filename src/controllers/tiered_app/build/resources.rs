//! Requests and limits of a tier's container: the defaults (requests 100m CPU / 128Mi
//! memory, limit 512Mi memory) and the check that no limit is below its request. Pure.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::controllers::tiered_app::build::quantity::parse_quantity;
use crate::controllers::tiered_app::validated::SpecError;

/// CPU request when the user gives none.
pub const DEFAULT_CPU_REQUEST: &str = "100m";
/// Memory request when the user gives none.
pub const DEFAULT_MEMORY_REQUEST: &str = "128Mi";
/// Memory limit when the user gives none (raised to the request when that is larger).
pub const DEFAULT_MEMORY_LIMIT: &str = "512Mi";

/// Fills in default requests and limits and checks that no limit is below its request.
pub fn resolve_resources(
    field: &str,
    resources: Option<&ResourceRequirements>,
    errors: &mut Vec<SpecError>,
) -> ResourceRequirements {
    let mut requests = resources
        .and_then(|r| r.requests.clone())
        .unwrap_or_default();
    let mut limits = resources.and_then(|r| r.limits.clone()).unwrap_or_default();
    let mut parse = |section: &str, key: &str, quantity: &Quantity| {
        let parsed = parse_quantity(&quantity.0);
        if parsed.is_none() {
            errors.push(SpecError::new(
                format!("{field}.{section}.{key}"),
                format!(
                    "{:?} is not a Kubernetes quantity; write e.g. 250m or 512Mi",
                    quantity.0
                ),
            ));
        }
        parsed
    };
    let mut parsed_requests = BTreeMap::new();
    let mut parsed_limits = BTreeMap::new();
    for (key, quantity) in &requests {
        if let Some(value) = parse("requests", key, quantity) {
            parsed_requests.insert(key.clone(), value);
        }
    }
    for (key, quantity) in &limits {
        if let Some(value) = parse("limits", key, quantity) {
            parsed_limits.insert(key.clone(), value);
        }
    }
    for (key, request) in &parsed_requests {
        if parsed_limits.get(key).is_some_and(|limit| limit < request) {
            errors.push(SpecError::new(
                format!("{field}.limits.{key}"),
                format!(
                    "{} is below the request {}; raise the limit or lower the request",
                    limits.get(key).map_or("", |q| q.0.as_str()),
                    requests.get(key).map_or("", |q| q.0.as_str()),
                ),
            ));
        }
    }
    // A missing request defaults to the built-in default, capped at the limit when one
    // is given (Kubernetes would otherwise copy the limit, so this never exceeds it).
    for (key, default) in [
        ("cpu", DEFAULT_CPU_REQUEST),
        ("memory", DEFAULT_MEMORY_REQUEST),
    ] {
        if requests.contains_key(key) {
            continue;
        }
        let default_value = parse_quantity(default).unwrap_or_default();
        let value = match (limits.get(key), parsed_limits.get(key)) {
            (Some(limit), Some(parsed)) if *parsed < default_value => limit.clone(),
            _ => Quantity(default.to_owned()),
        };
        requests.insert(key.to_owned(), value);
    }
    // Without a memory limit a leaking pod takes the node down: default 512Mi, or the
    // request when that is larger. CPU stays unlimited (throttling hurts latency more
    // than it protects neighbours).
    if !limits.contains_key("memory") {
        let default_limit = parse_quantity(DEFAULT_MEMORY_LIMIT).unwrap_or_default();
        let request = requests.get("memory").cloned();
        let value = match request {
            Some(request) if parse_quantity(&request.0).is_some_and(|v| v > default_limit) => {
                request
            }
            _ => Quantity(DEFAULT_MEMORY_LIMIT.to_owned()),
        };
        limits.insert("memory".to_owned(), value);
    }
    ResourceRequirements {
        claims: resources.and_then(|r| r.claims.clone()),
        limits: Some(limits),
        requests: Some(requests),
    }
}
