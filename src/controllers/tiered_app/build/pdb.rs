//! The PodDisruptionBudget of a tier that can run more than one pod: at most one pod of
//! the tier is evicted at a time during node drains and upgrades. Pure.

use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::controllers::tiered_app::build::{child_metadata, labels};
use crate::controllers::tiered_app::validated::{ValidatedApp, ValidatedTier};

/// The PDB of one tier; `None` when the tier never runs more than one pod (a PDB would
/// then block every drain).
pub fn desired_pdb(app: &ValidatedApp, tier: &ValidatedTier) -> Option<PodDisruptionBudget> {
    if !tier.can_run_more_than_one_replica() {
        return None;
    }
    Some(PodDisruptionBudget {
        metadata: child_metadata(app, tier),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            min_available: None,
            selector: Some(LabelSelector {
                match_labels: Some(labels::tier_selector_labels(&app.name, &tier.name)),
                match_expressions: None,
            }),
            // Pods that never became ready may be evicted, so a broken rollout does not
            // block node drains.
            unhealthy_pod_eviction_policy: Some("AlwaysAllow".to_owned()),
        }),
        status: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::tiered_app::build::test_support::{THREE_TIERS, validated};
    use crate::controllers::tiered_app::validated::Scaling;

    #[test]
    fn pdb_follows_whether_the_tier_can_run_more_than_one_pod() {
        let mut app = validated(THREE_TIERS);
        let cases = [
            (Scaling::Fixed { replicas: Some(1) }, false),
            (Scaling::Fixed { replicas: Some(0) }, false),
            (Scaling::Fixed { replicas: Some(2) }, true),
            (Scaling::Fixed { replicas: None }, true),
            (
                Scaling::Autoscaled {
                    min_replicas: 1,
                    max_replicas: 3,
                    target_cpu_utilization: 70,
                    target_memory_utilization: None,
                },
                true,
            ),
            (
                Scaling::Autoscaled {
                    min_replicas: 1,
                    max_replicas: 1,
                    target_cpu_utilization: 70,
                    target_memory_utilization: None,
                },
                false,
            ),
        ];
        for (scaling, expected) in cases {
            app.tiers[1].scaling = scaling;
            let pdb = desired_pdb(&app, &app.tiers[1]);
            assert_eq!(pdb.is_some(), expected, "{scaling:?}");
            if let Some(pdb) = pdb {
                assert_eq!(pdb.spec.unwrap().max_unavailable, Some(IntOrString::Int(1)));
            }
        }
    }
}
