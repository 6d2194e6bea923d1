//! Snapshots of every object built for the newsread example as the operator applies it
//! (with a uid, so ownerReferences are present, and with wiring: secret hash and the
//! PostgreSQL port), plus edge-case tables of which children a tier gets.

#![allow(
    clippy::unwrap_used,
    reason = "helpers outside #[test] functions unwrap too; a failure is a test failure"
)]

use tiered::api::TieredApp;
use tiered::controllers::tiered_app::build::{
    Child, ChildVisitor, ClusterDns, DesiredChildren, TierWiring, ValidatedApp, Wiring,
    desired_children,
};
use tiered::controllers::tiered_app::validate::validate;

const EXAMPLE: &str = include_str!("../../deploy/examples/newsread.yaml");

fn example_app() -> TieredApp {
    serde_norway::Deserializer::from_str(EXAMPLE)
        .find_map(|document| {
            let value = <serde_norway::Value as serde::Deserialize>::deserialize(document).unwrap();
            (value.get("kind").and_then(|kind| kind.as_str()) == Some("TieredApp"))
                .then(|| serde_norway::from_value(value).unwrap())
        })
        .unwrap()
}

fn operator_view() -> (ValidatedApp, Wiring) {
    let mut app = example_app();
    app.metadata.uid = Some("6f1c2a8e-0000-4000-8000-000000000001".to_owned());
    let validated = validate(&app).unwrap();
    let wired = |hash: &str| TierWiring {
        secret_hash: Some(hash.to_owned()),
        database_port: Some(5432),
        cache_port: Some(6379),
        live_replicas: None,
    };
    let wiring = Wiring {
        tiers: [
            ("api", wired("sha256-api")),
            ("worker", wired("sha256-worker")),
        ]
        .into_iter()
        .map(|(tier, wiring)| (tier.to_owned(), wiring))
        .collect(),
        // An operator told about the kube-dns ClusterIP and NodeLocal DNSCache.
        dns: ClusterDns {
            ips: vec![
                "10.100.0.10".parse().unwrap(),
                "169.254.20.10".parse().unwrap(),
            ],
            ..ClusterDns::default()
        },
    };
    (validated, wiring)
}

/// Snapshots each list of children as `newsread_<field>`.
struct Snapshots;

impl ChildVisitor for Snapshots {
    type Error = std::convert::Infallible;

    fn visit<K: Child>(&mut self, field: &'static str, objects: &[K]) -> Result<(), Self::Error> {
        insta::assert_yaml_snapshot!(format!("newsread_{field}"), objects);
        Ok(())
    }
}

#[test]
fn newsread_children_match_their_snapshots() {
    let (app, wiring) = operator_view();
    let Ok(()) = desired_children(&app, &wiring).visit(&mut Snapshots);
}

fn child_counts(tiers: &str) -> [usize; DesiredChildren::KINDS] {
    let app: TieredApp = serde_norway::from_str(&format!(
        "apiVersion: tiered.io/v1alpha1\nkind: TieredApp\nmetadata: {{name: shop, namespace: prod, uid: u}}\nspec:\n  volumes: [{{name: files, size: 5Gi}}]\n  tiers:\n{tiers}"
    ))
    .unwrap();
    desired_children(&validate(&app).unwrap(), &Wiring::default()).counts()
}

#[test]
fn which_children_a_tier_gets() {
    // One volume, so one claim whatever the tier. A row: the case, the tier, and the
    // counts of [claims, service accounts, deployments, services, hpas, pdbs, network
    // policies, ingresses].
    let cases: Vec<(String, serde_json::Value, [usize; DesiredChildren::KINDS])> =
        serde_norway::from_str(
            r"
- [worker without port, {name: jobs, role: worker, image: j:1}, [1, 0, 1, 0, 0, 1, 1, 0]]
- [worker with one replica, {name: jobs, role: worker, image: j:1, replicas: 1}, [1, 0, 1, 0, 0, 0, 1, 0]]
- [api with one replica, {name: api, role: application, image: a:1, port: 80, replicas: 1}, [1, 0, 1, 1, 0, 0, 1, 0]]
- [api autoscaled 1..3, {name: api, role: application, image: a:1, port: 80, autoscaling: {minReplicas: 1, maxReplicas: 3}}, [1, 0, 1, 1, 1, 1, 1, 0]]
- ['web with ingress, default replicas', {name: web, role: presentation, image: w:1, port: 80, ingress: {}}, [1, 0, 1, 1, 0, 1, 1, 1]]
- [web without ingress, {name: web, role: presentation, image: w:1, port: 80}, [1, 0, 1, 1, 0, 1, 1, 0]]
- [autoscaled worker, {name: jobs, role: worker, image: j:1, autoscaling: {minReplicas: 1, maxReplicas: 5}}, [1, 0, 1, 0, 1, 1, 1, 0]]
- [api with an AWS identity, {name: api, role: application, image: a:1, port: 80, serviceAccount: {roleArn: 'arn:aws:iam::123456789012:role/api'}}, [1, 1, 1, 1, 0, 1, 1, 0]]
",
        )
        .unwrap();
    for (case, tier, expected) in cases {
        assert_eq!(child_counts(&format!("    - {tier}\n")), expected, "{case}");
    }
}

/// Every pod template tiered writes for the example (identity, spot, egress, ALB drain
/// included) keeps the restricted Pod Security Standard: non-root, no privilege
/// escalation, all capabilities dropped, RuntimeDefault seccomp, no host namespaces,
/// ports or paths, and only volume types the standard allows.
#[test]
fn every_pod_template_of_the_example_passes_the_restricted_pod_security_standard() {
    let (app, wiring) = operator_view();
    let children = desired_children(&app, &wiring);
    assert_eq!(children.deployments.len(), 3);
    for deployment in &children.deployments {
        let name = deployment.metadata.name.clone().unwrap();
        let pod = deployment
            .spec
            .as_ref()
            .and_then(|spec| spec.template.spec.as_ref())
            .unwrap();
        let pod_security = pod.security_context.as_ref().unwrap();
        assert_eq!(pod_security.run_as_non_root, Some(true), "{name}");
        assert_eq!(
            pod_security.seccomp_profile.as_ref().unwrap().type_,
            "RuntimeDefault",
            "{name}"
        );
        assert!(
            pod.host_network.is_none() && pod.host_pid.is_none() && pod.host_ipc.is_none(),
            "{name}"
        );
        for volume in pod.volumes.iter().flatten() {
            assert!(
                volume.empty_dir.is_some()
                    || volume.secret.is_some()
                    || volume.projected.is_some()
                    || volume.persistent_volume_claim.is_some(),
                "{name}: volume {} is not of a restricted type",
                volume.name
            );
        }
        for container in pod
            .containers
            .iter()
            .chain(pod.init_containers.iter().flatten())
        {
            let security = container.security_context.as_ref().unwrap();
            assert_eq!(security.allow_privilege_escalation, Some(false), "{name}");
            assert_eq!(security.privileged, None, "{name}");
            assert_eq!(
                security.capabilities.as_ref().unwrap().drop,
                Some(vec!["ALL".to_owned()]),
                "{name}"
            );
            assert!(
                security.capabilities.as_ref().unwrap().add.is_none(),
                "{name}"
            );
            assert!(
                container
                    .ports
                    .iter()
                    .flatten()
                    .all(|p| p.host_port.is_none()),
                "{name}"
            );
        }
    }
}
