//! The Ingress of a presentation tier with `ingress`, for the AWS Load Balancer
//! Controller: class `alb`, `target-type: ip`, scheme, health-check path, TLS from the
//! ACM certificate with an HTTP→HTTPS redirect and a TLS 1.2+ policy, the target
//! group's deregistration delay (which the pods' pre-stop sleep matches), the ALB's
//! idle timeout and HTTP/2, an optional WAF v2 ACL and shared ALB group, and the names
//! external-dns publishes. Pure.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, ServiceBackendPort,
};

use crate::api::tiered_app::{IngressScheme, TierRole};
use crate::controllers::tiered_app::build::child_metadata;
use crate::controllers::tiered_app::build::deployment::PORT_NAME;
use crate::controllers::tiered_app::validated::{ValidatedApp, ValidatedTier};

/// Ingress class of the AWS Load Balancer Controller.
pub const INGRESS_CLASS: &str = "alb";
/// Prefix of the AWS Load Balancer Controller's annotations.
pub const ANNOTATION_PREFIX: &str = "alb.ingress.kubernetes.io/";
/// external-dns' annotation of the names to publish for the load balancer.
pub const EXTERNAL_DNS_HOSTNAME: &str = "external-dns.alpha.kubernetes.io/hostname";

/// The Ingress of one tier; `None` unless it is a presentation tier with `ingress`.
pub fn desired_ingress(app: &ValidatedApp, tier: &ValidatedTier) -> Option<Ingress> {
    let settings = tier.ingress.as_ref()?;
    if tier.role != TierRole::Presentation || tier.port.is_none() {
        return None;
    }
    let mut annotations = BTreeMap::new();
    let mut annotate = |key: &str, value: &str| {
        annotations.insert(format!("{ANNOTATION_PREFIX}{key}"), value.to_owned());
    };
    annotate(
        "scheme",
        match settings.scheme {
            IngressScheme::InternetFacing => "internet-facing",
            IngressScheme::Internal => "internal",
        },
    );
    annotate("target-type", "ip");
    if let Some(check) = &tier.health_check {
        annotate("healthcheck-path", &check.path);
    }
    if let Some(arn) = &settings.certificate_arn {
        annotate("certificate-arn", arn);
        annotate("listen-ports", r#"[{"HTTP":80},{"HTTPS":443}]"#);
        annotate("ssl-redirect", "443");
        if let Some(policy) = &settings.ssl_policy {
            annotate("ssl-policy", policy);
        }
    } else {
        annotate("listen-ports", r#"[{"HTTP":80}]"#);
    }
    if let Some(group) = &settings.group_name {
        annotate("group.name", group);
    }
    annotate(
        "target-group-attributes",
        &format!(
            "deregistration_delay.timeout_seconds={}",
            settings.deregistration_delay_seconds
        ),
    );
    let load_balancer_attributes: Vec<String> = [
        settings
            .idle_timeout_seconds
            .map(|seconds| format!("idle_timeout.timeout_seconds={seconds}")),
        settings
            .http2
            .map(|enabled| format!("routing.http2.enabled={enabled}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !load_balancer_attributes.is_empty() {
        annotate(
            "load-balancer-attributes",
            &load_balancer_attributes.join(","),
        );
    }
    if let Some(arn) = &settings.wafv2_acl_arn {
        annotate("wafv2-acl-arn", arn);
    }
    if !settings.external_dns_hostnames.is_empty() {
        annotations.insert(
            EXTERNAL_DNS_HOSTNAME.to_owned(),
            settings.external_dns_hostnames.join(","),
        );
    }
    let mut metadata = child_metadata(app, tier);
    metadata.annotations = Some(annotations);
    Some(Ingress {
        metadata,
        spec: Some(IngressSpec {
            ingress_class_name: Some(INGRESS_CLASS.to_owned()),
            rules: Some(vec![IngressRule {
                host: settings.host.clone(),
                http: Some(HTTPIngressRuleValue {
                    paths: vec![HTTPIngressPath {
                        path: Some(settings.path.clone()),
                        path_type: "Prefix".to_owned(),
                        backend: IngressBackend {
                            service: Some(IngressServiceBackend {
                                name: tier.child_name.clone(),
                                port: Some(ServiceBackendPort {
                                    name: Some(PORT_NAME.to_owned()),
                                    number: None,
                                }),
                            }),
                            resource: None,
                        },
                    }],
                }),
            }]),
            ..IngressSpec::default()
        }),
        status: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::tiered_app::build::test_support::{THREE_TIERS, validated};

    fn annotation(ingress: &Ingress, key: &str) -> Option<String> {
        ingress
            .metadata
            .annotations
            .as_ref()?
            .get(&format!("{ANNOTATION_PREFIX}{key}"))
            .cloned()
    }

    /// Checks each `(key, value)` of `expected` against the ALB annotations.
    fn assert_annotations(ingress: &Ingress, expected: &[(&str, &str)]) {
        for (key, value) in expected {
            assert_eq!(annotation(ingress, key).as_deref(), Some(*value), "{key}");
        }
    }

    #[test]
    fn a_presentation_tier_with_a_certificate_gets_https_and_a_redirect() {
        let app = validated(THREE_TIERS);
        let ingress = desired_ingress(&app, app.tier("web").unwrap()).unwrap();
        assert_eq!(
            ingress.spec.as_ref().unwrap().ingress_class_name.as_deref(),
            Some("alb")
        );
        assert_annotations(
            &ingress,
            &[
                ("target-type", "ip"),
                ("scheme", "internet-facing"),
                ("healthcheck-path", "/health"),
                ("ssl-redirect", "443"),
                ("listen-ports", r#"[{"HTTP":80},{"HTTPS":443}]"#),
                ("group.name", "shared"),
                ("ssl-policy", "ELBSecurityPolicy-TLS13-1-2-2021-06"),
                (
                    "target-group-attributes",
                    "deregistration_delay.timeout_seconds=30",
                ),
            ],
        );
        let rule = &ingress.spec.unwrap().rules.unwrap()[0];
        assert_eq!(rule.host.as_deref(), Some("shop.example.com"));
        let path = &rule.http.as_ref().unwrap().paths[0];
        assert_eq!(
            (path.path.as_deref(), path.path_type.as_str()),
            (Some("/"), "Prefix")
        );
        let backend = path.backend.service.clone().unwrap();
        assert_eq!(backend.name, "shop-web");
    }

    #[test]
    fn without_a_certificate_there_is_no_redirect() {
        let mut app = validated(THREE_TIERS);
        if let Some(settings) = app.tiers[0].ingress.as_mut() {
            settings.certificate_arn = None;
            settings.group_name = None;
        }
        let ingress = desired_ingress(&app, &app.tiers[0]).unwrap();
        for key in [
            "ssl-redirect",
            "certificate-arn",
            "group.name",
            "ssl-policy",
            "load-balancer-attributes",
        ] {
            assert_eq!(annotation(&ingress, key), None, "{key}");
        }
    }

    #[test]
    fn alb_attributes_waf_and_external_dns_names_become_annotations() {
        let mut app = validated(THREE_TIERS);
        if let Some(settings) = app.tiers[0].ingress.as_mut() {
            settings.idle_timeout_seconds = Some(60);
            settings.http2 = Some(true);
            settings.deregistration_delay_seconds = 45;
            settings.wafv2_acl_arn =
                Some("arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/news/abc".to_owned());
            settings.external_dns_hostnames = vec![
                "news.example.com".to_owned(),
                "www.news.example.com".to_owned(),
            ];
        }
        let ingress = desired_ingress(&app, &app.tiers[0]).unwrap();
        assert_annotations(
            &ingress,
            &[
                (
                    "load-balancer-attributes",
                    "idle_timeout.timeout_seconds=60,routing.http2.enabled=true",
                ),
                (
                    "target-group-attributes",
                    "deregistration_delay.timeout_seconds=45",
                ),
                (
                    "wafv2-acl-arn",
                    "arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/news/abc",
                ),
            ],
        );
        let dns = ingress
            .metadata
            .annotations
            .as_ref()
            .unwrap()
            .get(EXTERNAL_DNS_HOSTNAME);
        assert_eq!(
            dns.map(String::as_str),
            Some("news.example.com,www.news.example.com")
        );
    }

    #[test]
    fn tiers_without_ingress_get_none() {
        let app = validated(THREE_TIERS);
        assert!(desired_ingress(&app, app.tier("api").unwrap()).is_none());
        assert!(desired_ingress(&app, app.tier("worker").unwrap()).is_none());
    }
}
