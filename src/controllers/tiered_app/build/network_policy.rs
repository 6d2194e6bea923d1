//! The NetworkPolicy of a tier, mirroring the classic security-group chain: one policy
//! per tier with both policy types, so everything not listed is denied.
//!
//! - Ingress: from the pods of the tiers that `call` this one, on its port. A
//!   presentation tier with `ingress` also accepts its port from any address: the ALB
//!   (target type `ip`) connects from its ENIs' VPC addresses, which a NetworkPolicy
//!   cannot select by identity and the operator does not know offline; the ALB's own
//!   security group stays the outer fence. (A configurable source CIDR list is the
//!   natural next step.) A worker, or a tier nobody calls, accepts nothing.
//! - Egress: to the tiers it calls on their ports; DNS (UDP and TCP 53) to the DNS pods
//!   (`k8s-app: kube-dns` in `kube-system` unless the operator is told otherwise) and
//!   to the DNS addresses the operator is given (the kube-dns ClusterIP, NodeLocal
//!   DNSCache's `169.254.20.10`); when the tier has a `database` or `cache`, their
//!   ports to any address, since RDS and ElastiCache live outside the cluster at
//!   addresses that change on failover; and what the tier declares in `egress`: HTTPS
//!   to the internet, the AWS APIs (and the EKS Pod Identity Agent), address ranges.
//!
//! Pure.

use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;

use crate::api::tiered_app::TierRole;
use crate::controllers::tiered_app::build::{
    CACHE_PORT, ClusterDns, DEFAULT_DATABASE_PORTS, TierWiring, child_metadata, labels,
};
use crate::controllers::tiered_app::validated::{Egress, ValidatedApp, ValidatedTier};

/// Every IPv4 and IPv6 address.
pub const ANYWHERE: [&str; 2] = ["0.0.0.0/0", "::/0"];
/// The EKS Pod Identity Agent's link-local addresses (it listens on TCP 80).
pub const POD_IDENTITY_AGENT: [&str; 2] = ["169.254.170.23/32", "fd00:ec2::23/128"];

/// The NetworkPolicy of one tier.
pub fn desired_network_policy(
    app: &ValidatedApp,
    tier: &ValidatedTier,
    wiring: &TierWiring,
    dns: &ClusterDns,
) -> NetworkPolicy {
    let ingress = Some(ingress_rules(app, tier)).filter(|rules| !rules.is_empty());
    NetworkPolicy {
        metadata: child_metadata(app, tier),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(match_labels(labels::tier_selector_labels(
                &app.name, &tier.name,
            ))),
            policy_types: Some(vec!["Ingress".to_owned(), "Egress".to_owned()]),
            ingress,
            egress: Some(egress_rules(app, tier, wiring, dns)),
        }),
    }
}

fn ingress_rules(app: &ValidatedApp, tier: &ValidatedTier) -> Vec<NetworkPolicyIngressRule> {
    let Some(port) = tier.port.filter(|_| tier.role != TierRole::Worker) else {
        return Vec::new();
    };
    let mut from: Vec<NetworkPolicyPeer> = app
        .callers_of(&tier.name)
        .map(|caller| tier_peer(app, caller))
        .collect();
    if tier.role == TierRole::Presentation && tier.ingress.is_some() {
        from.extend(anywhere_peers());
    }
    if from.is_empty() {
        return Vec::new();
    }
    vec![NetworkPolicyIngressRule {
        from: Some(from),
        ports: Some(vec![tcp_port(port)]),
    }]
}

