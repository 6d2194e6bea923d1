//! Validation of where a tier's pods may run: `capacityType`, `nodeSelector` (label
//! keys and values as apimachinery checks them), `tolerations` (operator, effect and
//! value rules of the API server) and `priorityClassName`. Pure.

use crate::api::tiered_app::Tier;
use crate::controllers::tiered_app::build::naming::{
    MAX_LABEL_LENGTH, is_dns1123_subdomain, is_label_value,
};
use crate::controllers::tiered_app::build::placement::CAPACITY_TYPE_LABELS;
use crate::controllers::tiered_app::validated::{Placement, SpecError};

/// Effects a toleration may name.
const TAINT_EFFECTS: [&str; 3] = ["NoSchedule", "PreferNoSchedule", "NoExecute"];

/// The placement of a tier; problems go to `errors`.
pub fn resolve_placement(field: &str, tier: &Tier, errors: &mut Vec<SpecError>) -> Placement {
    for (key, value) in &tier.node_selector {
        let key_field = format!("{field}.nodeSelector[{key:?}]");
        if !is_label_key(key) {
            errors.push(SpecError::new(
                &key_field,
                "is not a label key: an optional DNS prefix and '/', then at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit",
            ));
        } else if !is_label_value(value) {
            errors.push(SpecError::new(
                &key_field,
                format!("{value:?} is not a label value: at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit"),
            ));
        }
        if tier.capacity_type.is_some()
            && CAPACITY_TYPE_LABELS.iter().any(|(label, _)| label == key)
        {
            errors.push(SpecError::new(
                key_field,
                "is set by capacityType; remove it from nodeSelector",
            ));
        }
    }
    for (index, toleration) in tier.tolerations.iter().enumerate() {
        let toleration_field = format!("{field}.tolerations[{index}]");
        let key = toleration.key.as_deref().unwrap_or_default();
        if !key.is_empty() && !is_label_key(key) {
            errors.push(SpecError::new(
                format!("{toleration_field}.key"),
                format!("{key:?} is not a taint key (a label key)"),
            ));
        }
        match toleration.operator.as_deref() {
            None | Some("Equal") => {
                if key.is_empty() {
                    errors.push(SpecError::new(
                        format!("{toleration_field}.operator"),
                        "must be Exists when key is empty (a toleration of every taint)",
                    ));
                }
                let value = toleration.value.as_deref().unwrap_or_default();
                if !is_label_value(value) {
                    errors.push(SpecError::new(
                        format!("{toleration_field}.value"),
                        format!("{value:?} is not a taint value (a label value)"),
                    ));
                }
            }
            Some("Exists") => {
                if toleration.value.as_deref().is_some_and(|v| !v.is_empty()) {
                    errors.push(SpecError::new(
                        format!("{toleration_field}.value"),
                        "must be empty when operator is Exists",
                    ));
                }
            }
            Some(other) => errors.push(SpecError::new(
                format!("{toleration_field}.operator"),
                format!("{other:?} is not an operator; use Equal or Exists"),
            )),
        }
        if let Some(effect) = toleration.effect.as_deref()
            && !effect.is_empty()
            && !TAINT_EFFECTS.contains(&effect)
        {
            errors.push(SpecError::new(
                format!("{toleration_field}.effect"),
                format!("{effect:?} is not a taint effect; use NoSchedule, PreferNoSchedule or NoExecute"),
            ));
        }
        if toleration.toleration_seconds.is_some()
            && toleration.effect.as_deref() != Some("NoExecute")
        {
            errors.push(SpecError::new(
                format!("{toleration_field}.tolerationSeconds"),
                "applies only to the NoExecute effect; set effect: NoExecute or remove it",
            ));
        }
    }
    if let Some(class) = &tier.priority_class_name {
        if !is_dns1123_subdomain(class) {
            errors.push(SpecError::new(
                format!("{field}.priorityClassName"),
                format!("{class:?} is not the name of a PriorityClass (a DNS subdomain)"),
            ));
        } else if class.starts_with("system-") {
            errors.push(SpecError::new(
                format!("{field}.priorityClassName"),
                format!("{class:?} is reserved for cluster components; create a PriorityClass for your apps and name it here"),
            ));
        }
    }
    Placement {
        capacity_type: tier.capacity_type,
        node_selector: tier.node_selector.clone(),
        tolerations: tier.tolerations.clone(),
        priority_class_name: tier.priority_class_name.clone(),
    }
}

