//! Validation of a TieredApp into a [`ValidatedApp`]: what only the operator can judge
//! (child names, call targets that have no port, requests above limits, env names that
//! clash with injected ones) plus a cheap re-check of what the CRD schema and CEL rules
//! enforce, because `tiered render` works offline and stored objects may predate a CRD
//! upgrade. Pure; the result no longer needs the raw resource.

use std::collections::{BTreeMap, BTreeSet};

use crate::api::tiered_app::{Autoscaling, HealthCheck, Tier, TierRole, TieredApp};
use crate::controllers::tiered_app::build::naming::{
    MAX_LABEL_LENGTH, MAX_NAME_LENGTH, child_name, connection_secret_name, is_dns1035_label,
    is_dns1123_subdomain,
};
use crate::controllers::tiered_app::build::resources::resolve_resources;
pub use crate::controllers::tiered_app::validated::{
    DEFAULT_REPLICAS, Placement, Scaling, Shutdown, SpecError, ValidatedApp, ValidatedHealthCheck,
    ValidatedIngress, ValidatedTier,
};

mod egress;
mod env;
mod placement;
mod serving;
#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
mod volumes;

use egress::resolve_egress;
use env::check_env;
use placement::resolve_placement;
use serving::{resolve_identity, resolve_ingress, resolve_service_port, resolve_shutdown};
use volumes::{resolve_volume_mounts, resolve_volumes};

/// Namespace used when a manifest has none (what `kubectl apply` does without `-n`).
pub const DEFAULT_NAMESPACE: &str = "default";
/// HPA CPU target when `autoscaling` gives none.
pub const DEFAULT_TARGET_CPU_UTILIZATION: i32 = 70;
/// Probe period when `healthCheck.periodSeconds` is absent.
pub const DEFAULT_PROBE_PERIOD_SECONDS: i32 = 10;
/// Most tiers an app may have (same as the CRD schema).
pub const MAX_TIERS: usize = 20;

/// Validates a TieredApp; every problem is reported, not only the first.
pub fn validate(app: &TieredApp) -> Result<ValidatedApp, Vec<SpecError>> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let name = app.metadata.name.clone().unwrap_or_default();
    check_app_name(&name, &mut errors);
    let namespace = app
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
    let tiers = &app.spec.tiers;
    if tiers.is_empty() {
        errors.push(SpecError::new(
            "spec.tiers",
            "an app needs at least one tier; add a tier",
        ));
    }
    if tiers.len() > MAX_TIERS {
        errors.push(SpecError::new(
            "spec.tiers",
            format!(
                "at most {MAX_TIERS} tiers are allowed, found {}; split the app",
                tiers.len()
            ),
        ));
    }
    let mut seen = BTreeSet::new();
    for (index, tier) in tiers.iter().enumerate() {
        if !seen.insert(tier.name.as_str()) {
            errors.push(SpecError::new(
                format!("spec.tiers[{index}].name"),
                format!(
                    "tier name {:?} is used twice; give every tier its own name",
                    tier.name
                ),
            ));
        }
    }
    let roles: BTreeMap<&str, (TierRole, Option<i32>)> = tiers
        .iter()
        .map(|tier| (tier.name.as_str(), (tier.role, tier.port)))
        .collect();
    let volumes = resolve_volumes(&name, &app.spec.volumes, &mut errors);
    let claims: BTreeMap<&str, &str> = volumes
        .iter()
        .map(|volume| (volume.name.as_str(), volume.claim_name.as_str()))
        .collect();
    let validated_tiers = tiers
        .iter()
        .enumerate()
        .map(|(index, tier)| {
            let context = TierContext {
                app: &name,
                field: format!("spec.tiers[{index}]"),
                tiers: &roles,
                claims: &claims,
            };
            validate_tier(&context, tier, &mut errors, &mut warnings)
        })
        .collect();
    if errors.is_empty() {
        Ok(ValidatedApp {
            name,
            namespace,
            uid: app.metadata.uid.clone(),
            tiers: validated_tiers,
            volumes,
            claim_retention: app
                .spec
                .persistent_volume_claim_retention_policy
                .as_ref()
                .and_then(|policy| policy.when_deleted)
                .unwrap_or_default(),
            warnings,
        })
    } else {
        Err(errors)
    }
}

fn check_app_name(name: &str, errors: &mut Vec<SpecError>) {
    if name.is_empty() {
        errors.push(SpecError::new("metadata.name", "is required; name the app"));
    } else if !is_dns1035_label(name) {
        errors.push(SpecError::new(
            "metadata.name",
            format!(
                "{name:?} cannot prefix the names of Services: use lowercase letters, digits and '-', starting with a letter, at most {MAX_LABEL_LENGTH} characters"
            ),
        ));
    }
}

struct TierContext<'a> {
    app: &'a str,
    field: String,
    tiers: &'a BTreeMap<&'a str, (TierRole, Option<i32>)>,
    /// The app's volumes: name → claim name.
    claims: &'a BTreeMap<&'a str, &'a str>,
}

