//! Spec rules of the workload kinds the operator writes, after
//! `pkg/apis/apps/validation` (Deployment), `pkg/apis/autoscaling/validation` (HPA) and
//! `pkg/apis/policy/validation` (PDB): the parts an operator can get wrong — replica
//! bounds, a selector that must exist, match the template and never change, container
//! names and ports, `minAvailable` xor `maxUnavailable`.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::{
    each_invalid, format, invalid, nonnegative, not_supported, object_meta, required, unique_label,
};
use crate::schema::FieldError;
use crate::selectors::LabelSelector;

/// apps/v1 `ValidateDeployment` (and, on update, the immutable selector of apps/v1).
pub fn deployment(object: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let spec = &object["spec"];
    let mut errors: Vec<FieldError> = nonnegative("spec.replicas", &spec["replicas"])
        .into_iter()
        .collect();
    let selector = &spec["selector"];
    let selector_size = selector["matchLabels"].as_object().map_or(0, Map::len)
        + selector["matchExpressions"].as_array().map_or(0, Vec::len);
    if selector.is_null() {
        errors.push(required("spec.selector", ""));
    } else if selector_size == 0 {
        errors.push(invalid(
            "spec.selector",
            selector.clone(),
            "empty selector is invalid for deployment",
        ));
    }
    let template_labels = spec["template"]["metadata"]["labels"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    if selector_size > 0
        && !LabelSelector::from_spec(selector)
            .matches(&json!({"metadata": {"labels": template_labels}}))
    {
        errors.push(invalid(
            "spec.template.metadata.labels",
            Value::Object(template_labels.clone()),
            "`selector` does not match template `labels`",
        ));
    }
    errors.extend(object_meta::labels(
        &template_labels,
        "spec.template.metadata.labels",
    ));
    errors.extend(pod_spec(&spec["template"]["spec"], "spec.template.spec"));
    let restart = spec["template"]["spec"]["restartPolicy"]
        .as_str()
        .unwrap_or("Always");
    if restart != "Always" {
        errors.push(not_supported(
            "spec.template.spec.restartPolicy",
            restart,
            &["Always"],
        ));
    }
    for key in [
        "minReadySeconds",
        "revisionHistoryLimit",
        "progressDeadlineSeconds",
    ] {
        errors.extend(nonnegative(&format!("spec.{key}"), &spec[key]));
    }
    if let (Some(deadline), min_ready) = (
        spec["progressDeadlineSeconds"].as_i64(),
        spec["minReadySeconds"].as_i64().unwrap_or(0),
    ) && deadline <= min_ready
    {
        errors.push(invalid(
            "spec.progressDeadlineSeconds",
            Value::from(deadline),
            "must be greater than minReadySeconds",
        ));
    }
    if let Some(old) = old
        && old["spec"]["selector"] != *selector
    {
        errors.push(invalid(
            "spec.selector",
            selector.clone(),
            "field is immutable",
        ));
    }
    errors
}

/// The parts of `ValidatePodSpec` about containers: at least one, each with a unique
/// DNS-1123 label name and an image, ports in range with `IANA_SVC_NAME` names.
fn pod_spec(spec: &Value, path: &str) -> Vec<FieldError> {
    let containers = spec["containers"].as_array().cloned().unwrap_or_default();
    let mut errors = Vec::new();
    if containers.is_empty() {
        errors.push(required(&format!("{path}.containers"), ""));
    }
    let mut names = BTreeSet::new();
    for (index, container) in containers.iter().enumerate() {
        let at = format!("{path}.containers[{index}]");
        let name = container["name"].as_str().unwrap_or_default();
        errors.extend(unique_label(&format!("{at}.name"), name, true, &mut names));
        if container["image"].as_str().is_none_or(str::is_empty) {
            errors.push(required(&format!("{at}.image"), ""));
        }
        for (port_index, port) in container["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let port_at = format!("{at}.ports[{port_index}]");
            errors.extend(port_number(
                &format!("{port_at}.containerPort"),
                &port["containerPort"],
            ));
            if let Some(port_name) = port["name"].as_str().filter(|n| !n.is_empty()) {
                errors.extend(each_invalid(
                    &format!("{port_at}.name"),
                    port_name,
                    format::port_name(port_name),
                ));
            }
        }
    }
    errors
}

/// `IsValidPortNum` on an integer field.
pub(super) fn port_number(path: &str, value: &Value) -> Option<FieldError> {
    let number = value.as_i64().unwrap_or(0);
    (!(1..=65535).contains(&number)).then(|| {
        invalid(
            path,
            Value::from(number),
            "must be between 1 and 65535, inclusive",
        )
    })
}

/// autoscaling/v2 `ValidateHorizontalPodAutoscaler`: replica bounds and the target.
pub fn hpa(object: &Value) -> Vec<FieldError> {
    let spec = &object["spec"];
    let mut errors = Vec::new();
    let min = spec["minReplicas"].as_i64();
    let max = spec["maxReplicas"].as_i64().unwrap_or(0);
    if let Some(min) = min.filter(|m| *m < 1) {
        errors.push(invalid(
            "spec.minReplicas",
            Value::from(min),
            "must be greater than or equal to 1",
        ));
    }
    if max < 1 {
        errors.push(invalid(
            "spec.maxReplicas",
            Value::from(max),
            "must be greater than 0",
        ));
    }
    if min.is_some_and(|min| max < min) {
        errors.push(invalid(
            "spec.maxReplicas",
            Value::from(max),
            "must be greater than or equal to `minReplicas`",
        ));
    }
    for key in ["kind", "name"] {
        if spec["scaleTargetRef"][key]
            .as_str()
            .is_none_or(str::is_empty)
        {
            errors.push(required(&format!("spec.scaleTargetRef.{key}"), ""));
        }
    }
    errors
}

/// policy/v1 `ValidatePodDisruptionBudgetSpec`: not both bounds, each a non-negative
/// number or a percentage of at most 100%.
pub fn pdb(object: &Value) -> Vec<FieldError> {
    let spec = &object["spec"];
    let mut errors = Vec::new();
    if !spec["minAvailable"].is_null() && !spec["maxUnavailable"].is_null() {
        errors.push(invalid(
            "spec",
            spec.clone(),
            "minAvailable and maxUnavailable cannot be both set",
        ));
    }
    for key in ["minAvailable", "maxUnavailable"] {
        let path = format!("spec.{key}");
        match &spec[key] {
            Value::Number(_) => errors.extend(nonnegative(&path, &spec[key])),
            Value::String(text) => {
                let percent = text
                    .strip_suffix('%')
                    .and_then(|digits| digits.parse::<u64>().ok());
                match percent {
                    None => errors.push(invalid(&path, spec[key].clone(), format::percent_error())),
                    Some(p) if p > 100 => errors.push(invalid(
                        &path,
                        spec[key].clone(),
                        "must not be greater than 100%",
                    )),
                    Some(_) => {}
                }
            }
            _ => {}
        }
    }
    errors
}
