//! Validation of a TieredApp into a [`ValidatedApp`]: what only the operator can judge
//! (child names, call targets that have no port, requests above limits, env names that
//! clash with injected ones) plus a cheap re-check of what the CRD schema and CEL rules
//! enforce, because `tiered render` works offline and stored objects may predate a CRD
//! upgrade. Pure; the result no longer needs the raw resource.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use k8s_openapi::api::core::v1::{EnvVar, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::deployment::{CACHE_ENV_NAMES, DATABASE_ENV_NAMES};
use super::naming::{MAX_LABEL_LENGTH, child_name, is_dns1035_label, is_dns1123_subdomain};
use super::quantity::parse_quantity;
use crate::api::tiered_app::{
    Autoscaling, HealthCheck, IngressScheme, Tier, TierIngress, TierRole, TieredApp,
};

/// Namespace used when a manifest has none (what `kubectl apply` does without `-n`).
pub const DEFAULT_NAMESPACE: &str = "default";
/// Replicas of a tier without `replicas` and without `autoscaling`.
pub const DEFAULT_REPLICAS: i32 = 2;
/// HPA CPU target when `autoscaling` gives none.
pub const DEFAULT_TARGET_CPU_UTILIZATION: i32 = 70;
/// Probe period when `healthCheck.periodSeconds` is absent.
pub const DEFAULT_PROBE_PERIOD_SECONDS: i32 = 10;
/// CPU request when the user gives none.
pub const DEFAULT_CPU_REQUEST: &str = "100m";
/// Memory request when the user gives none.
pub const DEFAULT_MEMORY_REQUEST: &str = "128Mi";
/// Memory limit when the user gives none (raised to the request when that is larger).
pub const DEFAULT_MEMORY_LIMIT: &str = "512Mi";
/// Most tiers an app may have (same as the CRD schema).
pub const MAX_TIERS: usize = 20;

/// One problem with a spec: where it is and what to change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecError {
    /// Path of the field, e.g. `spec.tiers[1].calls[0]`.
    pub field: String,
    /// What is wrong and what to change.
    pub message: String,
}

impl SpecError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for SpecError {}

/// A TieredApp that passed validation, with every default resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidatedApp {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, [`DEFAULT_NAMESPACE`] when absent.
    pub namespace: String,
    /// `metadata.uid`; absent for manifests read offline (then no ownerReference is built).
    pub uid: Option<String>,
    /// The tiers, in spec order.
    pub tiers: Vec<ValidatedTier>,
    /// Harmless oddities worth an Event (e.g. `replicas` ignored because of autoscaling).
    pub warnings: Vec<SpecError>,
}

impl ValidatedApp {
    /// The tier called `name`, if any.
    pub fn tier(&self, name: &str) -> Option<&ValidatedTier> {
        self.tiers.iter().find(|tier| tier.name == name)
    }

    /// The tiers that list `name` in their `calls`.
    pub fn callers_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a ValidatedTier> {
        self.tiers
            .iter()
            .filter(move |tier| tier.calls.iter().any(|callee| callee == name))
    }
}

/// One validated tier.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidatedTier {
    /// Tier name, e.g. `web`.
    pub name: String,
    /// Name of every child object of the tier: `<app>-<tier>`.
    pub child_name: String,
    /// Role of the tier.
    pub role: TierRole,
    /// Container image.
    pub image: String,
    /// Entrypoint override.
    pub command: Option<Vec<String>>,
    /// Arguments override.
    pub args: Option<Vec<String>>,
    /// Container port; `None` only for workers without one.
    pub port: Option<i32>,
    /// Fixed replica count or autoscaling.
    pub scaling: Scaling,
    /// Requests and limits with defaults filled in.
    pub resources: ResourceRequirements,
    /// HTTP health check with defaults filled in.
    pub health_check: Option<ValidatedHealthCheck>,
    /// User environment variables, in order.
    pub env: Vec<EnvVar>,
    /// ALB ingress with defaults filled in (presentation tiers only).
    pub ingress: Option<ValidatedIngress>,
    /// Names of the tiers this tier calls (each has a port).
    pub calls: Vec<String>,
    /// Name of the ManagedDatabase the tier uses.
    pub database: Option<String>,
    /// Name of the CacheCluster the tier uses.
    pub cache: Option<String>,
}

impl ValidatedTier {
    /// Whether the tier can run more than one pod (then it gets a PodDisruptionBudget).
    pub fn can_run_more_than_one_replica(&self) -> bool {
        match self.scaling {
            Scaling::Fixed { replicas } => replicas > 1,
            Scaling::Autoscaled { max_replicas, .. } => max_replicas > 1,
        }
    }

    /// The fewest pods the tier runs in steady state.
    pub fn min_replicas(&self) -> i32 {
        match self.scaling {
            Scaling::Fixed { replicas } => replicas,
            Scaling::Autoscaled { min_replicas, .. } => min_replicas,
        }
    }
}

/// How many pods a tier runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scaling {
    /// Exactly this many pods; the Deployment carries `replicas`.
    Fixed {
        /// Pod count.
        replicas: i32,
    },
    /// The HPA owns the count; the Deployment omits `replicas`.
    Autoscaled {
        /// Lowest pod count.
        min_replicas: i32,
        /// Highest pod count.
        max_replicas: i32,
        /// CPU utilization target in percent.
        target_cpu_utilization: i32,
        /// Memory utilization target in percent, when given.
        target_memory_utilization: Option<i32>,
    },
}

