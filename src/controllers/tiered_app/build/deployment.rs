//! The Deployment of a tier: one container with the tier's image, named port, env (the
//! user's plus the data tier's connection Secret keys), probes from `healthCheck`,
//! requests/limits, zone and host spreading, and a pod security context that passes the
//! "restricted" Pod Security Standard. Pure.
//!
//! Connection Secrets are injected key by key (`secretKeyRef`), not with `envFrom`: the
//! database and cache Secrets share key names (`host`, `port`, `url`), so `envFrom` would
//! let one silently shadow the other and would expose lowercase variables no app expects.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource,
    HTTPGetAction, Lifecycle, LifecycleHandler, PodSecurityContext, PodSpec, PodTemplateSpec,
    Probe, SeccompProfile, SecretKeySelector, SecurityContext, SleepAction, TCPSocketAction,
    TopologySpreadConstraint, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::controllers::tiered_app::build::replicas::{
    DesiredReplicas, REPLICAS_HANDOVER_ANNOTATION, desired_replicas,
};
use crate::controllers::tiered_app::build::{
    TierWiring, child_metadata, connection_secret_name, labels,
};
use crate::controllers::tiered_app::validated::{ValidatedApp, ValidatedTier};

/// Pod template annotation holding the hash of the tier's connection Secrets; a new
/// value rolls the tier.
pub const SECRET_HASH_ANNOTATION: &str = "tiered.io/secret-hash";
/// Name of the container (and of the named port is [`PORT_NAME`]).
pub const CONTAINER_NAME: &str = "app";
/// Name of the container port and of the Service port.
pub const PORT_NAME: &str = "http";
/// Variables injected from `<database>-connection`, with the Secret key each reads.
pub const DATABASE_ENV: [(&str, &str); 6] = [
    ("DATABASE_URL", "url"),
    ("DB_HOST", "host"),
    ("DB_PORT", "port"),
    ("DB_NAME", "database"),
    ("DB_USER", "username"),
    ("DB_PASSWORD", "password"),
];
/// Variables injected from `<cache>-connection`, with the Secret key each reads.
pub const CACHE_ENV: [(&str, &str); 4] = [
    ("REDIS_URL", "url"),
    ("REDIS_HOST", "host"),
    ("REDIS_PORT", "port"),
    ("REDIS_AUTH_TOKEN", "authToken"),
];
/// Names of the variables injected for a database.
pub const DATABASE_ENV_NAMES: [&str; 6] = [
    DATABASE_ENV[0].0,
    DATABASE_ENV[1].0,
    DATABASE_ENV[2].0,
    DATABASE_ENV[3].0,
    DATABASE_ENV[4].0,
    DATABASE_ENV[5].0,
];
/// Names of the variables injected for a cache.
pub const CACHE_ENV_NAMES: [&str; 4] = [
    CACHE_ENV[0].0,
    CACHE_ENV[1].0,
    CACHE_ENV[2].0,
    CACHE_ENV[3].0,
];
/// Secret keys that may be absent: the password with AWS-managed credentials (the
/// Secret then carries the Secrets Manager ARN) and the AUTH token of a cache without
/// transit encryption.
const OPTIONAL_KEYS: [&str; 2] = ["password", "authToken"];
/// Liveness tolerates more failures than readiness: a slow pod is taken out of the
/// Service long before it is restarted.
const READINESS_FAILURE_THRESHOLD: i32 = 3;
const LIVENESS_FAILURE_THRESHOLD: i32 = 6;
const TMP_VOLUME: &str = "tmp";

/// The Deployment of one tier. `spec.replicas` follows
/// [`crate::controllers::tiered_app::build::replicas`]: the count never drops on a switch
/// between fixed replicas and autoscaling.
pub fn desired_deployment(
    app: &ValidatedApp,
    tier: &ValidatedTier,
    wiring: &TierWiring,
) -> Deployment {
    let selector = labels::tier_selector_labels(&app.name, &tier.name);
    let DesiredReplicas { replicas, handover } =
        desired_replicas(tier.scaling, wiring.live_replicas.as_ref());
    let mut metadata = child_metadata(app, tier);
    metadata.annotations =
        handover.map(|count| BTreeMap::from([(REPLICAS_HANDOVER_ANNOTATION.to_owned(), count)]));
    let annotations = wiring
        .secret_hash
        .as_ref()
        .map(|hash| BTreeMap::from([(SECRET_HASH_ANNOTATION.to_owned(), hash.clone())]));
    Deployment {
        metadata,
        spec: Some(DeploymentSpec {
            replicas,
            revision_history_limit: Some(5),
            selector: LabelSelector {
                match_labels: Some(selector.clone()),
                match_expressions: None,
            },
            strategy: Some(rolling_update(tier)),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels::tier_labels(&app.name, &tier.name, tier.role)),
                    annotations,
                    ..ObjectMeta::default()
                }),
                spec: Some(pod_spec(tier, &selector)),
            },
            ..DeploymentSpec::default()
        }),
        status: None,
    }
}

/// Zero-downtime rollout: never below the desired count; surge 25% (at least one pod).
fn rolling_update(tier: &ValidatedTier) -> DeploymentStrategy {
    let max_surge = if tier.min_replicas() > 1 {
        IntOrString::String("25%".to_owned())
    } else {
        IntOrString::Int(1)
    };
    DeploymentStrategy {
        type_: Some("RollingUpdate".to_owned()),
        rolling_update: Some(RollingUpdateDeployment {
            max_surge: Some(max_surge),
            max_unavailable: Some(IntOrString::Int(0)),
        }),
    }
}

