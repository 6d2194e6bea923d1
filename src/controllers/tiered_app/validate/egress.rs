//! Validation of a tier's declared egress: CIDRs parse (IPv4 or IPv6), each `except` lies
//! inside one of the rule's ranges, ports and ranges are in order; the `awsAPIs` default
//! follows the tier's identity. Pure.

use ipnet::IpNet;

use crate::api::tiered_app::{EgressProtocol, IdentityProvider, Tier};
use crate::controllers::tiered_app::validated::{Egress, EgressDestination, SpecError};

/// The declared egress of a tier with defaults; problems go to `errors`.
pub fn resolve_egress(field: &str, tier: &Tier, errors: &mut Vec<SpecError>) -> Egress {
    let declared = tier.egress.clone().unwrap_or_default();
    let identity = tier.service_account.as_ref();
    let aws_apis = declared.aws_apis.unwrap_or(identity.is_some());
    let mut to = Vec::new();
    for (index, rule) in declared.to.iter().enumerate() {
        let rule_field = format!("{field}.egress.to[{index}]");
        let cidrs: Vec<Option<IpNet>> = rule
            .cidrs
            .iter()
            .enumerate()
            .map(|(i, cidr)| parse_cidr(&format!("{rule_field}.cidrs[{i}]"), cidr, errors))
            .collect();
        if rule.cidrs.is_empty() {
            errors.push(SpecError::new(
                format!("{rule_field}.cidrs"),
                "needs at least one address range, e.g. 10.20.0.0/16",
            ));
        }
        let mut blocks: Vec<(String, Vec<String>)> = cidrs
            .iter()
            .flatten()
            .map(|net| (net.to_string(), Vec::new()))
            .collect();
        for (i, except) in rule.except.iter().enumerate() {
            let except_field = format!("{rule_field}.except[{i}]");
            let Some(inner) = parse_cidr(&except_field, except, errors) else {
                continue;
            };
            let mut inside = false;
            for (net, (_, excepts)) in cidrs.iter().flatten().zip(blocks.iter_mut()) {
                if net.contains(&inner) && net.prefix_len() < inner.prefix_len() {
                    excepts.push(inner.to_string());
                    inside = true;
                }
            }
            if !inside {
                errors.push(SpecError::new(
                    except_field,
                    format!("{except:?} is not a smaller range inside one of cidrs; list only ranges to leave out of them"),
                ));
            }
        }
        if rule.ports.is_empty() {
            errors.push(SpecError::new(
                format!("{rule_field}.ports"),
                "needs at least one port, e.g. {port: 443}",
            ));
        }
        let mut ports = Vec::new();
        for (i, port) in rule.ports.iter().enumerate() {
            let port_field = format!("{rule_field}.ports[{i}]");
            if !(1..=65535).contains(&port.port) {
                errors.push(SpecError::new(
                    format!("{port_field}.port"),
                    format!("{} is not a port; use 1 to 65535", port.port),
                ));
            }
            if let Some(end) = port.end_port
                && (!(1..=65535).contains(&end) || end < port.port)
            {
                errors.push(SpecError::new(
                    format!("{port_field}.endPort"),
                    format!("{end} must be a port not below port {}", port.port),
                ));
            }
            let protocol = match port.protocol.unwrap_or(EgressProtocol::Tcp) {
                EgressProtocol::Tcp => "TCP",
                EgressProtocol::Udp => "UDP",
                EgressProtocol::Sctp => "SCTP",
            };
            ports.push((port.port, port.end_port, protocol));
        }
        to.push(EgressDestination { blocks, ports });
    }
    Egress {
        internet_https: declared.internet_https.unwrap_or(false),
        aws_apis,
        pod_identity_agent: aws_apis
            && identity.is_some_and(|id| id.provider == Some(IdentityProvider::PodIdentity)),
        to,
    }
}

/// A CIDR in canonical form (host bits must be zero, as the API server requires).
fn parse_cidr(field: &str, text: &str, errors: &mut Vec<SpecError>) -> Option<IpNet> {
    match text.parse::<IpNet>() {
        Ok(net) if net.trunc() == net => Some(net),
        Ok(net) => {
            errors.push(SpecError::new(
                field,
                format!("{text:?} has host bits set; use {}", net.trunc()),
            ));
            None
        }
        Err(_) => {
            errors.push(SpecError::new(
                field,
                format!("{text:?} is not a CIDR range, e.g. 10.20.0.0/16 or 2600:1f18::/36"),
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn egress_of(yaml: &str) -> (Egress, Vec<SpecError>) {
        let tier: Tier = serde_norway::from_str(yaml).unwrap();
        let mut errors = Vec::new();
        let egress = resolve_egress("spec.tiers[0]", &tier, &mut errors);
        (egress, errors)
    }

    #[test]
    fn aws_apis_default_to_the_identity_and_pod_identity_adds_its_agent() {
        let (none, _) = egress_of("{name: w, role: worker, image: w}");
        assert_eq!(none, Egress::default());
        let (irsa, _) = egress_of(
            "{name: w, role: worker, image: w, serviceAccount: {roleArn: 'arn:aws:iam::123456789012:role/w'}}",
        );
        assert!(irsa.aws_apis && !irsa.pod_identity_agent);
        let (agent, _) = egress_of(
            "{name: w, role: worker, image: w, serviceAccount: {roleArn: 'arn:aws:iam::123456789012:role/w', provider: PodIdentity}}",
        );
        assert!(agent.aws_apis && agent.pod_identity_agent);
        let (off, _) = egress_of(
            "{name: w, role: worker, image: w, serviceAccount: {roleArn: 'arn:aws:iam::123456789012:role/w', provider: PodIdentity}, egress: {awsAPIs: false}}",
        );
        assert!(!off.aws_apis && !off.pod_identity_agent);
    }

    #[test]
    fn ranges_and_their_exceptions_are_paired() {
        let (egress, errors) = egress_of(
            "{name: w, role: worker, image: w, egress: {internetHTTPS: true, to: [{cidrs: [10.0.0.0/8, '2600:1f18::/36'], except: [10.1.0.0/16], ports: [{port: 9092, endPort: 9094}, {port: 53, protocol: UDP}]}]}}",
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert!(egress.internet_https);
        assert_eq!(
            egress.to[0].blocks,
            [
                ("10.0.0.0/8".to_owned(), vec!["10.1.0.0/16".to_owned()]),
                ("2600:1f18::/36".to_owned(), vec![])
            ]
        );
        assert_eq!(
            egress.to[0].ports,
            [(9092, Some(9094), "TCP"), (53, None, "UDP")]
        );
    }

    #[test]
    fn bad_ranges_and_ports_are_named() {
        let (_, errors) = egress_of(
            "{name: w, role: worker, image: w, egress: {to: [{cidrs: [10.0.0.1/8, nonsense], except: [192.168.0.0/16], ports: [{port: 100, endPort: 99}]}, {cidrs: [], ports: []}]}}",
        );
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "spec.tiers[0].egress.to[0].cidrs[0]",
                "spec.tiers[0].egress.to[0].cidrs[1]",
                "spec.tiers[0].egress.to[0].except[0]",
                "spec.tiers[0].egress.to[0].ports[0].endPort",
                "spec.tiers[0].egress.to[1].cidrs",
                "spec.tiers[0].egress.to[1].ports",
            ]
        );
        assert!(
            errors[0].message.contains("use 10.0.0.0/8"),
            "{}",
            errors[0]
        );
    }
}
