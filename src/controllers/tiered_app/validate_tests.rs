//! Table tests of [`super::validate`]: each case is a small TieredApp and the field paths
//! it must be rejected at (or the warnings it must produce).

use super::*;
use crate::api::tiered_app::TieredApp;

fn app_with_tiers(name: &str, tiers: &str) -> TieredApp {
    let yaml = format!(
        "apiVersion: tiered.io/v1alpha1\nkind: TieredApp\nmetadata: {{name: {name}, namespace: shop}}\nspec:\n  tiers:\n{tiers}"
    );
    serde_norway::from_str(&yaml).unwrap()
}

fn error_fields(name: &str, tiers: &str) -> Vec<String> {
    match validate(&app_with_tiers(name, tiers)) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.into_iter().map(|error| error.field).collect(),
    }
}

const WEB: &str = "    - {name: web, role: presentation, image: web:1, port: 8080}\n";

#[test]
fn invalid_specs_are_rejected_at_the_field_to_change() {
    let long_tier = "t".repeat(40);
    let long_part = format!("{}.db", "d".repeat(100));
    let too_long = "c".repeat(243);
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        ("newsread", WEB.to_owned(), vec![]),
        (
            "newsread",
            format!("{WEB}    - {{name: jobs, role: worker, image: w:1}}\n    - {{name: api, role: application, image: a:1, port: 5000, calls: [jobs]}}\n"),
            vec!["spec.tiers[2].calls[0]"],
        ),
        (
            "newsread",
            format!("{WEB}    - {{name: jobs, role: worker, image: w:1, port: 9000}}\n    - {{name: api, role: application, image: a:1, port: 5000, calls: [jobs, nope, api, jobs]}}\n"),
            vec!["spec.tiers[2].calls[0]", "spec.tiers[2].calls[1]", "spec.tiers[2].calls[2]", "spec.tiers[2].calls[3]"],
        ),
        (
            "newsread",
            "    - {name: web, role: presentation, image: web:1, ingress: {host: a.example.com}}\n".to_owned(),
            vec!["spec.tiers[0].port", "spec.tiers[0].ingress"],
        ),
        (
            "newsread",
            "    - {name: api, role: application, image: a:1, port: 70000}\n".to_owned(),
            vec!["spec.tiers[0].port"],
        ),
        (
            "a-very-long-application-name-for-the-shop",
            format!("    - {{name: {long_tier}, role: application, image: a:1, port: 80}}\n"),
            vec!["spec.tiers[0].name"],
        ),
        ("1shop", WEB.to_owned(), vec!["metadata.name"]),
        (
            "newsread",
            format!("{WEB}{WEB}"),
            vec!["spec.tiers[1].name"],
        ),
        (
            "newsread",
            "    - {name: api, role: application, image: a:1, port: 80, resources: {requests: {cpu: '1', memory: 1Gi}, limits: {cpu: 500m, memory: 512Mi}}}\n".to_owned(),
            vec!["spec.tiers[0].resources.limits.cpu", "spec.tiers[0].resources.limits.memory"],
        ),
        (
            "newsread",
            "    - {name: api, role: application, image: a:1, port: 80, resources: {requests: {cpu: lots}}}\n".to_owned(),
            vec!["spec.tiers[0].resources.requests.cpu"],
        ),
        (
            "newsread",
            "    - {name: api, role: application, image: a:1, port: 80, autoscaling: {minReplicas: 5, maxReplicas: 2}}\n".to_owned(),
            vec!["spec.tiers[0].autoscaling.minReplicas"],
        ),
        (
            "newsread",
            "    - {name: jobs, role: worker, image: w:1, healthCheck: {path: /health}}\n".to_owned(),
            vec!["spec.tiers[0].healthCheck"],
        ),
        (
            "newsread",
            "    - {name: api, role: application, image: a:1, port: 80, ingress: {}}\n".to_owned(),
            vec!["spec.tiers[0].ingress"],
        ),
        (
            "newsread",
            "    - {name: api, role: application, image: a:1, port: 80, database: {ref: db}, env: [{name: DB_HOST, value: x}, {name: A, value: b}, {name: A, value: c}]}\n".to_owned(),
            vec!["spec.tiers[0].env[0].name", "spec.tiers[0].env[2].name"],
        ),
        (
            "newsread",
            "    - {name: api, role: application, image: 'a b', port: 80}\n".to_owned(),
            vec!["spec.tiers[0].image"],
        ),
        ("shop.example", WEB.to_owned(), vec!["metadata.name"]),
        // An object name may have parts longer than 63 characters (apimachinery's
        // IsDNS1123Subdomain), so such a database can be referenced...
        (
            "newsread",
            format!("    - {{name: jobs, role: worker, image: w:1, database: {{ref: {long_part}}}}}\n"),
            vec![],
        ),
        // ...but one whose Secret <name>-connection would pass 253 characters cannot.
        (
            "newsread",
            format!("    - {{name: jobs, role: worker, image: w:1, cache: {{ref: {too_long}}}}}\n"),
            vec!["spec.tiers[0].cache.ref"],
        ),
    ];
    for (name, tiers, expected) in cases {
        assert_eq!(
            error_fields(name, &tiers),
            expected,
            "app {name}, tiers:\n{tiers}"
        );
    }
}

