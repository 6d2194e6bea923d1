//! Spec rules of the networking kinds the operator writes, after
//! `pkg/apis/core/validation` (`ValidateService`) and `pkg/apis/networking/validation`
//! (`ValidateIngressCreate`, `ValidateNetworkPolicy`): Service ports and types, an
//! allocated cluster IP that never changes, Ingress paths with a required `pathType`,
//! `NetworkPolicy` policy types and port protocols.

use std::collections::BTreeSet;

use serde_json::Value;

use super::workloads::port_number;
use super::{each_invalid, format, invalid, not_supported, required, unique_label};
use crate::schema::FieldError;

const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];

/// `ValidatePortNumOrName`: a port number, or an `IANA_SVC_NAME`.
fn port_number_or_name(path: &str, value: &Value) -> Vec<FieldError> {
    match value {
        Value::String(name) => each_invalid(path, name, format::port_name(name)),
        other => port_number(path, other).into_iter().collect(),
    }
}

fn protocol(path: &str, value: &Value) -> Option<FieldError> {
    match value.as_str() {
        None | Some("") => Some(required(path, "")),
        Some(p) if !PROTOCOLS.contains(&p) => Some(not_supported(path, p, PROTOCOLS)),
        Some(_) => None,
    }
}

/// `ValidateService` (its port, type and affinity rules) and, on update, the cluster IP
/// that may not change once allocated.
pub fn service(object: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let spec = &object["spec"];
    let mut errors = Vec::new();
    let type_ = spec["type"].as_str().unwrap_or_default();
    let headless = spec["clusterIP"].as_str() == Some("None");
    let ports = spec["ports"].as_array().cloned().unwrap_or_default();
    if ports.is_empty() && !headless && type_ != "ExternalName" {
        errors.push(required("spec.ports", ""));
    }
    let mut names = BTreeSet::new();
    for (index, port) in ports.iter().enumerate() {
        let at = format!("spec.ports[{index}]");
        let name = port["name"].as_str().unwrap_or_default();
        errors.extend(unique_label(
            &format!("{at}.name"),
            name,
            ports.len() > 1,
            &mut names,
        ));
        errors.extend(port_number(&format!("{at}.port"), &port["port"]));
        errors.extend(protocol(&format!("{at}.protocol"), &port["protocol"]));
        errors.extend(port_number_or_name(
            &format!("{at}.targetPort"),
            &port["targetPort"],
        ));
    }
    let service_types = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
    if !service_types.contains(&type_) {
        errors.push(not_supported("spec.type", type_, &service_types));
    }
    let affinity = spec["sessionAffinity"].as_str().unwrap_or_default();
    if !["ClientIP", "None"].contains(&affinity) {
        errors.push(not_supported(
            "spec.sessionAffinity",
            affinity,
            &["ClientIP", "None"],
        ));
    }
    if let Some(old_ip) = old.and_then(|o| o["spec"]["clusterIP"].as_str())
        && spec["clusterIP"].as_str().is_some_and(|ip| ip != old_ip)
    {
        errors.push(invalid(
            "spec.clusterIPs[0]",
            spec["clusterIPs"].clone(),
            "may not change once set",
        ));
    }
    errors
}

/// networking/v1 `validateHTTPIngressPath`: `pathType` is required (v1 has no default),
/// one of the three types, and `Exact`/`Prefix` paths are absolute and clean.
pub fn ingress(object: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (rule_index, rule) in object["spec"]["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let paths = rule["http"]["paths"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for (index, path) in paths.iter().enumerate() {
            let at = format!("spec.rules[{rule_index}].http.paths[{index}]");
            errors.extend(http_path(&at, path));
        }
    }
    errors
}

fn http_path(at: &str, path: &Value) -> Vec<FieldError> {
    let text = path["path"].as_str().unwrap_or_default();
    let bad_path = |detail: String| invalid(&format!("{at}.path"), Value::from(text), detail);
    let mut errors = Vec::new();
    match path["pathType"].as_str() {
        None => errors.push(required(
            &format!("{at}.pathType"),
            "pathType must be specified",
        )),
        Some("Exact" | "Prefix") => {
            if !text.starts_with('/') {
                errors.push(bad_path("must be an absolute path".to_owned()));
            }
            for sequence in ["//", "/./", "/../", "%2f", "%2F"] {
                if text.contains(sequence) {
                    errors.push(bad_path(format!("must not contain '{sequence}'")));
                }
            }
            for suffix in ["/..", "/."] {
                if text.ends_with(suffix) {
                    errors.push(bad_path(format!("cannot end with '{suffix}'")));
                }
            }
        }
        Some("ImplementationSpecific") => {
            if !text.is_empty() && !text.starts_with('/') {
                errors.push(bad_path("must be an absolute path".to_owned()));
            }
        }
        Some(other) => errors.push(not_supported(
            &format!("{at}.pathType"),
            other,
            &["Exact", "ImplementationSpecific", "Prefix"],
        )),
    }
    errors
}

/// networking/v1 `ValidateNetworkPolicySpec`: policy types and port protocols.
pub fn network_policy(object: &Value) -> Vec<FieldError> {
    let spec = &object["spec"];
    let mut errors = Vec::new();
    let types = spec["policyTypes"].as_array().cloned().unwrap_or_default();
    for (index, policy_type) in types.iter().enumerate() {
        let value = policy_type.as_str().unwrap_or_default();
        if !["Egress", "Ingress"].contains(&value) {
            errors.push(not_supported(
                &format!("spec.policyTypes[{index}]"),
                value,
                &["Egress", "Ingress"],
            ));
        }
    }
    if types.len() > 2 {
        errors.push(invalid(
            "spec.policyTypes",
            Value::Array(types),
            "may not specify more than two policyTypes",
        ));
    }
    for direction in ["ingress", "egress"] {
        for (rule_index, rule) in spec[direction].as_array().into_iter().flatten().enumerate() {
            for (index, port) in rule["ports"].as_array().into_iter().flatten().enumerate() {
                let at = format!("spec.{direction}[{rule_index}].ports[{index}]");
                if let Some(p) = port["protocol"].as_str()
                    && !PROTOCOLS.contains(&p)
                {
                    errors.push(not_supported(&format!("{at}.protocol"), p, PROTOCOLS));
                }
                if !port["port"].is_null() {
                    errors.extend(port_number_or_name(&format!("{at}.port"), &port["port"]));
                }
            }
        }
    }
    errors
}
