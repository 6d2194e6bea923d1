//! AWS identities of tiers against the in-process emulator: a tier with
//! `serviceAccount` gets its own ServiceAccount (IRSA annotation, owned and labelled
//! like every child) and its pods run under it with the token mounted; taking the
//! identity away prunes the ServiceAccount and unmounts the token; the egress that
//! identity needs (the AWS APIs, the Pod Identity Agent) and declared ranges reach the
//! NetworkPolicies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::operator_tiered_app::set_tiers;
use crate::support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{PodSpec, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::PostParams;
use kube::{Api, ResourceExt};
use support::operator::{eventually, start, two_tier_app};
use tiered::api::TieredApp;

const NS: &str = "shop";
const ROLE: &str = "arn:aws:iam::123456789012:role/newsread-api";

async fn pod_spec(deployments: &Api<Deployment>, name: &str) -> PodSpec {
    let deployment = deployments.get(name).await.unwrap();
    deployment.spec.unwrap().template.spec.unwrap()
}

#[tokio::test]
async fn a_tier_with_an_identity_runs_under_its_own_service_account_until_it_drops_it() {
    let mut app = two_tier_app(NS);
    app.spec.tiers[1].service_account =
        Some(serde_norway::from_str(&format!("{{roleArn: '{ROLE}'}}")).unwrap());
    let op = start(&[NS]).await;
    let apps: Api<TieredApp> = Api::namespaced(op.client.clone(), NS);
    let created = apps.create(&PostParams::default(), &app).await.unwrap();
    let accounts: Api<ServiceAccount> = Api::namespaced(op.client.clone(), NS);
    let deployments: Api<Deployment> = Api::namespaced(op.client.clone(), NS);
    eventually("the api's ServiceAccount and Deployment exist", || async {
        accounts.get_opt("newsread-api").await.unwrap().is_some()
            && deployments.get_opt("newsread-api").await.unwrap().is_some()
    })
    .await;
    let account = accounts.get("newsread-api").await.unwrap();
    assert_eq!(
        account
            .annotations()
            .get("eks.amazonaws.com/role-arn")
            .map(String::as_str),
        Some(ROLE)
    );
    assert_eq!(account.automount_service_account_token, Some(false));
    let owner = &account.owner_references()[0];
    assert_eq!(
        (owner.uid.as_str(), owner.controller),
        (created.uid().unwrap().as_str(), Some(true))
    );
    assert_eq!(
        account
            .labels()
            .get("app.kubernetes.io/managed-by")
            .map(String::as_str),
        Some("tiered")
    );
    assert!(
        accounts.get_opt("newsread-web").await.unwrap().is_none(),
        "web asks for none"
    );
    let api = pod_spec(&deployments, "newsread-api").await;
    assert_eq!(api.service_account_name.as_deref(), Some("newsread-api"));
    assert_eq!(api.automount_service_account_token, Some(true));
    let web = pod_spec(&deployments, "newsread-web").await;
    assert_eq!(web.service_account_name, None);
    assert_eq!(web.automount_service_account_token, Some(false));

    let mut tiers = apps.get("newsread").await.unwrap().spec.tiers;
    tiers[1].service_account = None;
    set_tiers(&apps, &tiers).await;
    eventually(
        "the ServiceAccount is pruned and the token unmounted",
        || async {
            let pod = pod_spec(&deployments, "newsread-api").await;
            accounts.get_opt("newsread-api").await.unwrap().is_none()
                && pod.service_account_name.is_none()
                && pod.automount_service_account_token == Some(false)
        },
    )
    .await;
    op.stop().await;
}

#[tokio::test]
async fn a_pod_identity_tier_may_reach_the_aws_apis_and_the_agent_and_nothing_more() {
    let mut app = two_tier_app(NS);
    app.spec.tiers[1].service_account = Some(
        serde_norway::from_str(&format!("{{roleArn: '{ROLE}', provider: PodIdentity}}")).unwrap(),
    );
    app.spec.tiers[0].egress = Some(
        serde_norway::from_str("{to: [{cidrs: [10.20.0.0/16], ports: [{port: 5672}]}]}").unwrap(),
    );
    let op = start(&[NS]).await;
    let apps: Api<TieredApp> = Api::namespaced(op.client.clone(), NS);
    apps.create(&PostParams::default(), &app).await.unwrap();
    let policies: Api<NetworkPolicy> = Api::namespaced(op.client.clone(), NS);
    eventually("both NetworkPolicies exist", || async {
        policies.get_opt("newsread-api").await.unwrap().is_some()
            && policies.get_opt("newsread-web").await.unwrap().is_some()
    })
    .await;
    // (first port, destinations) of every egress rule of a policy.
    let egress = |policy: NetworkPolicy| -> Vec<(i32, Vec<String>)> {
        policy
            .spec
            .unwrap()
            .egress
            .unwrap()
            .into_iter()
            .map(|rule| {
                let port = match rule.ports.unwrap()[0].port.clone() {
                    Some(IntOrString::Int(port)) => port,
                    other => panic!("{other:?}"),
                };
                let to = rule
                    .to
                    .unwrap()
                    .into_iter()
                    .filter_map(|peer| peer.ip_block.map(|block| block.cidr))
                    .collect();
                (port, to)
            })
            .collect()
    };
    let api = egress(policies.get("newsread-api").await.unwrap());
    assert!(
        api.contains(&(443, vec!["0.0.0.0/0".to_owned(), "::/0".to_owned()])),
        "{api:?}"
    );
    assert!(
        api.contains(&(
            80,
            vec![
                "169.254.170.23/32".to_owned(),
                "fd00:ec2::23/128".to_owned()
            ]
        )),
        "{api:?}"
    );
    let web = egress(policies.get("newsread-web").await.unwrap());
    assert!(
        web.contains(&(5672, vec!["10.20.0.0/16".to_owned()])),
        "{web:?}"
    );
    assert!(
        web.iter().all(|(port, _)| *port != 443),
        "no identity, no declared HTTPS: {web:?}"
    );
    op.stop().await;
}