/// HTTP health check with defaults filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatedHealthCheck {
    /// Path of the endpoint.
    pub path: String,
    /// Delay before the first probe, when given.
    pub initial_delay_seconds: Option<i32>,
    /// Seconds between probes.
    pub period_seconds: i32,
}

/// ALB ingress settings with defaults filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatedIngress {
    /// Host to match; every host when absent.
    pub host: Option<String>,
    /// Path prefix, `/` by default.
    pub path: String,
    /// ACM certificate for HTTPS.
    pub certificate_arn: Option<String>,
    /// ALB scheme, `internet-facing` by default.
    pub scheme: IngressScheme,
    /// ALB group to join.
    pub group_name: Option<String>,
}

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
    let validated_tiers = tiers
        .iter()
        .enumerate()
        .map(|(index, tier)| {
            let context = TierContext {
                app: &name,
                field: format!("spec.tiers[{index}]"),
                tiers: &roles,
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
    check_calls(context, tier, errors);
    for (what, reference) in [("database", &tier.database), ("cache", &tier.cache)] {
        if let Some(reference) = reference {
            if !is_dns1123_subdomain(&reference.name)
                || reference.name.len() > 253 - "-connection".len()
            {
                errors.push(SpecError::new(
                    format!("{field}.{what}.ref"),
                    format!("{:?} is not the name of an object; use the metadata.name of a {} in this namespace", reference.name, if what == "database" { "ManagedDatabase" } else { "CacheCluster" }),
                ));
            }
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
    if !context.app.is_empty() && !is_dns1035_label(&child) {
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
                super::labels::role_label_value(tier.role)
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
    if let Some(replicas) = tier.replicas {
        if !(0..=1000).contains(&replicas) {
            errors.push(SpecError::new(
                format!("{field}.replicas"),
                format!("{replicas} is out of range; use 0 to 1000"),
            ));
        }
    }
    let Some(autoscaling) = &tier.autoscaling else {
        return Scaling::Fixed {
            replicas: tier.replicas.unwrap_or(DEFAULT_REPLICAS),
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

/// Fills in default requests and limits and checks that no limit is below its request.
fn resolve_resources(
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

fn check_env(field: &str, tier: &Tier, errors: &mut Vec<SpecError>) {
    let mut seen = BTreeSet::new();
    for (index, var) in tier.env.iter().enumerate() {
        let var_field = format!("{field}.env[{index}].name");
        if var.name.is_empty() || var.name.contains(['=', '\0']) {
            errors.push(SpecError::new(
                var_field,
                "must be a non-empty variable name without '='",
            ));
            continue;
        }
        if !seen.insert(var.name.as_str()) {
            errors.push(SpecError::new(
                var_field.clone(),
                format!("{} is set twice; keep one entry", var.name),
            ));
        }
        for (source, kind, names) in [
            (&tier.database, "database", DATABASE_ENV_NAMES.as_slice()),
            (&tier.cache, "cache", CACHE_ENV_NAMES.as_slice()),
        ] {
            if source.is_some() && names.contains(&var.name.as_str()) {
                errors.push(SpecError::new(
                    var_field.clone(),
                    format!(
                        "{} is injected from the {kind}'s connection Secret; remove it or rename it",
                        var.name
                    ),
                ));
            }
        }
    }
}

fn resolve_ingress(
    field: &str,
    tier: &Tier,
    ingress: &TierIngress,
    errors: &mut Vec<SpecError>,
) -> ValidatedIngress {
    if tier.role != TierRole::Presentation {
        errors.push(SpecError::new(
            field,
            "is only allowed on a tier with role presentation; change the role or move ingress to the web tier",
        ));
    }
    if tier.port.is_none() {
        errors.push(SpecError::new(
            field,
            "needs the tier's port to route to; set port",
        ));
    }
    if let Some(host) = &ingress.host {
        let bare = host.strip_prefix("*.").unwrap_or(host);
        if !is_dns1123_subdomain(bare) {
            errors.push(SpecError::new(
                format!("{field}.host"),
                format!("{host:?} is not a DNS host name; use e.g. news.example.com"),
            ));
        }
    }
    if let Some(path) = &ingress.path {
        if !path.starts_with('/') || path.contains(char::is_whitespace) {
            errors.push(SpecError::new(
                format!("{field}.path"),
                format!("{path:?} must be an absolute URL path without spaces, e.g. /"),
            ));
        }
    }
    if let Some(arn) = &ingress.certificate_arn {
        if !arn.starts_with("arn:") || !arn.contains(":acm:") {
            errors.push(SpecError::new(
                format!("{field}.certificateArn"),
                format!("{arn:?} is not an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)"),
            ));
        }
    }
    if let Some(group) = &ingress.group_name {
        if group.is_empty() || group.len() > MAX_LABEL_LENGTH || !is_dns1123_subdomain(group) {
            errors.push(SpecError::new(
                format!("{field}.groupName"),
                format!("{group:?} is not an ALB group name: use at most 63 lowercase letters, digits, '-' and '.'"),
            ));
        }
    }
    ValidatedIngress {
        host: ingress.host.clone(),
        path: ingress.path.clone().unwrap_or_else(|| "/".to_owned()),
        certificate_arn: ingress.certificate_arn.clone(),
        scheme: ingress.scheme.unwrap_or(IngressScheme::InternetFacing),
        group_name: ingress.group_name.clone(),
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