fn validate_tier(
    context: &TierContext<'_>,
    tier: &Tier,
    errors: &mut Vec<SpecError>,
    warnings: &mut Vec<SpecError>,
) -> ValidatedTier {
    let field = &context.field;
    check_tier_name(context, tier, errors);
    if tier.image.trim().is_empty() || tier.image.contains(char::is_whitespace) {
        errors.push(SpecError::new(
            format!("{field}.image"),
            "must be an image reference without spaces, e.g. ghcr.io/acme/web:1.4.2",
        ));
    }
    check_port(field, tier, errors);
    let scaling = resolve_scaling(field, tier, errors, warnings);
    let resources = resolve_resources(
        &format!("{field}.resources"),
        tier.resources.as_ref(),
        errors,
    );
    let health_check = tier
        .health_check
        .as_ref()
        .map(|check| resolve_health_check(&format!("{field}.healthCheck"), tier, check, errors));
    check_env(field, tier, errors);
    let ingress = tier
        .ingress
        .as_ref()
        .map(|ingress| resolve_ingress(&format!("{field}.ingress"), tier, ingress, errors));
    let service_port = resolve_service_port(field, tier, errors);
    let shutdown = resolve_shutdown(field, tier, ingress.as_ref(), errors);
    check_calls(context, tier, errors);
    for (what, reference) in [("database", &tier.database), ("cache", &tier.cache)] {
        let Some(reference) = reference else { continue };
        let kind = if what == "database" {
            "ManagedDatabase"
        } else {
            "CacheCluster"
        };
        if !is_dns1123_subdomain(&reference.name) {
            errors.push(SpecError::new(
                format!("{field}.{what}.ref"),
                format!(
                    "{:?} is not the name of an object; use the metadata.name of a {kind} in this namespace",
                    reference.name
                ),
            ));
        } else if connection_secret_name(&reference.name).len() > MAX_NAME_LENGTH {
            errors.push(SpecError::new(
                format!("{field}.{what}.ref"),
                format!(
                    "{:?} is longer than a {kind} name can be ({} characters, so that its Secret <name>-connection fits in {MAX_NAME_LENGTH}); use the metadata.name of a {kind} in this namespace",
                    reference.name,
                    MAX_NAME_LENGTH - connection_secret_name("").len()
                ),
            ));
        }
    }
    ValidatedTier {
        name: tier.name.clone(),
        child_name: child_name(context.app, &tier.name),
        role: tier.role,
        image: tier.image.clone(),
        command: tier.command.clone(),
        args: tier.args.clone(),
        port: tier.port,
        service_port,
        shutdown,
        scaling,
        resources,
        health_check,
        env: tier.env.clone(),
        ingress,
        calls: tier.calls.clone(),
        database: tier
            .database
            .as_ref()
            .map(|reference| reference.name.clone()),
        cache: tier.cache.as_ref().map(|reference| reference.name.clone()),
        identity: resolve_identity(field, tier, errors),
        placement: resolve_placement(field, tier, errors),
        egress: resolve_egress(field, tier, errors),
        volume_mounts: resolve_volume_mounts(field, tier, context.claims, errors),
    }
}

fn check_tier_name(context: &TierContext<'_>, tier: &Tier, errors: &mut Vec<SpecError>) {
    let field = &context.field;
    if !is_dns1035_label(&tier.name) || tier.name.len() > 40 {
        errors.push(SpecError::new(
            format!("{field}.name"),
            format!(
                "{:?} is not a tier name: use at most 40 lowercase letters, digits and '-', starting with a letter and not ending with '-'",
                tier.name
            ),
        ));
        return;
    }
    let child = child_name(context.app, &tier.name);
    if is_dns1035_label(context.app) && !is_dns1035_label(&child) {
        errors.push(SpecError::new(
            format!("{field}.name"),
            format!(
                "child objects would be named {child:?} ({} characters), more than the {MAX_LABEL_LENGTH} a Service name allows; shorten the tier name or the TieredApp name",
                child.len()
            ),
        ));
    }
}

fn check_port(field: &str, tier: &Tier, errors: &mut Vec<SpecError>) {
    match tier.port {
        Some(port) if !(1..=65535).contains(&port) => errors.push(SpecError::new(
            format!("{field}.port"),
            format!("{port} is not a TCP port; use 1 to 65535"),
        )),
        None if tier.role != TierRole::Worker => errors.push(SpecError::new(
            format!("{field}.port"),
            format!(
                "is required for a tier with role {}; set the port the container listens on",
                crate::controllers::tiered_app::build::labels::role_label_value(tier.role)
            ),
        )),
        _ => {}
    }
}