#[test]
fn a_reference_too_long_for_its_secret_says_how_long_a_name_may_be() {
    let errors = validate(&app_with_tiers(
        "newsread",
        &format!(
            "    - {{name: jobs, role: worker, image: w:1, database: {{ref: {}}}}}\n",
            "d".repeat(243)
        ),
    ))
    .unwrap_err();
    assert!(
        errors[0].message.contains("242 characters"),
        "{}",
        errors[0]
    );
}

#[test]
fn an_empty_tier_list_is_rejected() {
    let app: TieredApp = serde_norway::from_str(
        "apiVersion: tiered.io/v1alpha1\nkind: TieredApp\nmetadata: {name: x}\nspec: {tiers: []}\n",
    )
    .unwrap();
    let errors = validate(&app).unwrap_err();
    assert_eq!(errors[0].field, "spec.tiers");
}

#[test]
fn errors_display_as_field_colon_message() {
    let errors = validate(&app_with_tiers(
        "newsread",
        "    - {name: api, role: application, image: a:1}\n",
    ))
    .unwrap_err();
    let text = errors[0].to_string();
    assert!(
        text.starts_with("spec.tiers[0].port: is required"),
        "{text}"
    );
}

#[test]
fn replicas_next_to_autoscaling_is_a_warning_not_an_error() {
    let app = validate(&app_with_tiers(
        "newsread",
        "    - {name: api, role: application, image: a:1, port: 80, replicas: 3, autoscaling: {minReplicas: 2, maxReplicas: 4}}\n",
    ))
    .unwrap();
    assert_eq!(app.warnings.len(), 1);
    assert_eq!(app.warnings[0].field, "spec.tiers[0].replicas");
    assert_eq!(
        app.tiers[0].scaling,
        Scaling::Autoscaled {
            min_replicas: 2,
            max_replicas: 4,
            target_cpu_utilization: DEFAULT_TARGET_CPU_UTILIZATION,
            target_memory_utilization: None,
        }
    );
}

#[test]
fn defaults_are_resolved() {
    let app = app_with_tiers("newsread", WEB);
    let mut without_namespace = app.clone();
    without_namespace.metadata.namespace = None;
    let validated = validate(&without_namespace).unwrap();
    assert_eq!(validated.namespace, DEFAULT_NAMESPACE);
    let tier = &validated.tiers[0];
    assert_eq!(tier.child_name, "newsread-web");
    assert_eq!(tier.scaling, Scaling::Fixed { replicas: None });
    assert_eq!(tier.min_replicas(), DEFAULT_REPLICAS);
    assert!(tier.ingress.is_none());
}

#[test]
fn resource_defaults_never_exceed_a_given_limit_nor_undercut_a_large_request() {
    let validated = validate(&app_with_tiers(
        "newsread",
        "    - {name: api, role: application, image: a:1, port: 80, resources: {requests: {memory: 2Gi}, limits: {cpu: 50m}}}\n",
    ))
    .unwrap();
    let resources = &validated.tiers[0].resources;
    let requests = resources.requests.clone().unwrap();
    let limits = resources.limits.clone().unwrap();
    assert_eq!(requests["cpu"].0, "50m", "capped at the CPU limit");
    assert_eq!(limits["memory"].0, "2Gi", "raised to the memory request");
}

fn volume_error_fields(volumes: &str, tiers: &str) -> Vec<String> {
    let yaml = format!(
        "apiVersion: tiered.io/v1alpha1\nkind: TieredApp\nmetadata: {{name: shop, namespace: shop}}\nspec:\n  volumes: {volumes}\n  tiers:\n{tiers}"
    );
    let app: TieredApp = serde_norway::from_str(&yaml).unwrap();
    match validate(&app) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.into_iter().map(|error| error.field).collect(),
    }
}

