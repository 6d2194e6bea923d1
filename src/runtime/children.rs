//! The kinds of child a TieredApp owns, listed once: [`ChildKinds`] holds one value per
//! kind (the desired objects of a pass, the reflector store of the live ones, …), so
//! that the builders' output and the stores name the same kinds and cannot drift apart.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Resource;

/// What [`ChildKinds`] keeps for each kind `K`: `Of<K>`, e.g. `Vec<K>` ([`Lists`]).
pub trait PerKind {
    /// The value kept for the kind `K` (a Kubernetes type, e.g. `Deployment`).
    type Of<K: Resource<DynamicType = ()> + 'static>;
}

/// A list of objects per kind: the desired children of a pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lists;

impl PerKind for Lists {
    type Of<K: Resource<DynamicType = ()> + 'static> = Vec<K>;
}

/// One `F::Of<K>` for each kind of child a TieredApp has. Adding a kind is one field
/// here; `DesiredChildren::visit` (what `tiered render` and the benchmark read), the
/// apply and the controller's wiring of the stores destructure or build the whole
/// struct, so the compiler points at them. Two places it cannot point at want a line
/// too: the builders' `desired_children` and `ChildStores::wait_until_ready`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChildKinds<F: PerKind> {
    /// PersistentVolumeClaims: one per shared volume of the app (`spec.volumes`), not
    /// per tier. Applied with their own ownership rules and never pruned.
    pub claims: F::Of<PersistentVolumeClaim>,
    /// ServiceAccounts: one per tier with `serviceAccount` (an AWS identity).
    pub service_accounts: F::Of<ServiceAccount>,
    /// Deployments: one per tier.
    pub deployments: F::Of<Deployment>,
    /// Services: one per tier with a port and role other than worker.
    pub services: F::Of<Service>,
    /// HorizontalPodAutoscalers: one per tier with `autoscaling`.
    pub hpas: F::Of<HorizontalPodAutoscaler>,
    /// PodDisruptionBudgets: one per tier that can run more than one pod.
    pub pdbs: F::Of<PodDisruptionBudget>,
    /// NetworkPolicies: one per tier.
    pub network_policies: F::Of<NetworkPolicy>,
    /// Ingresses: one per presentation tier with `ingress`.
    pub ingresses: F::Of<Ingress>,
}
