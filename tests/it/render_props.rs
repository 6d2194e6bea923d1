//! Property tests: arbitrary TieredApp specs never make validation or the builders
//! panic, and whatever validates builds children with valid DNS-1035 names and label
//! values.

#![allow(
    clippy::unwrap_used,
    reason = "helpers outside #[test] functions unwrap too; a failure is a test failure"
)]

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use proptest::prelude::*;
use tiered::api::shared::LocalRef;
use tiered::api::tiered_app::{Autoscaling, HealthCheck, Tier, TierIngress, TierRole};
use tiered::api::{TieredApp, TieredAppSpec};
use tiered::controllers::tiered_app::build::naming::is_dns1035_label;
use tiered::controllers::tiered_app::build::{Wiring, desired_children};
use tiered::controllers::tiered_app::validate::validate;

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,12}[a-z0-9]",
        "[a-z]{1,3}",
        ".{0,70}",
        "[a-z][a-z0-9-]{40,70}",
    ]
}

fn quantity() -> impl Strategy<Value = Quantity> {
    prop_oneof![
        Just("100m"),
        Just("2"),
        Just("128Mi"),
        Just("1Gi"),
        Just("nonsense"),
        Just("")
    ]
    .prop_map(|text| Quantity(text.to_owned()))
}

fn quantity_map() -> impl Strategy<Value = std::collections::BTreeMap<String, Quantity>> {
    proptest::collection::btree_map(
        prop_oneof![Just("cpu"), Just("memory")].prop_map(str::to_owned),
        quantity(),
        0..3,
    )
}

fn resources() -> impl Strategy<Value = Option<ResourceRequirements>> {
    proptest::option::of(
        (
            proptest::option::of(quantity_map()),
            proptest::option::of(quantity_map()),
        )
            .prop_map(|(requests, limits)| ResourceRequirements {
                requests,
                limits,
                claims: None,
            }),
    )
}

fn autoscaling() -> impl Strategy<Value = Option<Autoscaling>> {
    proptest::option::of(
        (
            -2..30i32,
            -2..30i32,
            proptest::option::of(-5..120i32),
            proptest::option::of(-5..120i32),
        )
            .prop_map(
                |(
                    min_replicas,
                    max_replicas,
                    target_cpu_utilization,
                    target_memory_utilization,
                )| Autoscaling {
                    min_replicas,
                    max_replicas,
                    target_cpu_utilization,
                    target_memory_utilization,
                },
            ),
    )
}

fn health_check() -> impl Strategy<Value = Option<HealthCheck>> {
    proptest::option::of(
        (
            "/?[a-z ]{0,5}",
            proptest::option::of(-1..5000i32),
            proptest::option::of(-1..5000i32),
        )
            .prop_map(
                |(path, initial_delay_seconds, period_seconds)| HealthCheck {
                    path,
                    initial_delay_seconds,
                    period_seconds,
                },
            ),
    )
}

fn ingress() -> impl Strategy<Value = Option<TierIngress>> {
    proptest::option::of(
        (
            proptest::option::of("[a-z.*]{0,12}"),
            proptest::option::of("/?[a-z]{0,4}"),
            proptest::option::of("[a-z0-9.]{0,5}"),
            proptest::option::of("ELBSecurityPolicy-[A-Z0-9-]{0,8}"),
            proptest::option::of(-5..5000i32),
            proptest::option::of(-5..5000i32),
            proptest::collection::vec("[a-z.*]{0,8}", 0..3),
        )
            .prop_map(|(host, path, group_name, ssl_policy, delay, idle, names)| {
                TierIngress {
                    host,
                    path,
                    certificate_arn: None,
                    ssl_policy,
                    scheme: None,
                    group_name,
                    deregistration_delay_seconds: delay,
                    idle_timeout_seconds: idle,
                    http2: None,
                    wafv2_acl_arn: None,
                    external_dns_hostnames: names,
                }
            }),
    )
}

fn tier(names: Vec<String>) -> impl Strategy<Value = Tier> {
    let role = prop_oneof![
        Just(TierRole::Presentation),
        Just(TierRole::Application),
        Just(TierRole::Worker)
    ];
    let autoscaling = autoscaling();
    let health_check = health_check();
    let ingress = ingress();
    let calls = proptest::sample::subsequence(names.clone(), 0..=names.len());
    let tier = (
        proptest::sample::select(names),
        role,
        prop_oneof![3 => "[a-z]{1,5}:[0-9]", 1 => "[a-z: ]{0,6}"],
        proptest::option::of(-10..70000i32),
        proptest::option::of(-1..5i32),
        autoscaling,
        resources(),
        health_check,
        ingress,
        calls,
        proptest::option::of(name()),
        proptest::option::of(name()),
    );
    let shutdown = (
        proptest::option::of(-10..70000i32),
        proptest::option::of(-5..4000i64),
        proptest::option::of(-5..8000i64),
    );
    (tier, shutdown).prop_map(
        |(
            (
                name,
                role,
                image,
                port,
                replicas,
                autoscaling,
                resources,
                health_check,
                ingress,
                calls,
                database,
                cache,
            ),
            (service_port, pre_stop_sleep_seconds, termination_grace_period_seconds),
        )| Tier {
            name,
            role,
            image,
            command: None,
            args: None,
            port,
            service_port,
            pre_stop_sleep_seconds,
            termination_grace_period_seconds,
            replicas,
            autoscaling,
            resources,
            health_check,
            env: Vec::new(),
            ingress,
            calls,
            database: database.map(|name| LocalRef { name }),
            cache: cache.map(|name| LocalRef { name }),
            service_account: None,
            capacity_type: None,
            node_selector: std::collections::BTreeMap::new(),
            tolerations: Vec::new(),
            priority_class_name: None,
            egress: None,
            volume_mounts: Vec::new(),
        },
    )
}

fn app() -> impl Strategy<Value = TieredApp> {
    (name(), proptest::collection::vec(name(), 1..5))
        .prop_flat_map(|(app_name, names)| {
            (Just(app_name), proptest::collection::vec(tier(names), 0..5))
        })
        .prop_map(|(app_name, tiers)| {
            let mut app = TieredApp::new(
                &app_name,
                TieredAppSpec {
                    tiers,
                    volumes: Vec::new(),
                    persistent_volume_claim_retention_policy: None,
                },
            );
            app.metadata.namespace = Some("prod".to_owned());
            app.metadata.uid = Some("uid".to_owned());
            app
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_specs_never_panic_and_valid_ones_build_valid_names(app in app()) {
        if let Ok(validated) = validate(&app) {
            let children = desired_children(&validated, &Wiring::default());
            prop_assert_eq!(children.deployments.len(), validated.tiers.len());
            for metadata in children.metadata() {
                let name = metadata.name.clone().unwrap_or_default();
                prop_assert!(is_dns1035_label(&name), "bad child name {:?}", name);
                for value in metadata.labels.iter().flat_map(|labels| labels.values()) {
                    prop_assert!(value.len() <= 63 && is_dns1035_label(value), "bad label value {:?}", value);
                }
            }
        }
    }

    #[test]
    fn every_error_names_a_field_and_says_what_to_do(app in app()) {
        if let Err(errors) = validate(&app) {
            prop_assert!(!errors.is_empty());
            for error in errors {
                prop_assert!(error.field.starts_with("spec.") || error.field == "metadata.name", "{}", error);
                prop_assert!(!error.message.is_empty());
            }
        }
    }
}
