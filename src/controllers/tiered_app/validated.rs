//! What validation produces: [`SpecError`] (field path + what to change) and
//! [`ValidatedApp`], a TieredApp with every default resolved that the builders consume
//! without the raw resource. Plain data, in a file of its own because it is the
//! hand-over between two steps: `validate` uses the builders' naming rules and `build`
//! consumes this, so both import it and neither imports the other's step back.

use std::fmt;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{EnvVar, ResourceRequirements, Toleration};

use crate::api::tiered_app::{
    CapacityType, ClaimRetention, IdentityProvider, IngressScheme, TierRole, VolumeAccessMode,
};

/// Replicas of a new tier without `replicas` and without `autoscaling`, and the fewest a
/// running one keeps.
pub const DEFAULT_REPLICAS: i32 = 2;

/// One problem with a spec: where it is and what to change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecError {
    /// Path of the field, e.g. `spec.tiers[1].calls[0]`.
    pub field: String,
    /// What is wrong and what to change.
    pub message: String,
}

impl SpecError {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
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
    /// `metadata.namespace`, [`crate::controllers::tiered_app::validate::DEFAULT_NAMESPACE`] when absent.
    pub namespace: String,
    /// `metadata.uid`; absent for manifests read offline (then no ownerReference is built).
    pub uid: Option<String>,
    /// The tiers, in spec order.
    pub tiers: Vec<ValidatedTier>,
    /// The shared volumes, in spec order.
    pub volumes: Vec<ValidatedVolume>,
    /// Whether the volumes' claims go with the app.
    pub claim_retention: ClaimRetention,
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
    /// Port of the Service, `port` unless the spec gives another.
    pub service_port: Option<i32>,
    /// How a pod stops: pre-stop sleep and grace period, defaults resolved.
    pub shutdown: Shutdown,
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
    /// The tier's AWS identity, when it asks for one.
    pub identity: Option<Identity>,
    /// Where the tier's pods may run.
    pub placement: Placement,
    /// Declared egress beyond the app, DNS and the data tier.
    pub egress: Egress,
    /// The app's volumes the container mounts, in spec order.
    pub volume_mounts: Vec<ValidatedVolumeMount>,
}

/// One shared volume of the app with defaults resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatedVolume {
    /// Volume name, e.g. `uploads`.
    pub name: String,
    /// Name of its PersistentVolumeClaim: `<app>-<volume>`.
    pub claim_name: String,
    /// StorageClass, or the cluster's default.
    pub storage_class_name: Option<String>,
    /// Requested capacity, a Kubernetes quantity.
    pub size: String,
    /// Access modes, `[ReadWriteMany]` when the spec gives none.
    pub access_modes: Vec<VolumeAccessMode>,
}

/// Where a tier mounts a volume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatedVolumeMount {
    /// Volume name (one of the app's volumes).
    pub volume: String,
    /// The volume's claim name.
    pub claim_name: String,
    /// Absolute path in the container.
    pub mount_path: String,
    /// Whether the mount is read-only.
    pub read_only: bool,
}

/// A tier's declared egress with defaults resolved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Egress {
    /// TCP 443 to anywhere.
    pub internet_https: bool,
    /// TCP 443 to anywhere for the AWS APIs.
    pub aws_apis: bool,
    /// TCP 80 to the EKS Pod Identity Agent's link-local addresses.
    pub pod_identity_agent: bool,
    /// Address ranges and ports, each `except` already inside its range.
    pub to: Vec<EgressDestination>,
}

/// One declared destination: ranges (each with the excepted ranges inside it) and
/// ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EgressDestination {
    /// (CIDR, its excepted sub-ranges), in canonical form.
    pub blocks: Vec<(String, Vec<String>)>,
    /// (port, end port, protocol).
    pub ports: Vec<(i32, Option<i32>, &'static str)>,
}

/// Where a tier's pods may run (the zone and host spread always applies on top).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Placement {
    /// Spot or on-demand capacity, when required.
    pub capacity_type: Option<CapacityType>,
    /// Required node labels.
    pub node_selector: BTreeMap<String, String>,
    /// Tolerated taints.
    pub tolerations: Vec<Toleration>,
    /// PriorityClass of the pods.
    pub priority_class_name: Option<String>,
}

impl ValidatedTier {
    /// Whether the tier can run more than one pod (then it gets a PodDisruptionBudget).
    pub fn can_run_more_than_one_replica(&self) -> bool {
        match self.scaling {
            Scaling::Fixed { replicas: None } => DEFAULT_REPLICAS > 1,
            Scaling::Fixed {
                replicas: Some(replicas),
            } => replicas > 1,
            Scaling::Autoscaled { max_replicas, .. } => max_replicas > 1,
        }
    }

    /// The fewest pods the tier runs in steady state (a tier without `replicas` runs at
    /// least [`DEFAULT_REPLICAS`]).
    pub fn min_replicas(&self) -> i32 {
        match self.scaling {
            Scaling::Fixed {
                replicas: Some(replicas),
            } => replicas,
            Scaling::Fixed { replicas: None } => DEFAULT_REPLICAS,
            Scaling::Autoscaled { min_replicas, .. } => min_replicas,
        }
    }
}

/// How many pods a tier runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scaling {
    /// A fixed pod count; the Deployment carries `replicas`.
    Fixed {
        /// Pod count; `None` when the spec gives none: [`DEFAULT_REPLICAS`] for a new
        /// tier, the running count (at least that) for a running one
        /// ([`crate::controllers::tiered_app::build::replicas`]).
        replicas: Option<i32>,
    },
    /// The HPA owns the count, once it has written it
    /// ([`crate::controllers::tiered_app::build::replicas`]).
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
    /// TLS policy of the HTTPS listener; set exactly when `certificate_arn` is.
    pub ssl_policy: Option<String>,
    /// Target group deregistration delay in seconds.
    pub deregistration_delay_seconds: i32,
    /// ALB idle timeout in seconds, when given.
    pub idle_timeout_seconds: Option<i32>,
    /// Whether the ALB speaks HTTP/2, when given.
    pub http2: Option<bool>,
    /// WAF v2 web ACL to associate, when given.
    pub wafv2_acl_arn: Option<String>,
    /// Extra names for external-dns.
    pub external_dns_hostnames: Vec<String>,
}

/// A tier's AWS identity (its ServiceAccount is named like its other children).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// IAM role ARN.
    pub role_arn: String,
    /// IRSA or EKS Pod Identity.
    pub provider: IdentityProvider,
}

/// How a tier's pods stop (see `Tier::pre_stop_sleep_seconds`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shutdown {
    /// Seconds of `lifecycle.preStop.sleep`; `None`: no pre-stop hook.
    pub pre_stop_sleep_seconds: Option<i64>,
    /// `terminationGracePeriodSeconds`; `None`: the Kubernetes default (30).
    pub termination_grace_period_seconds: Option<i64>,
}
