//! Placement of a tier's pods against the in-process emulator: `capacityType`,
//! `nodeSelector`, `tolerations` and `priorityClassName` reach the Deployment's pod
//! template with the zone spread kept, and removing them takes them off again.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::operator_tiered_app::set_tiers;
use crate::support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::PodSpec;
use kube::Api;
use kube::api::PostParams;
use support::operator::{eventually, start, two_tier_app};
use tiered::api::TieredApp;

const NS: &str = "shop";

async fn api_pod(deployments: &Api<Deployment>) -> Option<PodSpec> {
    let deployment = deployments.get_opt("newsread-api").await.unwrap()?;
    deployment.spec?.template.spec
}

#[tokio::test]
async fn a_spot_tier_requires_spot_nodes_keeps_its_zone_spread_and_can_leave_them() {
    let mut app = two_tier_app(NS);
    let placement: serde_json::Value = serde_norway::from_str(
        "{capacityType: spot, nodeSelector: {kubernetes.io/arch: arm64}, \
          tolerations: [{key: karpenter.sh/disruption, operator: Exists, effect: NoSchedule}], \
          priorityClassName: apps-batch}",
    )
    .unwrap();
    let mut api = serde_json::to_value(&app.spec.tiers[1]).unwrap();
    api.as_object_mut()
        .unwrap()
        .extend(placement.as_object().unwrap().clone());
    app.spec.tiers[1] = serde_json::from_value(api).unwrap();
    let op = start(&[NS]).await;
    let apps: Api<TieredApp> = Api::namespaced(op.client.clone(), NS);
    apps.create(&PostParams::default(), &app).await.unwrap();
    let deployments: Api<Deployment> = Api::namespaced(op.client.clone(), NS);
    eventually("the api Deployment exists", || async {
        api_pod(&deployments).await.is_some()
    })
    .await;
    let pod = api_pod(&deployments).await.unwrap();
    let terms = pod
        .affinity
        .unwrap()
        .node_affinity
        .unwrap()
        .required_during_scheduling_ignored_during_execution
        .unwrap()
        .node_selector_terms;
    let required: Vec<(String, String)> = terms
        .iter()
        .map(|term| {
            let expression = &term.match_expressions.as_ref().unwrap()[0];
            (
                expression.key.clone(),
                expression.values.as_ref().unwrap()[0].clone(),
            )
        })
        .collect();
    assert_eq!(
        required,
        [
            ("karpenter.sh/capacity-type".to_owned(), "spot".to_owned()),
            (
                "eks.amazonaws.com/capacityType".to_owned(),
                "SPOT".to_owned()
            )
        ]
    );
    assert_eq!(pod.node_selector.unwrap()["kubernetes.io/arch"], "arm64");
    let toleration = &pod.tolerations.unwrap()[0];
    assert_eq!(toleration.key.as_deref(), Some("karpenter.sh/disruption"));
    assert_eq!(pod.priority_class_name.as_deref(), Some("apps-batch"));
    let spread: Vec<String> = pod
        .topology_spread_constraints
        .unwrap()
        .into_iter()
        .map(|c| c.topology_key)
        .collect();
    assert_eq!(
        spread,
        ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]
    );

    let mut tiers = apps.get("newsread").await.unwrap().spec.tiers;
    tiers[1].capacity_type = None;
    tiers[1].node_selector.clear();
    tiers[1].tolerations.clear();
    tiers[1].priority_class_name = None;
    set_tiers(&apps, &tiers).await;
    eventually("the placement is taken off the pod template", || async {
        let pod = api_pod(&deployments).await.unwrap();
        pod.affinity.is_none()
            && pod.node_selector.is_none()
            && pod.tolerations.is_none()
            && pod.priority_class_name.is_none()
            && pod
                .topology_spread_constraints
                .is_some_and(|c| c.len() == 2)
    })
    .await;
    op.stop().await;
}
