//! `TieredApp`: the presentation and application tiers of a three-tier application.
//! Each tier becomes a Deployment, Service, HPA, PDB, NetworkPolicies and, for a
//! presentation tier with `ingress`, an ALB Ingress.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{EnvVar, ResourceRequirements, Toleration};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::shared::{DNS_1035_LABEL, HTTP_PATH, LocalRef, kind_status};

mod alb;
mod egress;
mod identity;
mod volumes;
pub use alb::{IngressScheme, TierIngress};
pub use egress::{EgressPort, EgressProtocol, EgressRule, TierEgress};
pub use identity::{IdentityProvider, TierServiceAccount};
pub use volumes::{
    ClaimRetention, QUANTITY, SharedVolume, TierVolumeMount, VolumeAccessMode,
    VolumeRetentionPolicy,
};

/// Desired state of a three-tier application: its tiers and how they call each other.
#[serde_with::skip_serializing_none]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "tiered.io",
    version = "v1alpha1",
    kind = "TieredApp",
    namespaced,
    status = "TieredAppStatus",
    shortname = "ta",
    category = "tiered",
    doc = "A highly available three-tier application: presentation and application tiers as Kubernetes workloads, wired to a ManagedDatabase and a CacheCluster.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(name = "URL", type_ = "string", json_path = ".status.url"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Message",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].message",
        description = "What the Ready condition says: what is going on, or what to do",
        priority = "1"
    ),
    validation = Rule::new("self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')").message("metadata.name must start with a letter and hold only lowercase letters, digits and '-' (no dots): it begins the names of the app's Services, which must be DNS-1035 labels"),
    validation = Rule::new("self.spec.tiers.all(t, size(self.metadata.name) + 1 + size(t.name) <= 63)").message("metadata.name and each tier name make the name <app>-<tier> of the tier's objects, which must fit in 63 characters (the limit of a Service name); shorten metadata.name or the tier name").field_path(".spec.tiers")
)]
#[x_kube(validation = Rule::new("self.tiers.all(t, self.tiers.exists_one(u, u.name == t.name))").message("tier names must be unique within the app").field_path(".tiers"))]
#[x_kube(validation = Rule::new("self.tiers.all(t, !has(t.calls) || t.calls.all(c, self.tiers.exists(u, u.name == c)))").message("every entry of calls must name a tier of this app").field_path(".tiers"))]
#[x_kube(validation = Rule::new("!has(self.volumes) ? self.tiers.all(t, !has(t.volumeMounts)) : self.tiers.all(t, !has(t.volumeMounts) || t.volumeMounts.all(m, self.volumes.exists(v, v.name == m.name)))").message("every volumeMounts[].name must name a volume in spec.volumes").field_path(".tiers"))]
#[serde(rename_all = "camelCase")]
pub struct TieredAppSpec {
    /// The tiers of the application, e.g. a `web` presentation tier and an `api`
    /// application tier. Names are unique within the app.
    #[schemars(length(min = 1, max = 20))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub tiers: Vec<Tier>,
    /// Shared file storage: one PersistentVolumeClaim `<app>-<name>` per volume
    /// (`ReadWriteMany` by default, e.g. on Amazon EFS), mounted by the tiers that list
    /// it in `volumeMounts`. Claims outlive a tier's or volume's removal; see
    /// `persistentVolumeClaimRetentionPolicy` for the app's deletion.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub volumes: Vec<SharedVolume>,
    /// Whether the claims of `volumes` are deleted with the app: `whenDeleted: Retain`
    /// (default, like the data tier's `Retain`) or `Delete`.
    pub persistent_volume_claim_retention_policy: Option<VolumeRetentionPolicy>,
}

