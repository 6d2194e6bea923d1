//! The `autoscaling/v2` HorizontalPodAutoscaler of a tier with `autoscaling`: CPU
//! utilization target (70% by default) and a memory target when given. Pure.

use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec, MetricSpec,
    MetricTarget, ResourceMetricSource,
};

use crate::controllers::tiered_app::build::child_metadata;
use crate::controllers::tiered_app::validated::{Scaling, ValidatedApp, ValidatedTier};

/// The HPA of one tier; `None` without `autoscaling`.
pub fn desired_hpa(app: &ValidatedApp, tier: &ValidatedTier) -> Option<HorizontalPodAutoscaler> {
    let Scaling::Autoscaled {
        min_replicas,
        max_replicas,
        target_cpu_utilization,
        target_memory_utilization,
    } = tier.scaling
    else {
        return None;
    };
    let metrics = std::iter::once(utilization_metric("cpu", target_cpu_utilization))
        .chain(target_memory_utilization.map(|target| utilization_metric("memory", target)))
        .collect();
    Some(HorizontalPodAutoscaler {
        metadata: child_metadata(app, tier),
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".to_owned()),
                kind: "Deployment".to_owned(),
                name: tier.child_name.clone(),
            },
            min_replicas: Some(min_replicas),
            max_replicas,
            metrics: Some(metrics),
            behavior: None,
        }),
        status: None,
    })
}

fn utilization_metric(resource: &str, percent: i32) -> MetricSpec {
    MetricSpec {
        type_: "Resource".to_owned(),
        resource: Some(ResourceMetricSource {
            name: resource.to_owned(),
            target: MetricTarget {
                type_: "Utilization".to_owned(),
                average_utilization: Some(percent),
                ..MetricTarget::default()
            },
        }),
        ..MetricSpec::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::tiered_app::build::test_support::{THREE_TIERS, validated};

    /// The resource and target utilization of each metric, in order.
    fn targets(spec: HorizontalPodAutoscalerSpec) -> Vec<(String, Option<i32>)> {
        spec.metrics
            .unwrap()
            .into_iter()
            .map(|metric| {
                let resource = metric.resource.unwrap();
                (resource.name, resource.target.average_utilization)
            })
            .collect()
    }

    #[test]
    fn an_autoscaled_tier_scales_its_deployment_on_cpu_70_by_default() {
        let app = validated(THREE_TIERS);
        let hpa = desired_hpa(&app, app.tier("web").unwrap()).unwrap();
        let spec = hpa.spec.unwrap();
        assert_eq!(spec.scale_target_ref.name, "shop-web");
        assert_eq!(spec.scale_target_ref.kind, "Deployment");
        assert_eq!((spec.min_replicas, spec.max_replicas), (Some(2), 10));
        assert_eq!(targets(spec), [("cpu".to_owned(), Some(70))]);
    }

    #[test]
    fn a_memory_target_adds_a_memory_metric() {
        let mut app = validated(THREE_TIERS);
        app.tiers[0].scaling = Scaling::Autoscaled {
            min_replicas: 2,
            max_replicas: 4,
            target_cpu_utilization: 60,
            target_memory_utilization: Some(80),
        };
        let hpa = desired_hpa(&app, &app.tiers[0]).unwrap();
        assert_eq!(
            targets(hpa.spec.unwrap()),
            [
                ("cpu".to_owned(), Some(60)),
                ("memory".to_owned(), Some(80))
            ]
        );
    }

    #[test]
    fn a_fixed_tier_gets_no_hpa() {
        let app = validated(THREE_TIERS);
        assert!(desired_hpa(&app, app.tier("api").unwrap()).is_none());
    }
}
