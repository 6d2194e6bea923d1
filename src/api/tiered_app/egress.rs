//! `TierEgress`: where a tier's pods may connect beyond the tiers it calls, cluster DNS
//! and its database and cache (which tiered opens by itself), as NetworkPolicy egress.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Destinations outside the app that the tier's pods open connections to. Everything
/// not listed (and not a called tier, cluster DNS, the database or the cache) is
/// denied on clusters that enforce NetworkPolicies.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TierEgress {
    /// HTTPS (TCP 443) to any address, IPv4 and IPv6: APIs and feeds on the internet.
    #[serde(rename = "internetHTTPS")]
    pub internet_https: Option<bool>,
    /// The AWS APIs (STS, S3, Secrets Manager, …) over HTTPS (TCP 443 to any address:
    /// a NetworkPolicy cannot tell AWS' public endpoints from the rest of the internet;
    /// with VPC interface endpoints, set this to false and list the endpoints' subnets
    /// in `to`), plus the EKS Pod Identity Agent (169.254.170.23 and fd00:ec2::23, TCP
    /// 80) for a tier with `serviceAccount.provider: PodIdentity`. Defaults to true for a
    /// tier with `serviceAccount`, false otherwise.
    #[serde(rename = "awsAPIs")]
    pub aws_apis: Option<bool>,
    /// Further destinations by address range and port.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub to: Vec<EgressRule>,
}

/// Connections to address ranges on given ports.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct EgressRule {
    /// Destination address ranges in CIDR notation, e.g. `10.20.0.0/16` or
    /// `2600:1f18::/36`.
    #[schemars(length(min = 1, max = 20), inner(length(max = 43)))]
    pub cidrs: Vec<String>,
    /// Ranges inside `cidrs` to leave out (the NetworkPolicy's `ipBlock.except`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20), inner(length(max = 43)))]
    pub except: Vec<String>,
    /// Destination ports.
    #[schemars(length(min = 1, max = 20))]
    pub ports: Vec<EgressPort>,
}

/// A destination port or port range.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[x_kube(validation = Rule::new("!has(self.endPort) || self.endPort >= self.port").message("endPort must not be below port").field_path(".endPort"))]
#[serde(rename_all = "camelCase")]
pub struct EgressPort {
    /// Port number.
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    /// Last port of a range starting at `port`.
    #[schemars(range(min = 1, max = 65535))]
    pub end_port: Option<i32>,
    /// `TCP` (default), `UDP` or `SCTP`.
    pub protocol: Option<EgressProtocol>,
}

/// Transport protocol of an egress port.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::api::shared::field_describes_enum)]
pub enum EgressProtocol {
    /// TCP.
    #[serde(rename = "TCP")]
    Tcp,
    /// UDP.
    #[serde(rename = "UDP")]
    Udp,
    /// SCTP.
    #[serde(rename = "SCTP")]
    Sctp,
}