/// One tier of the application: a set of identical pods behind a Service.
#[serde_with::skip_serializing_none]
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(validation = Rule::new("!has(self.ingress) || self.role == 'presentation'").message("ingress is only allowed on a tier with role presentation").field_path(".ingress"))]
#[x_kube(validation = Rule::new("self.role == 'worker' || has(self.port)").message("port is required unless the role is worker").field_path(".port"))]
#[x_kube(validation = Rule::new("!has(self.calls) || !self.calls.exists(c, c == self.name)").message("a tier cannot list itself in calls").field_path(".calls"))]
#[x_kube(validation = Rule::new("!has(self.terminationGracePeriodSeconds) || !has(self.preStopSleepSeconds) || self.terminationGracePeriodSeconds > self.preStopSleepSeconds").message("terminationGracePeriodSeconds must be longer than preStopSleepSeconds, or the pod is killed before it has drained").field_path(".terminationGracePeriodSeconds"))]
#[x_kube(validation = Rule::new("!has(self.servicePort) || has(self.port)").message("servicePort needs the container port; set port").field_path(".servicePort"))]
#[serde(rename_all = "camelCase")]
pub struct Tier {
    /// Name of the tier, a DNS label unique in the app (e.g. `web`, `api`). Child objects
    /// are named `<app>-<tier>`.
    #[schemars(
        length(min = 1, max = 40),
        regex(pattern = DNS_1035_LABEL)
    )]
    pub name: String,
    /// What the tier does: `presentation` (web front end, may have an ALB ingress),
    /// `application` (an API called by other tiers) or `worker` (no inbound traffic).
    pub role: TierRole,
    /// Container image, e.g. `ghcr.io/acme/web:1.4.2`. Pin a tag or digest.
    #[schemars(length(min = 1, max = 512))]
    pub image: String,
    /// Entrypoint override for the container (replaces the image's ENTRYPOINT).
    pub command: Option<Vec<String>>,
    /// Arguments for the container (replaces the image's CMD).
    pub args: Option<Vec<String>>,
    /// TCP port the container listens on. Required unless the role is `worker`.
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i32>,
    /// Port the tier's Service exposes, when it differs from the container's `port`
    /// (e.g. 80 in front of a container on 3000). Defaults to `port`. Callers and the ALB
    /// reach the pods on `port` either way.
    #[schemars(range(min = 1, max = 65535))]
    pub service_port: Option<i32>,
    /// Seconds a pod keeps serving after it is told to stop, before the container gets
    /// SIGTERM (the container's `lifecycle.preStop.sleep`): time for the Service
    /// endpoints and the ALB to stop sending it new requests. Defaults: the ALB's
    /// deregistration delay for a tier with `ingress`, 5 for other tiers with a port,
    /// none for a worker without one.
    #[schemars(range(min = 1, max = 3600))]
    pub pre_stop_sleep_seconds: Option<i64>,
    /// Seconds from the stop request to SIGKILL (the pod's
    /// `terminationGracePeriodSeconds`); must be longer than `preStopSleepSeconds` and,
    /// for a tier with `ingress`, than the ALB's deregistration delay. Defaults to the
    /// pre-stop sleep plus 15 s for the app's own shutdown (at least 30, the Kubernetes
    /// default).
    #[schemars(range(min = 1, max = 7200))]
    pub termination_grace_period_seconds: Option<i64>,
    /// Number of pods when `autoscaling` is absent. Without it, a new tier gets 2 (to
    /// survive the loss of one node or zone) and a running tier keeps its current count,
    /// at least 2, e.g. the count the autoscaler reached when `autoscaling` is removed.
    #[schemars(range(min = 0, max = 1000))]
    pub replicas: Option<i32>,
    /// Horizontal pod autoscaling; when set, the HPA owns the replica count. Switching it
    /// on keeps the running pods (at least `minReplicas`) until the HPA first changes
    /// their count.
    pub autoscaling: Option<Autoscaling>,
    /// CPU and memory requests and limits of the container. Defaults: requests
    /// 100m CPU / 128Mi memory, limit 512Mi memory.
    pub resources: Option<ResourceRequirements>,
    /// HTTP health endpoint used for readiness and liveness probes and the ALB target
    /// group health check.
    pub health_check: Option<HealthCheck>,
    /// Environment variables of the container (Kubernetes EnvVar list).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// Public entry through an AWS Application Load Balancer (presentation tiers only).
    pub ingress: Option<TierIngress>,
    /// Names of the tiers of this app that this tier opens connections to. Network
    /// policies allow exactly these paths.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 20),
        inner(regex(pattern = DNS_1035_LABEL))
    )]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub calls: Vec<String>,
    /// Destinations outside the app the tier connects to (HTTPS to the internet, the
    /// AWS APIs, address ranges and ports), added to its NetworkPolicy's egress.
    pub egress: Option<TierEgress>,
    /// A ManagedDatabase in the same namespace whose connection Secret this tier gets.
    /// The tier is not rolled out until the database is Ready; once it runs on the
    /// database's connection Secret, its own changes roll out while the database is busy
    /// (not Ready in a backup or modification), new credentials still wait for Ready.
    pub database: Option<LocalRef>,
    /// A CacheCluster in the same namespace whose connection Secret this tier gets.
    /// The tier is not rolled out until the cache is Ready; once it runs on the cache's
    /// connection Secret, its own changes roll out while the cache is busy (not Ready in a
    /// modification), new credentials still wait for Ready.
    pub cache: Option<LocalRef>,
    /// An AWS identity for the tier's pods (IRSA or EKS Pod Identity) through a
    /// ServiceAccount `<app>-<tier>` that tiered creates. Without it the pods run under
    /// the namespace's `default` ServiceAccount and mount no token.
    pub service_account: Option<TierServiceAccount>,
    /// The kind of EC2 capacity the tier's pods must run on: `spot` or `on-demand`. A
    /// required node affinity matches Karpenter's `karpenter.sh/capacity-type` and EKS
    /// managed node groups' `eks.amazonaws.com/capacityType`. Without it, any node.
    pub capacity_type: Option<CapacityType>,
    /// Labels a node must have to run the tier's pods (the pod's `nodeSelector`), e.g.
    /// `kubernetes.io/arch: arm64`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(length(max = 20))]
    pub node_selector: BTreeMap<String, String>,
    /// Taints the tier's pods tolerate (the pod's `tolerations`), e.g. of a dedicated
    /// or spot node pool.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub tolerations: Vec<Toleration>,
    /// PriorityClass of the tier's pods (the pod's `priorityClassName`): which pods the
    /// scheduler evicts first under pressure. Classes named `system-…` are reserved for
    /// cluster components.
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    )]
    pub priority_class_name: Option<String>,
    /// Volumes of the app's `spec.volumes` that the tier's container mounts, each at its
    /// own path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["mountPath"]))]
    pub volume_mounts: Vec<TierVolumeMount>,
}