fn pod_spec(tier: &ValidatedTier, selector: &BTreeMap<String, String>) -> PodSpec {
    PodSpec {
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        termination_grace_period_seconds: tier.shutdown.termination_grace_period_seconds,
        containers: vec![container(tier)],
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".to_owned(),
                localhost_profile: None,
            }),
            ..PodSecurityContext::default()
        }),
        topology_spread_constraints: Some(
            ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]
                .into_iter()
                .map(|key| spread_constraint(key, selector))
                .collect(),
        ),
        volumes: Some(vec![Volume {
            name: TMP_VOLUME.to_owned(),
            empty_dir: Some(EmptyDirVolumeSource {
                medium: None,
                size_limit: Some(Quantity("256Mi".to_owned())),
            }),
            ..Volume::default()
        }]),
        ..PodSpec::default()
    }
}

/// Spread pods evenly, preferring but never requiring it (a cluster with one zone or a
/// few nodes must still schedule). `pod-template-hash` keeps the spread per revision so
/// a rollout does not skew it.
fn spread_constraint(
    topology_key: &str,
    selector: &BTreeMap<String, String>,
) -> TopologySpreadConstraint {
    TopologySpreadConstraint {
        max_skew: 1,
        topology_key: topology_key.to_owned(),
        when_unsatisfiable: "ScheduleAnyway".to_owned(),
        label_selector: Some(LabelSelector {
            match_labels: Some(selector.clone()),
            match_expressions: None,
        }),
        match_label_keys: Some(vec!["pod-template-hash".to_owned()]),
        ..TopologySpreadConstraint::default()
    }
}

fn container(tier: &ValidatedTier) -> Container {
    let (readiness_probe, liveness_probe) = probes(tier);
    Container {
        name: CONTAINER_NAME.to_owned(),
        image: Some(tier.image.clone()),
        command: tier.command.clone(),
        args: tier.args.clone(),
        ports: tier.port.map(|port| {
            vec![ContainerPort {
                name: Some(PORT_NAME.to_owned()),
                container_port: port,
                protocol: Some("TCP".to_owned()),
                ..ContainerPort::default()
            }]
        }),
        env: Some(container_env(tier)).filter(|env| !env.is_empty()),
        resources: Some(tier.resources.clone()),
        readiness_probe,
        liveness_probe,
        // A sleep action, not `exec sleep`: distroless and scratch images have no shell.
        lifecycle: tier
            .shutdown
            .pre_stop_sleep_seconds
            .map(|seconds| Lifecycle {
                pre_stop: Some(LifecycleHandler {
                    sleep: Some(SleepAction { seconds }),
                    ..LifecycleHandler::default()
                }),
                post_start: None,
                stop_signal: None,
            }),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".to_owned()]),
                add: None,
            }),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(vec![VolumeMount {
            name: TMP_VOLUME.to_owned(),
            mount_path: "/tmp".to_owned(),
            ..VolumeMount::default()
        }]),
        ..Container::default()
    }
}

/// Readiness and liveness probes. With `healthCheck`: HTTP GET on the named port. With a
/// port but no `healthCheck`: a TCP readiness probe only (restarting on a guess would do
/// more harm than good). Without a port: none.
fn probes(tier: &ValidatedTier) -> (Option<Probe>, Option<Probe>) {
    let port = IntOrString::String(PORT_NAME.to_owned());
    match (&tier.health_check, tier.port) {
        (Some(check), Some(_)) => {
            let probe = |failure_threshold| Probe {
                http_get: Some(HTTPGetAction {
                    path: Some(check.path.clone()),
                    port: port.clone(),
                    scheme: Some("HTTP".to_owned()),
                    ..HTTPGetAction::default()
                }),
                initial_delay_seconds: check.initial_delay_seconds,
                period_seconds: Some(check.period_seconds),
                timeout_seconds: Some(2),
                failure_threshold: Some(failure_threshold),
                ..Probe::default()
            };
            (
                Some(probe(READINESS_FAILURE_THRESHOLD)),
                Some(probe(LIVENESS_FAILURE_THRESHOLD)),
            )
        }
        (None, Some(_)) => (
            Some(Probe {
                tcp_socket: Some(TCPSocketAction { port, host: None }),
                period_seconds: Some(10),
                failure_threshold: Some(READINESS_FAILURE_THRESHOLD),
                ..Probe::default()
            }),
            None,
        ),
        (_, None) => (None, None),
    }
}

/// The user's variables first (in order), then the injected connection variables.
pub fn container_env(tier: &ValidatedTier) -> Vec<EnvVar> {
    let mut env = tier.env.clone();
    if let Some(database) = &tier.database {
        env.extend(secret_env(&connection_secret_name(database), &DATABASE_ENV));
    }
    if let Some(cache) = &tier.cache {
        env.extend(secret_env(&connection_secret_name(cache), &CACHE_ENV));
    }
    env
}

fn secret_env(secret: &str, variables: &[(&str, &str)]) -> Vec<EnvVar> {
    variables
        .iter()
        .map(|(variable, key)| EnvVar {
            name: (*variable).to_owned(),
            value: None,
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: secret.to_owned(),
                    key: (*key).to_owned(),
                    optional: OPTIONAL_KEYS.contains(key).then_some(true),
                }),
                ..EnvVarSource::default()
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
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
}
