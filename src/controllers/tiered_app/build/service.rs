//! The ClusterIP Service of a tier that takes traffic (a port and a role other than
//! worker), with one port named `http`: `servicePort` (or the container port) in front
//! of the container's named port. Pure.

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::api::tiered_app::TierRole;
use crate::controllers::tiered_app::build::deployment::PORT_NAME;
use crate::controllers::tiered_app::build::{child_metadata, labels};
use crate::controllers::tiered_app::validated::{ValidatedApp, ValidatedTier};

/// The Service of one tier; `None` for a worker or a tier without port.
pub fn desired_service(app: &ValidatedApp, tier: &ValidatedTier) -> Option<Service> {
    if tier.role == TierRole::Worker {
        return None;
    }
    tier.port?;
    let port = tier.service_port?;
    Some(Service {
        metadata: child_metadata(app, tier),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_owned()),
            selector: Some(labels::tier_selector_labels(&app.name, &tier.name)),
            ports: Some(vec![ServicePort {
                name: Some(PORT_NAME.to_owned()),
                port,
                target_port: Some(IntOrString::String(PORT_NAME.to_owned())),
                protocol: Some("TCP".to_owned()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        status: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::tiered_app::build::test_support::{THREE_TIERS, validated};

    #[test]
    fn a_serving_tier_gets_a_cluster_ip_service_on_its_named_port() {
        let app = validated(THREE_TIERS);
        let service = desired_service(&app, app.tier("api").unwrap()).unwrap();
        assert_eq!(service.metadata.name.as_deref(), Some("shop-api"));
        let spec = service.spec.unwrap();
        assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
        let port = &spec.ports.unwrap()[0];
        assert_eq!((port.name.as_deref(), port.port), (Some("http"), 5000));
        assert_eq!(
            spec.selector,
            Some(labels::tier_selector_labels("shop", "api"))
        );
    }

    #[test]
    fn a_service_port_maps_to_the_container_port_by_name() {
        let mut app = validated(THREE_TIERS);
        app.tiers[1].service_port = Some(80);
        let service = desired_service(&app, &app.tiers[1]).unwrap();
        let port = &service.spec.unwrap().ports.unwrap()[0];
        assert_eq!(port.port, 80);
        assert_eq!(
            port.target_port,
            Some(IntOrString::String(PORT_NAME.to_owned()))
        );
    }

    #[test]
    fn a_worker_gets_no_service() {
        let app = validated(THREE_TIERS);
        assert!(desired_service(&app, app.tier("worker").unwrap()).is_none());
    }
}