fn resolve_scaling(
    field: &str,
    tier: &Tier,
    errors: &mut Vec<SpecError>,
    warnings: &mut Vec<SpecError>,
) -> Scaling {
    if let Some(replicas) = tier.replicas
        && !(0..=1000).contains(&replicas)
    {
        errors.push(SpecError::new(
            format!("{field}.replicas"),
            format!("{replicas} is out of range; use 0 to 1000"),
        ));
    }
    let Some(autoscaling) = &tier.autoscaling else {
        return Scaling::Fixed {
            replicas: tier.replicas,
        };
    };
    if tier.replicas.is_some() {
        warnings.push(SpecError::new(
            format!("{field}.replicas"),
            "is ignored because autoscaling is set (the HorizontalPodAutoscaler owns the replica count); remove replicas",
        ));
    }
    check_autoscaling(&format!("{field}.autoscaling"), autoscaling, errors);
    Scaling::Autoscaled {
        min_replicas: autoscaling.min_replicas,
        max_replicas: autoscaling.max_replicas,
        target_cpu_utilization: autoscaling
            .target_cpu_utilization
            .unwrap_or(DEFAULT_TARGET_CPU_UTILIZATION),
        target_memory_utilization: autoscaling.target_memory_utilization,
    }
}

fn check_autoscaling(field: &str, autoscaling: &Autoscaling, errors: &mut Vec<SpecError>) {
    for (name, value) in [
        ("minReplicas", autoscaling.min_replicas),
        ("maxReplicas", autoscaling.max_replicas),
    ] {
        if !(1..=1000).contains(&value) {
            errors.push(SpecError::new(
                format!("{field}.{name}"),
                format!("{value} is out of range; use 1 to 1000"),
            ));
        }
    }
    if autoscaling.min_replicas > autoscaling.max_replicas {
        errors.push(SpecError::new(
            format!("{field}.minReplicas"),
            format!(
                "{} is greater than maxReplicas {}; lower minReplicas or raise maxReplicas",
                autoscaling.min_replicas, autoscaling.max_replicas
            ),
        ));
    }
    for (name, value) in [
        ("targetCPUUtilization", autoscaling.target_cpu_utilization),
        (
            "targetMemoryUtilization",
            autoscaling.target_memory_utilization,
        ),
    ] {
        if let Some(value) = value.filter(|value| !(1..=100).contains(value)) {
            errors.push(SpecError::new(
                format!("{field}.{name}"),
                format!("{value} is not a percentage; use 1 to 100"),
            ));
        }
    }
}

fn resolve_health_check(
    field: &str,
    tier: &Tier,
    check: &HealthCheck,
    errors: &mut Vec<SpecError>,
) -> ValidatedHealthCheck {
    if tier.port.is_none() {
        errors.push(SpecError::new(
            field,
            "probes an HTTP endpoint, but the tier has no port; set port or remove healthCheck",
        ));
    }
    if !check.path.starts_with('/') || check.path.contains(char::is_whitespace) {
        errors.push(SpecError::new(
            format!("{field}.path"),
            format!(
                "{:?} must be an absolute URL path without spaces, e.g. /health",
                check.path
            ),
        ));
    }
    if let Some(delay) = check
        .initial_delay_seconds
        .filter(|d| !(0..=3600).contains(d))
    {
        errors.push(SpecError::new(
            format!("{field}.initialDelaySeconds"),
            format!("{delay} is out of range; use 0 to 3600"),
        ));
    }
    if let Some(period) = check.period_seconds.filter(|p| !(1..=3600).contains(p)) {
        errors.push(SpecError::new(
            format!("{field}.periodSeconds"),
            format!("{period} is out of range; use 1 to 3600"),
        ));
    }
    ValidatedHealthCheck {
        path: check.path.clone(),
        initial_delay_seconds: check.initial_delay_seconds,
        period_seconds: check.period_seconds.unwrap_or(DEFAULT_PROBE_PERIOD_SECONDS),
    }
}

fn check_calls(context: &TierContext<'_>, tier: &Tier, errors: &mut Vec<SpecError>) {
    let field = &context.field;
    let mut seen = BTreeSet::new();
    for (index, callee) in tier.calls.iter().enumerate() {
        let call_field = format!("{field}.calls[{index}]");
        if !seen.insert(callee.as_str()) {
            errors.push(SpecError::new(
                call_field,
                format!("{callee:?} is listed twice; keep one entry"),
            ));
            continue;
        }
        if *callee == tier.name {
            errors.push(SpecError::new(
                call_field,
                "a tier cannot call itself; remove this entry",
            ));
            continue;
        }
        match context.tiers.get(callee.as_str()) {
            None => errors.push(SpecError::new(
                call_field,
                format!("{callee:?} is not a tier of this app; use the name of one of its tiers"),
            )),
            Some((_, None)) => errors.push(SpecError::new(
                call_field,
                format!("{callee:?} has no port (a worker takes no inbound traffic), so it cannot be called; remove it from calls or give it a port and role application"),
            )),
            Some((TierRole::Worker, Some(_))) => errors.push(SpecError::new(
                call_field,
                format!("{callee:?} is a worker, which takes no inbound traffic; remove it from calls or change its role to application"),
            )),
            Some(_) => {}
        }
    }
}