#[test]
fn volumes_and_mounts_are_rejected_at_the_field_to_change() {
    let api = |mounts: &str| {
        format!(
            "    - {{name: api, role: application, image: a:1, port: 80, volumeMounts: {mounts}}}\n"
        )
    };
    let files = "[{name: files, storageClassName: efs-sc, size: 5Gi}]";
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (files, api("[{name: files, mountPath: /data}]"), vec![]),
        (
            files,
            api("[{name: nope, mountPath: /data}]"),
            vec!["spec.tiers[0].volumeMounts[0].name"],
        ),
        (
            "[]",
            api("[{name: files, mountPath: /data}]"),
            vec!["spec.tiers[0].volumeMounts[0].name"],
        ),
        (
            files,
            api("[{name: files, mountPath: /data}, {name: files, mountPath: /data/}]"),
            vec!["spec.tiers[0].volumeMounts[1].mountPath"],
        ),
        (
            files,
            api(
                "[{name: files, mountPath: data}, {name: files, mountPath: /tmp}, {name: files, mountPath: /a/../b}]",
            ),
            vec![
                "spec.tiers[0].volumeMounts[0].mountPath",
                "spec.tiers[0].volumeMounts[1].mountPath",
                "spec.tiers[0].volumeMounts[2].mountPath",
            ],
        ),
        (
            "[{name: files, size: 5 gigs}, {name: files, size: 0}, {name: Bad, size: 1Gi, storageClassName: EFS}]",
            WEB.to_owned(),
            vec![
                "spec.volumes[0].size",
                "spec.volumes[1].name",
                "spec.volumes[1].size",
                "spec.volumes[2].name",
                "spec.volumes[2].storageClassName",
            ],
        ),
    ];
    for (volumes, tiers, expected) in cases {
        assert_eq!(
            volume_error_fields(volumes, &tiers),
            expected,
            "{volumes} {tiers}"
        );
    }
}

#[test]
fn a_volume_defaults_to_read_write_many_and_the_claims_are_retained() {
    let yaml = "apiVersion: tiered.io/v1alpha1\nkind: TieredApp\nmetadata: {name: shop, namespace: shop}\nspec:\n  volumes: [{name: files, size: 5Gi}]\n  tiers:\n    - {name: api, role: application, image: a:1, port: 80, volumeMounts: [{name: files, mountPath: /data, readOnly: true}]}\n";
    let app: TieredApp = serde_norway::from_str(yaml).unwrap();
    let validated = validate(&app).unwrap();
    assert_eq!(
        validated.claim_retention,
        crate::api::tiered_app::ClaimRetention::Retain
    );
    assert_eq!(
        validated.volumes[0].access_modes,
        vec![crate::api::tiered_app::VolumeAccessMode::ReadWriteMany]
    );
    assert_eq!(validated.volumes[0].claim_name, "shop-files");
    let mount = &validated.tiers[0].volume_mounts[0];
    assert_eq!(
        (mount.claim_name.as_str(), mount.read_only),
        ("shop-files", true)
    );
}

#[test]
fn env_names_and_references_the_api_server_would_refuse_are_rejected_at_the_field() {
    // Kubernetes 1.33 takes env names of printable ASCII other than '='
    // (RelaxedEnvironmentVariableValidation), Secret and ConfigMap names that are DNS-1123
    // subdomains and keys of `[-._a-zA-Z0-9]`; anything else fails the Deployment's apply
    // with an error about the Deployment instead of the TieredApp's field.
    let tier = |env: &str| {
        format!("    - {{name: api, role: application, image: a:1, port: 80, env: [{env}]}}\n")
    };
    let cases = [
        ("{name: DB_é, value: x}", vec!["spec.tiers[0].env[0].name"]),
        (
            "{name: \"A\\tB\", value: x}",
            vec!["spec.tiers[0].env[0].name"],
        ),
        ("{name: \"my var.1-x\", value: x}", vec![]),
        (
            "{name: A, valueFrom: {secretKeyRef: {name: Bad_Secret, key: k}}}",
            vec!["spec.tiers[0].env[0].valueFrom.secretKeyRef.name"],
        ),
        (
            "{name: A, valueFrom: {configMapKeyRef: {name: settings, key: \"a/b\"}}}",
            vec!["spec.tiers[0].env[0].valueFrom.configMapKeyRef.key"],
        ),
        (
            "{name: A, valueFrom: {secretKeyRef: {name: db.creds, key: ..x}}}",
            vec!["spec.tiers[0].env[0].valueFrom.secretKeyRef.key"],
        ),
        (
            "{name: A, valueFrom: {secretKeyRef: {name: db-creds, key: DB_pass.word-1}}}",
            vec![],
        ),
    ];
    for (env, fields) in cases {
        assert_eq!(error_fields("newsread", &tier(env)), fields, "{env}");
    }
}
