//! The desired children of a TieredApp as the controller consumes them.
//!
//! INTERIM: the real pure builders (`crate::tiered_app::{validate, desired_children}`)
//! are being written on the `tieredapp-build` branch. Until that lands, [`plan`] uses
//! the small builders below, with the same label scheme (`app.kubernetes.io/*`, pod
//! selector `managed-by`/`instance`/`name`), so the controller, its tests and the prune
//! logic do not change when [`plan`] switches to the real ones.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use serde_json::json;

use crate::api::tiered_app::{Tier, TierRole, TieredApp};

/// `app.kubernetes.io/name`: the tier's name.
pub const LABEL_TIER: &str = "app.kubernetes.io/name";
/// `app.kubernetes.io/instance`: the TieredApp's name.
pub const LABEL_INSTANCE: &str = "app.kubernetes.io/instance";
/// `app.kubernetes.io/managed-by`.
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Value of `app.kubernetes.io/managed-by`.
pub const MANAGED_BY: &str = "tiered";

/// Label selector of everything tiered manages (what the child reflectors watch).
pub fn managed_selector() -> String {
    format!("{LABEL_MANAGED_BY}={MANAGED_BY}")
}

/// Labels every child of `app` carries (prune by label).
pub fn prune_labels(app: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_MANAGED_BY.to_owned(), MANAGED_BY.to_owned()),
        (LABEL_INSTANCE.to_owned(), app.to_owned()),
    ])
}

/// Every child kind, one list each. Destructure it without `..`: a new kind must be
/// applied and pruned, never silently dropped.
#[derive(Debug, Clone, Default)]
pub struct ChildSet {
    /// One per tier.
    pub deployments: Vec<Deployment>,
    /// One per tier with a port.
    pub services: Vec<Service>,
    /// One per autoscaled tier.
    pub hpas: Vec<HorizontalPodAutoscaler>,
    /// One per tier that can run more than one replica.
    pub pdbs: Vec<PodDisruptionBudget>,
    /// Per tier.
    pub network_policies: Vec<NetworkPolicy>,
    /// One per presentation tier with `ingress`.
    pub ingresses: Vec<Ingress>,
}

/// A spec problem: field path and what to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecProblem {
    /// Path of the field, e.g. `spec.tiers[1].calls[0]`.
    pub field: String,
    /// What is wrong and what to change.
    pub message: String,
}

impl std::fmt::Display for SpecProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// What one tier depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierDependencies {
    /// Tier name.
    pub tier: String,
    /// Name of the Deployment of the tier.
    pub deployment: String,
    /// Referenced ManagedDatabase.
    pub database: Option<String>,
    /// Referenced CacheCluster.
    pub cache: Option<String>,
}

/// The result of validate + build for one TieredApp.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Children to apply.
    pub children: ChildSet,
    /// Per tier, in spec order.
    pub tiers: Vec<TierDependencies>,
    /// Whether each presentation ingress has a certificate (for the URL scheme).
    pub https: bool,
}