fn egress_rules(
    app: &ValidatedApp,
    tier: &ValidatedTier,
    wiring: &TierWiring,
    dns: &ClusterDns,
) -> Vec<NetworkPolicyEgressRule> {
    let mut rules: Vec<NetworkPolicyEgressRule> = tier
        .calls
        .iter()
        .filter_map(|callee| app.tier(callee))
        .filter_map(|callee| {
            callee.port.map(|port| NetworkPolicyEgressRule {
                to: Some(vec![tier_peer(app, callee)]),
                ports: Some(vec![tcp_port(port)]),
            })
        })
        .collect();
    rules.push(dns_rule(dns));
    let mut data_ports = Vec::new();
    if tier.database.is_some() {
        match wiring.database_port {
            Some(port) => data_ports.push(port),
            None => data_ports.extend(DEFAULT_DATABASE_PORTS),
        }
    }
    if tier.cache.is_some() {
        data_ports.push(wiring.cache_port.unwrap_or(CACHE_PORT));
    }
    data_ports.sort_unstable();
    data_ports.dedup();
    if !data_ports.is_empty() {
        rules.push(NetworkPolicyEgressRule {
            to: Some(anywhere_peers()),
            ports: Some(data_ports.into_iter().map(tcp_port).collect()),
        });
    }
    rules.extend(declared_rules(&tier.egress));
    rules
}

/// The rules of a tier's `egress`: HTTPS to anywhere once (for the internet and the AWS
/// APIs alike), the Pod Identity Agent, then each declared destination.
fn declared_rules(egress: &Egress) -> Vec<NetworkPolicyEgressRule> {
    let mut rules = Vec::new();
    if egress.internet_https || egress.aws_apis {
        rules.push(NetworkPolicyEgressRule {
            to: Some(anywhere_peers()),
            ports: Some(vec![tcp_port(443)]),
        });
    }
    if egress.pod_identity_agent {
        rules.push(NetworkPolicyEgressRule {
            to: Some(
                POD_IDENTITY_AGENT
                    .iter()
                    .map(|cidr| ip_peer(cidr, Vec::new()))
                    .collect(),
            ),
            ports: Some(vec![tcp_port(80)]),
        });
    }
    for destination in &egress.to {
        rules.push(NetworkPolicyEgressRule {
            to: Some(
                destination
                    .blocks
                    .iter()
                    .map(|(cidr, except)| ip_peer(cidr, except.clone()))
                    .collect(),
            ),
            ports: Some(
                destination
                    .ports
                    .iter()
                    .map(|(port, end_port, protocol)| NetworkPolicyPort {
                        port: Some(IntOrString::Int(*port)),
                        protocol: Some((*protocol).to_owned()),
                        end_port: *end_port,
                    })
                    .collect(),
            ),
        });
    }
    rules
}

fn ip_peer(cidr: &str, except: Vec<String>) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        ip_block: Some(IPBlock {
            cidr: cidr.to_owned(),
            except: Some(except).filter(|list| !list.is_empty()),
        }),
        ..NetworkPolicyPeer::default()
    }
}

fn dns_rule(dns: &ClusterDns) -> NetworkPolicyEgressRule {
    let mut to = vec![NetworkPolicyPeer {
        namespace_selector: Some(match_labels(BTreeMap::from([(
            "kubernetes.io/metadata.name".to_owned(),
            dns.namespace.clone(),
        )]))),
        pod_selector: Some(match_labels(dns.pod_labels.clone())),
        ip_block: None,
    }];
    to.extend(dns.ips.iter().map(|ip| {
        let bits = if ip.is_ipv4() { 32 } else { 128 };
        ip_peer(&format!("{ip}/{bits}"), Vec::new())
    }));
    NetworkPolicyEgressRule {
        to: Some(to),
        ports: Some(vec![
            port_with_protocol(53, "UDP"),
            port_with_protocol(53, "TCP"),
        ]),
    }
}

fn tier_peer(app: &ValidatedApp, tier: &ValidatedTier) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        pod_selector: Some(match_labels(labels::tier_selector_labels(
            &app.name, &tier.name,
        ))),
        ..NetworkPolicyPeer::default()
    }
}

