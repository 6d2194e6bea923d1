//! The Ingress of a presentation tier with `ingress`, for the AWS Load Balancer
//! Controller: class `alb`, `target-type: ip`, scheme, health-check path, TLS from the
//! ACM certificate with an HTTP→HTTPS redirect, and an optional shared ALB group. Pure.

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
    } else {
        annotate("listen-ports", r#"[{"HTTP":80}]"#);
    }
    if let Some(group) = &settings.group_name {
        annotate("group.name", group);
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

    #[test]
    fn a_presentation_tier_with_a_certificate_gets_https_and_a_redirect() {
        let app = validated(THREE_TIERS);
        let ingress = desired_ingress(&app, app.tier("web").unwrap()).unwrap();
        assert_eq!(
            ingress.spec.as_ref().unwrap().ingress_class_name.as_deref(),
            Some("alb")
        );
        assert_eq!(annotation(&ingress, "target-type").as_deref(), Some("ip"));
        assert_eq!(
            annotation(&ingress, "scheme").as_deref(),
            Some("internet-facing")
        );
        assert_eq!(
            annotation(&ingress, "healthcheck-path").as_deref(),
            Some("/health")
        );
        assert_eq!(annotation(&ingress, "ssl-redirect").as_deref(), Some("443"));
        assert_eq!(
            annotation(&ingress, "listen-ports").as_deref(),
            Some(r#"[{"HTTP":80},{"HTTPS":443}]"#)
        );
        assert_eq!(
            annotation(&ingress, "group.name").as_deref(),
            Some("shared")
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
        assert_eq!(annotation(&ingress, "ssl-redirect"), None);
        assert_eq!(annotation(&ingress, "certificate-arn"), None);
        assert_eq!(annotation(&ingress, "group.name"), None);
    }

    #[test]
    fn tiers_without_ingress_get_none() {
        let app = validated(THREE_TIERS);
        assert!(desired_ingress(&app, app.tier("api").unwrap()).is_none());
        assert!(desired_ingress(&app, app.tier("worker").unwrap()).is_none());
    }
}