/// Whether `key` is a qualified name (apimachinery `IsQualifiedName`): an optional DNS
/// subdomain prefix and `/`, then a name of at most 63 characters of `[-_.A-Za-z0-9]`
/// that starts and ends with a letter or digit.
pub fn is_label_key(key: &str) -> bool {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    prefix.is_none_or(is_dns1123_subdomain)
        && !name.is_empty()
        && name.len() <= MAX_LABEL_LENGTH
        && is_label_value(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors_of(yaml: &str) -> Vec<String> {
        let tier: Tier = serde_norway::from_str(yaml).unwrap();
        let mut errors = Vec::new();
        resolve_placement("spec.tiers[0]", &tier, &mut errors);
        errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn label_keys_follow_apimachinery() {
        for (key, ok) in [
            ("kubernetes.io/arch", true),
            ("node-role", true),
            ("karpenter.sh/capacity-type", true),
            ("a/b/c", false),
            ("Bad_Prefix/x", false),
            ("/x", false),
            ("x/", false),
            ("-x", false),
            (&"k".repeat(64), false),
        ] {
            assert_eq!(is_label_key(key), ok, "{key}");
        }
    }

    #[test]
    fn a_valid_placement_passes_and_is_kept() {
        let tier: Tier = serde_norway::from_str(
            "{name: api, role: application, image: a, port: 1, capacityType: spot, nodeSelector: {kubernetes.io/arch: arm64}, tolerations: [{key: spot, operator: Exists, effect: NoSchedule}, {operator: Exists}], priorityClassName: apps-high}",
        )
        .unwrap();
        let mut errors = Vec::new();
        let placement = resolve_placement("f", &tier, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(placement.tolerations.len(), 2);
        assert_eq!(placement.priority_class_name.as_deref(), Some("apps-high"));
    }

    #[test]
    fn each_bad_placement_field_is_named() {
        let cases = [
            (
                "nodeSelector: {'bad key!': x}",
                "spec.tiers[0].nodeSelector[\"bad key!\"]",
            ),
            (
                "nodeSelector: {arch: 'not ok'}",
                "spec.tiers[0].nodeSelector[\"arch\"]",
            ),
            (
                "capacityType: spot, nodeSelector: {karpenter.sh/capacity-type: on-demand}",
                "spec.tiers[0].nodeSelector[\"karpenter.sh/capacity-type\"]",
            ),
            (
                "tolerations: [{operator: Equal}]",
                "spec.tiers[0].tolerations[0].operator",
            ),
            (
                "tolerations: [{key: a, operator: Exists, value: b}]",
                "spec.tiers[0].tolerations[0].value",
            ),
            (
                "tolerations: [{key: a, operator: Maybe}]",
                "spec.tiers[0].tolerations[0].operator",
            ),
            (
                "tolerations: [{key: a, value: b, effect: NoRun}]",
                "spec.tiers[0].tolerations[0].effect",
            ),
            (
                "tolerations: [{key: a, value: b, effect: NoSchedule, tolerationSeconds: 5}]",
                "spec.tiers[0].tolerations[0].tolerationSeconds",
            ),
            (
                "priorityClassName: system-node-critical",
                "spec.tiers[0].priorityClassName",
            ),
            (
                "priorityClassName: Not_A_Name",
                "spec.tiers[0].priorityClassName",
            ),
        ];
        for (fields, expected) in cases {
            let errors = errors_of(&format!(
                "{{name: api, role: application, image: a, port: 1, {fields}}}"
            ));
            assert_eq!(errors, [expected], "{fields}");
        }
    }
}
