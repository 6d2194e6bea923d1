//! Where a tier's pods run: the required node affinity of `capacityType` (Karpenter's
//! and EKS managed node groups' capacity labels, either matches), `nodeSelector`,
//! `tolerations` and `priorityClassName`, written into the pod spec. The zone and host
//! spread of [`super::deployment`] applies on top. Pure.

use k8s_openapi::api::core::v1::{
    Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, PodSpec,
};

use crate::api::tiered_app::CapacityType;
use crate::controllers::tiered_app::validated::Placement;

/// The node labels that tell spot from on-demand capacity, with their values for
/// (spot, on-demand): Karpenter's, and EKS managed node groups'.
pub const CAPACITY_TYPE_LABELS: [(&str, (&str, &str)); 2] = [
    ("karpenter.sh/capacity-type", ("spot", "on-demand")),
    ("eks.amazonaws.com/capacityType", ("SPOT", "ON_DEMAND")),
];

/// Writes the placement into `pod`.
pub fn place(pod: &mut PodSpec, placement: &Placement) {
    pod.affinity = placement.capacity_type.map(capacity_affinity);
    pod.node_selector =
        Some(placement.node_selector.clone()).filter(|selector| !selector.is_empty());
    pod.tolerations = Some(placement.tolerations.clone()).filter(|list| !list.is_empty());
    pod.priority_class_name
        .clone_from(&placement.priority_class_name);
}

/// A node affinity requiring `capacity`: node selector terms are ORed, so a node
/// labelled by Karpenter or by an EKS managed node group qualifies.
fn capacity_affinity(capacity: CapacityType) -> Affinity {
    let terms = CAPACITY_TYPE_LABELS
        .iter()
        .map(|(label, (spot, on_demand))| NodeSelectorTerm {
            match_expressions: Some(vec![NodeSelectorRequirement {
                key: (*label).to_owned(),
                operator: "In".to_owned(),
                values: Some(vec![
                    match capacity {
                        CapacityType::Spot => *spot,
                        CapacityType::OnDemand => *on_demand,
                    }
                    .to_owned(),
                ]),
            }]),
            match_fields: None,
        })
        .collect();
    Affinity {
        node_affinity: Some(NodeAffinity {
            required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                node_selector_terms: terms,
            }),
            preferred_during_scheduling_ignored_during_execution: None,
        }),
        pod_affinity: None,
        pod_anti_affinity: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Toleration;
    use std::collections::BTreeMap;

    fn required_terms(pod: &PodSpec) -> Vec<(String, Vec<String>)> {
        let affinity = pod.affinity.clone().unwrap().node_affinity.unwrap();
        affinity
            .required_during_scheduling_ignored_during_execution
            .unwrap()
            .node_selector_terms
            .into_iter()
            .map(|term| {
                let expression = &term.match_expressions.unwrap()[0];
                (expression.key.clone(), expression.values.clone().unwrap())
            })
            .collect()
    }

    #[test]
    fn spot_and_on_demand_match_karpenter_and_managed_node_group_labels() {
        // One pod placed twice: the second placement replaces the first.
        let mut pod = PodSpec::default();
        let cases = [
            (CapacityType::Spot, "spot", "SPOT"),
            (CapacityType::OnDemand, "on-demand", "ON_DEMAND"),
        ];
        for (capacity_type, karpenter, managed) in cases {
            place(
                &mut pod,
                &Placement {
                    capacity_type: Some(capacity_type),
                    ..Placement::default()
                },
            );
            assert_eq!(
                required_terms(&pod),
                [
                    (
                        "karpenter.sh/capacity-type".to_owned(),
                        vec![karpenter.to_owned()]
                    ),
                    (
                        "eks.amazonaws.com/capacityType".to_owned(),
                        vec![managed.to_owned()]
                    ),
                ],
                "{karpenter}"
            );
        }
    }

    #[test]
    fn no_placement_leaves_the_pod_spec_unconstrained() {
        let mut pod = PodSpec::default();
        place(&mut pod, &Placement::default());
        assert_eq!(pod, PodSpec::default());
        let placement = Placement {
            capacity_type: None,
            node_selector: BTreeMap::from([("kubernetes.io/arch".to_owned(), "arm64".to_owned())]),
            tolerations: vec![Toleration {
                key: Some("dedicated".to_owned()),
                operator: Some("Exists".to_owned()),
                ..Toleration::default()
            }],
            priority_class_name: Some("apps-high".to_owned()),
        };
        place(&mut pod, &placement);
        assert!(pod.affinity.is_none());
        assert_eq!(pod.node_selector.unwrap()["kubernetes.io/arch"], "arm64");
        assert_eq!(pod.tolerations.unwrap().len(), 1);
        assert_eq!(pod.priority_class_name.as_deref(), Some("apps-high"));
    }
}
