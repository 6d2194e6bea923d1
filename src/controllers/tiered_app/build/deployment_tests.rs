//! Tests of the Deployment builder (pure).
use super::*;
use crate::controllers::tiered_app::build::LiveReplicas;
use crate::controllers::tiered_app::build::test_support::{THREE_TIERS, validated};

fn deployment_of(tier: &str, wiring: &TierWiring) -> Deployment {
    let app = validated(THREE_TIERS);
    desired_deployment(&app, app.tier(tier).unwrap(), wiring)
}

fn pod_spec_of(deployment: &Deployment) -> &PodSpec {
    deployment
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
}

#[test]
fn replicas_and_their_handover_annotation_follow_the_live_count() {
    let wiring = |replicas, handover: &str| TierWiring {
        live_replicas: Some(LiveReplicas {
            replicas: Some(replicas),
            handover: Some(handover.to_owned()),
        }),
        ..TierWiring::default()
    };
    let cases = [
        ("web", TierWiring::default(), Some(2), Some("2")),
        ("web", wiring(6, "6"), Some(6), Some("6")),
        ("web", wiring(4, "6"), None, Some("autoscaler")),
        ("api", wiring(4, "6"), Some(3), None),
    ];
    for (tier, wiring, replicas, handover) in cases {
        let deployment = deployment_of(tier, &wiring);
        let annotations = deployment.metadata.annotations.unwrap_or_default();
        let spec = deployment.spec.unwrap();
        assert_eq!(spec.replicas, replicas, "{tier} {wiring:?}");
        let annotation = annotations.get(REPLICAS_HANDOVER_ANNOTATION);
        assert_eq!(annotation.map(String::as_str), handover, "{tier}");
        // On the pod template it would roll the pods.
        assert!(spec.template.metadata.unwrap().annotations.is_none());
    }
}

#[test]
fn rollouts_never_go_below_the_desired_count() {
    for tier in ["web", "api", "worker"] {
        let deployment = deployment_of(tier, &TierWiring::default());
        let strategy = deployment.spec.unwrap().strategy.unwrap();
        let rolling = strategy.rolling_update.unwrap();
        assert_eq!(rolling.max_unavailable, Some(IntOrString::Int(0)), "{tier}");
    }
    let api = deployment_of("api", &TierWiring::default());
    let surge = api
        .spec
        .unwrap()
        .strategy
        .unwrap()
        .rolling_update
        .unwrap()
        .max_surge;
    assert_eq!(surge, Some(IntOrString::String("25%".to_owned())));
}

#[test]
fn a_tier_with_a_database_and_cache_reads_every_key_of_their_secrets() {
    let api = deployment_of("api", &TierWiring::default());
    let env = pod_spec_of(&api).containers[0].env.clone().unwrap();
    assert_eq!(env[0].name, "LOG_LEVEL");
    let from_secret = |name: &str| {
        let var = env.iter().find(|var| var.name == name).unwrap();
        var.value_from.clone().unwrap().secret_key_ref.unwrap()
    };
    assert_eq!(from_secret("DATABASE_URL").name, "shop-db-connection");
    assert_eq!(from_secret("DB_NAME").key, "database");
    assert_eq!(from_secret("DB_PASSWORD").optional, Some(true));
    assert_eq!(from_secret("DB_HOST").optional, None);
    assert_eq!(from_secret("REDIS_AUTH_TOKEN").key, "authToken");
    assert_eq!(from_secret("REDIS_URL").name, "shop-cache-connection");
    assert_eq!(env.len(), 1 + 6 + 4);
}

#[test]
fn the_secret_hash_lands_on_the_pod_template_only() {
    let wiring = TierWiring {
        secret_hash: Some("abc123".to_owned()),
        ..TierWiring::default()
    };
    let api = deployment_of("api", &wiring);
    let template = api
        .spec
        .as_ref()
        .unwrap()
        .template
        .metadata
        .clone()
        .unwrap();
    assert_eq!(
        template.annotations.unwrap().get(SECRET_HASH_ANNOTATION),
        Some(&"abc123".to_owned())
    );
    assert!(
        api.metadata
            .annotations
            .as_ref()
            .is_none_or(|a| !a.contains_key(SECRET_HASH_ANNOTATION))
    );
    let without = deployment_of("api", &TierWiring::default());
    assert!(
        without
            .spec
            .unwrap()
            .template
            .metadata
            .unwrap()
            .annotations
            .is_none()
    );
}