fn anywhere_peers() -> Vec<NetworkPolicyPeer> {
    ANYWHERE
        .iter()
        .map(|cidr| NetworkPolicyPeer {
            ip_block: Some(IPBlock {
                cidr: (*cidr).to_owned(),
                except: None,
            }),
            ..NetworkPolicyPeer::default()
        })
        .collect()
}

fn match_labels(labels: BTreeMap<String, String>) -> LabelSelector {
    LabelSelector {
        match_labels: Some(labels),
        match_expressions: None,
    }
}

fn tcp_port(port: i32) -> NetworkPolicyPort {
    port_with_protocol(port, "TCP")
}

fn port_with_protocol(port: i32, protocol: &str) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(IntOrString::Int(port)),
        protocol: Some(protocol.to_owned()),
        end_port: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::tiered_app::build::test_support::{THREE_TIERS, validated};

    fn policy_of(tier: &str, wiring: &TierWiring) -> NetworkPolicySpec {
        let app = validated(THREE_TIERS);
        desired_network_policy(
            &app,
            app.tier(tier).unwrap(),
            wiring,
            &ClusterDns::default(),
        )
        .spec
        .unwrap()
    }

    /// The CIDRs of `peers`, all of them IP blocks.
    fn cidrs(peers: &[NetworkPolicyPeer]) -> Vec<&str> {
        peers
            .iter()
            .map(|p| p.ip_block.as_ref().unwrap().cidr.as_str())
            .collect()
    }

    /// The egress rule whose first port is `port`.
    fn rule_on_port(egress: &[NetworkPolicyEgressRule], port: i32) -> &NetworkPolicyEgressRule {
        egress
            .iter()
            .find(|rule| rule.ports.as_ref().unwrap()[0].port == Some(IntOrString::Int(port)))
            .unwrap()
    }

    fn selected_tier(peer: &NetworkPolicyPeer) -> Option<String> {
        peer.pod_selector
            .as_ref()?
            .match_labels
            .as_ref()?
            .get(labels::NAME)
            .cloned()
    }

    #[test]
    fn every_policy_governs_both_directions() {
        for tier in ["web", "api", "worker"] {
            let spec = policy_of(tier, &TierWiring::default());
            assert_eq!(spec.policy_types.unwrap(), ["Ingress", "Egress"]);
        }
    }

    #[test]
    fn a_called_tier_accepts_exactly_its_callers_on_its_port() {
        let spec = policy_of("api", &TierWiring::default());
        let rules = spec.ingress.unwrap();
        assert_eq!(rules.len(), 1);
        let callers: Vec<_> = rules[0]
            .from
            .as_ref()
            .unwrap()
            .iter()
            .map(selected_tier)
            .collect();
        assert_eq!(callers, [Some("web".to_owned()), Some("worker".to_owned())]);
        assert_eq!(
            rules[0].ports.as_ref().unwrap()[0].port,
            Some(IntOrString::Int(5000))
        );
    }

    #[test]
    fn the_presentation_tier_accepts_the_load_balancer_from_any_address() {
        let spec = policy_of("web", &TierWiring::default());
        let from = spec.ingress.unwrap()[0].from.clone().unwrap();
        let cidrs: Vec<_> = from
            .iter()
            .filter_map(|p| p.ip_block.clone())
            .map(|b| b.cidr)
            .collect();
        assert_eq!(cidrs, ANYWHERE);
    }

    #[test]
    fn a_worker_accepts_nothing() {
        assert!(
            policy_of("worker", &TierWiring::default())
                .ingress
                .is_none()
        );
    }

    #[test]
    fn egress_reaches_called_tiers_dns_and_the_data_tier_only() {
        let web = policy_of("web", &TierWiring::default()).egress.unwrap();
        assert_eq!(web.len(), 2, "api + dns");
        assert_eq!(
            selected_tier(&web[0].to.as_ref().unwrap()[0]),
            Some("api".to_owned())
        );
        let ports = |rule: &NetworkPolicyEgressRule| rule.ports.clone().unwrap().into_iter();
        let dns_ports: Vec<_> = ports(&web[1]).map(|p| p.protocol).collect();
        assert_eq!(dns_ports, [Some("UDP".to_owned()), Some("TCP".to_owned())]);

        let api = policy_of("api", &TierWiring::default()).egress.unwrap();
        let data_ports: Vec<_> = ports(&api[1]).map(|p| p.port).collect();
        assert_eq!(
            data_ports,
            [3306, 5432, 6379].map(|port| Some(IntOrString::Int(port)))
        );
        let known = TierWiring {
            database_port: Some(5432),
            ..TierWiring::default()
        };
        let api = policy_of("api", &known).egress.unwrap();
        assert_eq!(ports(&api[1]).count(), 2);
    }

    #[test]
    fn dns_reaches_the_pods_and_every_address_the_operator_was_given() {
        let app = validated(THREE_TIERS);
        let dns = ClusterDns {
            ips: vec!["169.254.20.10".parse().unwrap(), "fd00::a".parse().unwrap()],
            ..ClusterDns::default()
        };
        let policy =
            desired_network_policy(&app, app.tier("api").unwrap(), &TierWiring::default(), &dns);
        let egress = policy.spec.unwrap().egress.unwrap();
        let dns_rule = rule_on_port(&egress, 53);
        let peers = dns_rule.to.as_ref().unwrap();
        assert_eq!(
            peers[0]
                .pod_selector
                .as_ref()
                .unwrap()
                .match_labels
                .as_ref()
                .unwrap()["k8s-app"],
            "kube-dns"
        );
        assert_eq!(cidrs(&peers[1..]), ["169.254.20.10/32", "fd00::a/128"]);
    }

    #[test]
    fn declared_egress_adds_https_the_pod_identity_agent_and_ranges() {
        let mut app = validated(THREE_TIERS);
        app.tiers[2].egress = Egress {
            internet_https: true,
            aws_apis: true,
            pod_identity_agent: true,
            to: vec![
                crate::controllers::tiered_app::validated::EgressDestination {
                    blocks: vec![("10.0.0.0/8".to_owned(), vec!["10.1.0.0/16".to_owned()])],
                    ports: vec![(9092, Some(9094), "TCP")],
                },
            ],
        };
        let policy = desired_network_policy(
            &app,
            &app.tiers[2],
            &TierWiring::default(),
            &ClusterDns::default(),
        );
        let egress = policy.spec.unwrap().egress.unwrap();
        let https: Vec<_> = egress
            .iter()
            .filter(|rule| rule.ports.as_ref().unwrap()[0].port == Some(IntOrString::Int(443)))
            .collect();
        assert_eq!(https.len(), 1, "internet and AWS APIs share one rule");
        assert_eq!(cidrs(https[0].to.as_ref().unwrap()), ANYWHERE);
        let agent = rule_on_port(&egress, 80);
        assert_eq!(cidrs(agent.to.as_ref().unwrap()), POD_IDENTITY_AGENT);
        let range = egress.last().unwrap();
        let block = range.to.as_ref().unwrap()[0].ip_block.clone().unwrap();
        assert_eq!(block.cidr, "10.0.0.0/8");
        assert_eq!(block.except, Some(vec!["10.1.0.0/16".to_owned()]));
        let port = &range.ports.as_ref().unwrap()[0];
        assert_eq!(
            (port.port.clone(), port.end_port),
            (Some(IntOrString::Int(9092)), Some(9094))
        );
        // Without declarations nothing is opened beyond the app, DNS and the data tier.
        let plain = validated(THREE_TIERS);
        let policy = desired_network_policy(
            &plain,
            &plain.tiers[2],
            &TierWiring::default(),
            &ClusterDns::default(),
        );
        assert!(
            policy.spec.unwrap().egress.unwrap().iter().all(|rule| {
                rule.ports.as_ref().unwrap()[0].port != Some(IntOrString::Int(443))
            })
        );
    }
}