/// EC2 capacity a tier runs on.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[schemars(transform = crate::api::shared::field_describes_enum)]
pub enum CapacityType {
    /// Spot instances: cheaper, reclaimed with two minutes' notice. Suits tiers with
    /// several replicas and a PodDisruptionBudget.
    Spot,
    /// On-demand instances.
    OnDemand,
}

/// The role of a tier in the three-tier architecture.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TierRole {
    /// Web front end; may be exposed through an ALB.
    Presentation,
    /// Internal API called by other tiers.
    Application,
    /// Background worker without inbound traffic.
    Worker,
}

/// Horizontal pod autoscaling of a tier (`autoscaling/v2`).
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[x_kube(validation = Rule::new("self.minReplicas <= self.maxReplicas").message("minReplicas must not be greater than maxReplicas").field_path(".minReplicas"))]
#[serde(rename_all = "camelCase")]
pub struct Autoscaling {
    /// Lowest number of pods. Keep it at 2 or more for high availability.
    #[schemars(range(min = 1, max = 1000))]
    pub min_replicas: i32,
    /// Highest number of pods.
    #[schemars(range(min = 1, max = 1000))]
    pub max_replicas: i32,
    /// Average CPU utilization, in percent of the request, that the HPA aims at.
    /// Defaults to 70 when no target is given.
    #[serde(rename = "targetCPUUtilization")]
    #[schemars(range(min = 1, max = 100))]
    pub target_cpu_utilization: Option<i32>,
    /// Average memory utilization, in percent of the request, that the HPA aims at.
    #[schemars(range(min = 1, max = 100))]
    pub target_memory_utilization: Option<i32>,
}

/// HTTP health check of a tier.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    /// Path of the HTTP health endpoint, e.g. `/health`.
    #[schemars(length(min = 1, max = 1024), regex(pattern = HTTP_PATH))]
    pub path: String,
    /// Seconds to wait after the container starts before the first probe.
    #[schemars(range(min = 0, max = 3600))]
    pub initial_delay_seconds: Option<i32>,
    /// Seconds between probes.
    #[schemars(range(min = 1, max = 3600))]
    pub period_seconds: Option<i32>,
}

kind_status! {
    /// Observed state of a TieredApp.
    pub struct TieredAppStatus {
        /// Rollout state of each tier.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
        pub tiers: Vec<TierStatus>,
        /// Public URL of the app: the `url` of its first tier (in spec order) that has one.
        pub url: Option<String>,
    }
}

/// Rollout state of one tier, read from its Deployment.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TierStatus {
    /// Name of the tier.
    pub name: String,
    /// Number of pods the Deployment wants.
    pub desired_replicas: i32,
    /// Number of pods that pass their readiness probe.
    pub ready_replicas: i32,
    /// Number of pods running the current pod template.
    pub updated_replicas: i32,
    /// True when every desired pod is updated and ready.
    pub ready: bool,
    /// Where the Deployment's rollout stands, from its `Progressing` and
    /// `ReplicaFailure` conditions; absent until the Deployment reports them.
    pub rollout: Option<TierRollout>,
    /// Public URL of a tier with `ingress`, once its ALB has an address: `https://` with
    /// a certificate, the ingress `host` when set (else the ALB's DNS name), then the
    /// path when it is not `/`, e.g. `https://shop.example.com/api`.
    pub url: Option<String>,
}

/// The rollout of a tier's Deployment as its conditions report it.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TierRollout {
    /// `Progressing` (pods are being replaced), `Complete` (the latest pod template is
    /// available) or `Failed` (`ProgressDeadlineExceeded`, or `ReplicaFailure=True`:
    /// pods cannot be created). A failed rollout makes the app `Stalled` until the
    /// tier's spec changes or the Deployment recovers.
    pub state: RolloutState,
    /// Reason of the Deployment condition that decided the state, e.g.
    /// `NewReplicaSetAvailable`, `ProgressDeadlineExceeded`, `FailedCreate`.
    pub reason: Option<String>,
    /// Message of that condition, as the Deployment controller wrote it.
    pub message: Option<String>,
}

/// State of a tier's rollout.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum RolloutState {
    /// New pods are being created or becoming available.
    Progressing,
    /// The latest pod template is rolled out and available.
    Complete,
    /// The rollout cannot finish without a change: the progress deadline passed or the
    /// ReplicaSet cannot create pods.
    Failed,
}