#[test]
fn pods_pass_the_restricted_pod_security_standard() {
    let web = deployment_of("web", &TierWiring::default());
    let pod = pod_spec_of(&web);
    assert_eq!(pod.automount_service_account_token, Some(false));
    let pod_security = pod.security_context.clone().unwrap();
    assert_eq!(pod_security.run_as_non_root, Some(true));
    assert_eq!(
        pod_security.seccomp_profile.unwrap().type_,
        "RuntimeDefault"
    );
    let container = &pod.containers[0];
    let security = container.security_context.clone().unwrap();
    assert_eq!(security.allow_privilege_escalation, Some(false));
    assert_eq!(
        security.capabilities.unwrap().drop,
        Some(vec!["ALL".to_owned()])
    );
    assert_eq!(security.read_only_root_filesystem, Some(true));
    assert_eq!(
        container.volume_mounts.clone().unwrap()[0].mount_path,
        "/tmp"
    );
}

#[test]
fn serving_pods_sleep_before_sigterm_and_get_a_longer_grace_period() {
    for (tier, sleep, grace) in [
        ("web", Some(30), Some(45)),
        ("api", Some(5), Some(30)),
        ("worker", None, None),
    ] {
        let deployment = deployment_of(tier, &TierWiring::default());
        let pod = pod_spec_of(&deployment);
        let pre_stop = pod.containers[0]
            .lifecycle
            .as_ref()
            .and_then(|l| l.pre_stop.as_ref());
        assert_eq!(
            pre_stop.and_then(|h| h.sleep.as_ref()).map(|s| s.seconds),
            sleep,
            "{tier}"
        );
        assert!(pre_stop.is_none_or(|h| h.exec.is_none()), "no shell needed");
        assert_eq!(pod.termination_grace_period_seconds, grace, "{tier}");
    }
}

#[test]
fn liveness_tolerates_more_failures_than_readiness() {
    let web = deployment_of("web", &TierWiring::default());
    let container = &pod_spec_of(&web).containers[0];
    let readiness = container.readiness_probe.clone().unwrap();
    let liveness = container.liveness_probe.clone().unwrap();
    assert_eq!(readiness.http_get.unwrap().path.as_deref(), Some("/health"));
    assert!(liveness.failure_threshold > readiness.failure_threshold);
}

#[test]
fn a_worker_without_port_has_no_ports_and_no_probes() {
    let worker = deployment_of("worker", &TierWiring::default());
    let container = &pod_spec_of(&worker).containers[0];
    assert!(container.ports.is_none());
    assert!(container.readiness_probe.is_none() && container.liveness_probe.is_none());
}

#[test]
fn the_selector_holds_only_stable_labels_and_matches_the_pods() {
    let web = deployment_of("web", &TierWiring::default());
    let spec = web.spec.unwrap();
    let selector = spec.selector.match_labels.unwrap();
    assert!(!selector.contains_key(labels::COMPONENT));
    let pod_labels = spec.template.metadata.unwrap().labels.unwrap();
    for (key, value) in &selector {
        assert_eq!(pod_labels.get(key), Some(value));
    }
}

#[test]
fn defaults_fill_in_requests_and_memory_limit() {
    let api = deployment_of("api", &TierWiring::default());
    let resources = pod_spec_of(&api).containers[0].resources.clone().unwrap();
    let requests = resources.requests.unwrap();
    assert_eq!(requests["cpu"].0, "100m");
    assert_eq!(requests["memory"].0, "128Mi");
    let limits = resources.limits.unwrap();
    assert_eq!(limits["memory"].0, "512Mi");
    assert!(!limits.contains_key("cpu"));
}