/// Validates `app` and builds its desired children.
pub fn plan(app: &TieredApp) -> Result<Plan, Vec<SpecProblem>> {
    let problems = validate(app);
    if !problems.is_empty() {
        return Err(problems);
    }
    let name = app.metadata.name.clone().unwrap_or_default();
    let namespace = app.metadata.namespace.clone().unwrap_or_default();
    let mut children = ChildSet::default();
    let mut tiers = Vec::new();
    let mut https = false;
    for tier in &app.spec.tiers {
        let child = format!("{name}-{}", tier.name);
        let meta = json!({"name": child, "namespace": namespace, "labels": labels(&name, tier)});
        let selector = json!({
            LABEL_MANAGED_BY: MANAGED_BY, LABEL_INSTANCE: name, LABEL_TIER: tier.name,
        });
        let result: Result<(), serde_json::Error> = (|| {
            children.deployments.push(serde_json::from_value(deployment(
                &meta, &selector, tier, &name,
            ))?);
            if let Some(port) = tier.port {
                children.services.push(serde_json::from_value(json!({"apiVersion": "v1", "kind": "Service", "metadata": meta,
                    "spec": {"selector": selector, "ports": [{"name": "http", "port": port, "targetPort": "http"}]}}))?);
            }
            if let Some(scaling) = &tier.autoscaling {
                children.hpas.push(serde_json::from_value(json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": meta,
                    "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": child},
                        "minReplicas": scaling.min_replicas, "maxReplicas": scaling.max_replicas,
                        "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                            "averageUtilization": scaling.target_cpu_utilization.unwrap_or(70)}}}]}}))?);
            }
            let max = tier
                .autoscaling
                .as_ref()
                .map_or(tier.replicas.unwrap_or(2), |a| a.max_replicas);
            if max > 1 {
                children.pdbs.push(serde_json::from_value(json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta,
                    "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector}}}))?);
            }
            children.network_policies.push(serde_json::from_value(json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta,
                "spec": {"podSelector": {"matchLabels": selector}, "policyTypes": ["Ingress"], "ingress": []}}))?);
            if let Some(ingress) = &tier.ingress {
                https |= ingress.certificate_arn.is_some();
                children.ingresses.push(serde_json::from_value(json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta,
                    "spec": {"ingressClassName": "alb", "rules": [{"host": ingress.host, "http": {"paths": [{
                        "path": ingress.path.clone().unwrap_or_else(|| "/".to_owned()), "pathType": "Prefix",
                        "backend": {"service": {"name": child, "port": {"name": "http"}}}}]}}]}}))?);
            }
            Ok(())
        })();
        if let Err(error) = result {
            return Err(vec![SpecProblem {
                field: format!("spec.tiers[{}]", tiers.len()),
                message: format!("cannot be built: {error}"),
            }]);
        }
        tiers.push(TierDependencies {
            tier: tier.name.clone(),
            deployment: child,
            database: tier.database.as_ref().map(|r| r.name.clone()),
            cache: tier.cache.as_ref().map(|r| r.name.clone()),
        });
    }
    Ok(Plan {
        children,
        tiers,
        https,
    })
}

fn labels(app: &str, tier: &Tier) -> serde_json::Value {
    let role = match tier.role {
        TierRole::Presentation => "presentation",
        TierRole::Application => "application",
        TierRole::Worker => "worker",
    };
    json!({LABEL_MANAGED_BY: MANAGED_BY, LABEL_INSTANCE: app, LABEL_TIER: tier.name,
        "app.kubernetes.io/component": role, "app.kubernetes.io/part-of": app})
}

fn deployment(
    meta: &serde_json::Value,
    selector: &serde_json::Value,
    tier: &Tier,
    app: &str,
) -> serde_json::Value {
    let mut container = json!({"name": tier.name, "image": tier.image, "env": tier.env});
    if let Some(port) = tier.port {
        container["ports"] = json!([{"name": "http", "containerPort": port}]);
    }
    let mut spec = json!({"selector": {"matchLabels": selector},
        "template": {"metadata": {"labels": labels(app, tier)}, "spec": {"containers": [container]}}});
    if tier.autoscaling.is_none() {
        spec["replicas"] = json!(tier.replicas.unwrap_or(2));
    }
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec})
}

fn validate(app: &TieredApp) -> Vec<SpecProblem> {
    let mut problems = Vec::new();
    for (i, tier) in app.spec.tiers.iter().enumerate() {
        for (j, call) in tier.calls.iter().enumerate() {
            if call == &tier.name || !app.spec.tiers.iter().any(|t| &t.name == call) {
                problems.push(SpecProblem {
                    field: format!("spec.tiers[{i}].calls[{j}]"),
                    message: format!(
                        "tier {call:?} is not another tier of this app; name one of its other tiers"
                    ),
                });
            }
        }
        if tier.port.is_none() && tier.role != TierRole::Worker {
            problems.push(SpecProblem {
                field: format!("spec.tiers[{i}].port"),
                message: "a tier that is not a worker needs a port; set it".to_owned(),
            });
        }
    }
    problems
}
