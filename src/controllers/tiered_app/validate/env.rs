//! Validation of a tier's `env`: names the API server takes, each set once and not one
//! the tier's database or cache injects, and `valueFrom` references to Secrets and
//! ConfigMaps by names and keys the API server takes. Without these checks the
//! Deployment's apply fails, with an error about the Deployment rather than the
//! TieredApp's field. Pure.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::EnvVar;

use crate::api::tiered_app::Tier;
use crate::controllers::tiered_app::build::deployment::{CACHE_ENV_NAMES, DATABASE_ENV_NAMES};
use crate::controllers::tiered_app::build::naming::{MAX_NAME_LENGTH, is_dns1123_subdomain};
use crate::controllers::tiered_app::validated::SpecError;

/// Checks the env of the tier at `field`; problems go to `errors`.
pub fn check_env(field: &str, tier: &Tier, errors: &mut Vec<SpecError>) {
    let mut seen = BTreeSet::new();
    for (index, var) in tier.env.iter().enumerate() {
        let var_field = format!("{field}.env[{index}]");
        check_references(&var_field, var, errors);
        let name_field = format!("{var_field}.name");
        if !is_env_name(&var.name) {
            errors.push(SpecError::new(
                name_field,
                "must be a non-empty name of printable ASCII characters other than '='",
            ));
            continue;
        }
        if !seen.insert(var.name.as_str()) {
            errors.push(SpecError::new(
                name_field.clone(),
                format!("{} is set twice; keep one entry", var.name),
            ));
        }
        for (source, kind, names) in [
            (&tier.database, "database", DATABASE_ENV_NAMES.as_slice()),
            (&tier.cache, "cache", CACHE_ENV_NAMES.as_slice()),
        ] {
            if source.is_some() && names.contains(&var.name.as_str()) {
                errors.push(SpecError::new(
                    name_field.clone(),
                    format!(
                        "{} is injected from the {kind}'s connection Secret; remove it or rename it",
                        var.name
                    ),
                ));
            }
        }
    }
}

/// Whether `name` is an env name Kubernetes 1.33 takes: apimachinery's
/// `IsRelaxedEnvVarName` (RelaxedEnvironmentVariableValidation, on by default since
/// 1.32), non-empty printable ASCII other than `=`.
fn is_env_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| matches!(c, ' '..='~') && c != '=')
}

/// Whether `key` is a Secret or ConfigMap key (apimachinery `IsConfigMapKey`): at most
/// 253 of `[-._a-zA-Z0-9]`, neither `.` nor starting with `..`.
fn is_config_map_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_NAME_LENGTH
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && key != "."
        && !key.starts_with("..")
}

/// The Secret or ConfigMap a `valueFrom` names, by a name that must be a DNS-1123
/// subdomain and a key of [`is_config_map_key`].
fn check_references(var_field: &str, var: &EnvVar, errors: &mut Vec<SpecError>) {
    let Some(source) = &var.value_from else {
        return;
    };
    let secret = source
        .secret_key_ref
        .as_ref()
        .map(|r| ("secretKeyRef", "Secret", &r.name, &r.key));
    let config_map = source
        .config_map_key_ref
        .as_ref()
        .map(|r| ("configMapKeyRef", "ConfigMap", &r.name, &r.key));
    for (reference, kind, name, key) in secret.into_iter().chain(config_map) {
        let field = format!("{var_field}.valueFrom.{reference}");
        if !name.is_empty() && !is_dns1123_subdomain(name) {
            errors.push(SpecError::new(
                format!("{field}.name"),
                format!(
                    "{name:?} is not the name of a {kind}: lowercase letters, digits, '-' and '.', at most {MAX_NAME_LENGTH} characters"
                ),
            ));
        }
        if !is_config_map_key(key) {
            errors.push(SpecError::new(
                format!("{field}.key"),
                format!(
                    "{key:?} is not a {kind} key: letters, digits, '-', '_' and '.', not starting with '..'"
                ),
            ));
        }
    }
}
