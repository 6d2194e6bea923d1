//! What every controller of `tiered run` shares: the Kubernetes client, the cluster name
//! (for AWS tags and identifiers), the AWS clients of the data-tier controllers, metrics,
//! health and the Event publisher.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::runtime::aws_clients::AwsClients;
use crate::runtime::events::Publisher;
use crate::runtime::health::Health;
use crate::runtime::metrics::Metrics;

/// Field manager of every server-side apply the operator sends.
pub const FIELD_MANAGER: &str = "tiered";

/// Shared state of the controllers; cheap to clone.
#[derive(Clone)]
pub struct Context {
    /// Client for the Kubernetes API.
    pub client: kube::Client,
    /// Name of this cluster, used in AWS tags and identifiers.
    pub cluster_name: String,
    /// Namespaces whose objects may adopt existing AWS resources (empty: none).
    pub adopt_namespaces: Vec<String>,
    /// Where the cluster's DNS answers, for the egress rules of the tiers' policies.
    pub cluster_dns: ClusterDns,
    /// AWS clients of the data-tier controllers.
    pub aws: AwsClients,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Liveness and readiness flags.
    pub health: Arc<Health>,
    /// Publishes `events.k8s.io/v1` Events.
    pub events: Arc<Publisher>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("cluster_name", &self.cluster_name)
            .field("adopt_namespaces", &self.adopt_namespaces)
            .finish_non_exhaustive()
    }
}

/// Where pods reach the cluster's DNS: the DNS pods (by namespace and labels), and
/// addresses a NetworkPolicy cannot match by pod, such as the kube-dns Service's
/// ClusterIP (CNIs that apply egress policy before the Service's address translation)
/// and NodeLocal DNSCache's link-local `169.254.20.10`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterDns {
    /// Namespace of the DNS pods.
    pub namespace: String,
    /// Labels of the DNS pods.
    pub pod_labels: std::collections::BTreeMap<String, String>,
    /// Further DNS server addresses (each opened as a single-address `ipBlock`).
    pub ips: Vec<std::net::IpAddr>,
}

impl Default for ClusterDns {
    /// CoreDNS on EKS: `k8s-app: kube-dns` pods in `kube-system`, no further address.
    fn default() -> Self {
        Self {
            namespace: "kube-system".to_owned(),
            pod_labels: std::collections::BTreeMap::from([(
                "k8s-app".to_owned(),
                "kube-dns".to_owned(),
            )]),
            ips: Vec::new(),
        }
    }
}

impl Context {
    /// A context whose Events are reported by controller `tiered` from `instance`.
    pub fn new(
        client: kube::Client,
        cluster_name: String,
        instance: Option<String>,
        aws: AwsClients,
        metrics: Arc<Metrics>,
        health: Arc<Health>,
    ) -> Self {
        let events = Arc::new(Publisher::new(client.clone(), "tiered", instance));
        Self {
            client,
            cluster_name,
            adopt_namespaces: Vec::new(),
            cluster_dns: ClusterDns::default(),
            aws,
            metrics,
            health,
            events,
        }
    }

    /// Whether objects in `namespace` may adopt existing AWS resources (only when the
    /// operator lists it: an empty list allows none).
    pub fn may_adopt_in(&self, namespace: &str) -> bool {
        self.adopt_namespaces.iter().any(|n| n == namespace)
    }

    /// The adoption allow-list as the data-tier reconciles take it (empty: none).
    pub fn adoption_namespaces(&self) -> BTreeSet<String> {
        self.adopt_namespaces.iter().cloned().collect()
    }
}
