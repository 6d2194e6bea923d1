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
    TierWiring, child_metadata, connection_secret_name, labels, placement, volume,
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
/// Where the writable scratch volume is mounted (the root filesystem is read-only).
pub const TMP_MOUNT_PATH: &str = "/tmp";

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
    let mut pod = PodSpec {
        // The token is mounted only for a tier with an AWS identity: the IRSA and Pod
        // Identity credential chains need the pod to run under its ServiceAccount.
        service_account_name: tier.identity.as_ref().map(|_| tier.child_name.clone()),
        automount_service_account_token: Some(tier.identity.is_some()),
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
        volumes: Some(
            std::iter::once(Volume {
                name: TMP_VOLUME.to_owned(),
                empty_dir: Some(EmptyDirVolumeSource {
                    medium: None,
                    size_limit: Some(Quantity("256Mi".to_owned())),
                }),
                ..Volume::default()
            })
            .chain(volume::pod_volumes(tier))
            .collect(),
        ),
        ..PodSpec::default()
    };
    placement::place(&mut pod, &tier.placement);
    pod
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
        volume_mounts: Some(
            std::iter::once(VolumeMount {
                name: TMP_VOLUME.to_owned(),
                mount_path: TMP_MOUNT_PATH.to_owned(),
                ..VolumeMount::default()
            })
            .chain(volume::container_mounts(tier))
            .collect(),
        ),
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
#[path = "deployment_tests.rs"]
mod tests;
