//! Everything tiered names, labels and annotates is valid on a real API server, whatever
//! names the user picks (issue 9.5): a property test over every name the CRDs let
//! through, with apimachinery's rules written out here as small checkers of their own
//! (not the operator's), and the CEL rules that refuse the names no object could carry,
//! tried on the emulator.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use kube::Api;
use kube::api::PostParams;
use proptest::prelude::*;
use serde_json::{Value, json};
use tiered::api::{CacheCluster, ManagedDatabase, TieredApp};
use tiered::controllers::tiered_app::build::{LiveReplicas, TierWiring, Wiring, desired_children};
use tiered::controllers::tiered_app::validate::validate;
use tiered::controllers::{cache_cluster, managed_database};

use crate::support::operator::emulator;

// ---- apimachinery's rules (k8s.io/apimachinery/pkg/util/validation) ----

fn alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, apimachinery's `dns1123LabelFmt`.
fn dns1123_label_format(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| alnum(c) || c == '-')
        && s.starts_with(alnum)
        && s.ends_with(alnum)
}

/// `IsDNS1123Label`: at most 63 characters of `dns1123LabelFmt`.
fn dns1123_label(s: &str) -> bool {
    s.len() <= 63 && dns1123_label_format(s)
}

/// `IsDNS1123Subdomain`: at most 253 characters of `dns1123LabelFmt` parts joined by
/// dots (the parts themselves have no length limit of their own).
fn dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(dns1123_label_format)
}

/// `IsDNS1035Label` (Service names): a DNS-1123 label that starts with a letter.
fn dns1035_label(s: &str) -> bool {
    dns1123_label(s) && s.starts_with(|c: char| c.is_ascii_lowercase())
}

/// `IsValidLabelValue`: empty, or at most 63 of `[-_.A-Za-z0-9]`, alphanumeric at both ends.
fn label_value(s: &str) -> bool {
    let ends = |c: char| c.is_ascii_alphanumeric();
    s.is_empty()
        || (s.len() <= 63
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && s.starts_with(ends)
            && s.ends_with(ends))
}

/// `IsQualifiedName` (label and annotation keys): `[prefix/]name`, the prefix a DNS-1123
/// subdomain, the name what a non-empty label value is.
fn qualified_name(key: &str) -> bool {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    prefix.is_none_or(|p| !p.is_empty() && dns1123_subdomain(p))
        && !name.is_empty()
        && label_value(name)
}

/// `IsValidPortName` (IANA_SVC_NAME): at most 15 of `[a-z0-9-]`, a letter somewhere,
/// no `-` at either end nor `--`.
fn port_name(s: &str) -> bool {
    (1..=15).contains(&s.len())
        && s.chars().all(|c| alnum(c) || c == '-')
        && s.chars().any(|c| c.is_ascii_lowercase())
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
}

/// Whether `name` is valid for an object of `kind` (or a reference to one): a DNS-1035
/// label for a Service (`Service` or a `service` reference), a DNS-1123 subdomain else.
fn name_valid(kind: &str, name: &str) -> bool {
    if kind.eq_ignore_ascii_case("service") {
        dns1035_label(name)
    } else {
        dns1123_subdomain(name)
    }
}

/// Every problem with the names, labels and annotations of one object (as JSON).
fn problems(object: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let kind = object["kind"].as_str().unwrap_or("?").to_owned();
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    if !name_valid(&kind, name) {
        out.push(format!("{kind} name {name:?}"));
    }
    walk(&kind, "", object, &mut out);
    out
}

fn check_labels(at: &str, map: &Value, out: &mut Vec<String>) {
    for (key, value) in map.as_object().into_iter().flatten() {
        let value = value.as_str().unwrap_or("<not a string>");
        if !qualified_name(key) || !label_value(value) {
            out.push(format!("{at}: label {key:?}={value:?}"));
        }
    }
}

fn walk(kind: &str, path: &str, node: &Value, out: &mut Vec<String>) {
    match node {
        Value::Object(map) => {
            for (key, value) in map {
                let at = format!("{kind}{path}.{key}");
                match key.as_str() {
                    "labels" | "matchLabels" => check_labels(&at, value, out),
                    "selector" if kind == "Service" => check_labels(&at, value, out),
                    "annotations" => {
                        let mut size = 0;
                        for (key, text) in value.as_object().into_iter().flatten() {
                            size += key.len() + text.as_str().map_or(0, str::len);
                            if !qualified_name(key) {
                                out.push(format!("{at}: annotation key {key:?}"));
                            }
                        }
                        if size > 256 * 1024 {
                            out.push(format!("{at}: {size} bytes of annotations"));
                        }
                    }
                    _ => {}
                }
                let checked_name = match key.as_str() {
                    "containers" | "volumes" | "volumeMounts" => {
                        for item in value.as_array().into_iter().flatten() {
                            let name = item["name"].as_str().unwrap_or_default();
                            if !dns1123_label(name) {
                                out.push(format!("{at}: name {name:?}"));
                            }
                        }
                        None
                    }
                    "ports" => {
                        for item in value.as_array().into_iter().flatten() {
                            if let Some(name) = item["name"].as_str()
                                && !port_name(name)
                            {
                                out.push(format!("{at}: port name {name:?}"));
                            }
                        }
                        None
                    }
                    "secretKeyRef" | "scaleTargetRef" | "service" => {
                        value["name"].as_str().map(|name| (name, key.as_str()))
                    }
                    _ => None,
                };
                if let Some((name, what)) = checked_name
                    && !name_valid(what, name)
                {
                    out.push(format!("{at}: {what} name {name:?}"));
                }
                walk(kind, &format!("{path}.{key}"), value, out);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                walk(kind, &format!("{path}[{index}]"), item, out);
            }
        }
        _ => {}
    }
}

#[test]
fn the_checkers_follow_apimachinery() {
    assert!(qualified_name("app.kubernetes.io/name") && qualified_name("tiered.io/secret-hash"));
    assert!(!qualified_name("/a") && !qualified_name("a/") && !qualified_name("A_/b"));
    assert!(label_value("") && label_value("A.b_c-1") && !label_value(&"a".repeat(64)));
    assert!(!label_value("a.") && !label_value("-a"));
    assert!(dns1123_subdomain("a.b-c") && !dns1123_subdomain("a..b") && !dns1123_subdomain("A"));
    assert!(dns1123_subdomain(&"a".repeat(253)) && !dns1123_subdomain(&"a".repeat(254)));
    assert!(dns1123_label(&"a".repeat(63)) && !dns1123_label(&"a".repeat(64)));
    assert!(dns1035_label("web") && !dns1035_label("1web") && !dns1035_label("w.b"));
    assert!(port_name("http") && !port_name("1234") && !port_name("a--b"));
}

// ---- names the CRDs allow ----

/// A `dns1123LabelFmt` part of exactly `len` characters.
fn label_of(len: usize) -> impl Strategy<Value = String> {
    let pattern = if len == 1 {
        "[a-z0-9]".to_owned()
    } else {
        format!("[a-z0-9][-a-z0-9]{{{}}}[a-z0-9]", len - 2)
    };
    proptest::string::string_regex(&pattern).unwrap()
}

/// Labels of the given lengths joined by dots.
fn dotted(lengths: Vec<usize>) -> impl Strategy<Value = String> {
    lengths
        .into_iter()
        .map(label_of)
        .collect::<Vec<_>>()
        .prop_map(|labels| labels.join("."))
}

/// A DNS-1123 subdomain of up to 253 characters (what the API server lets any object be
/// named), weighted towards the lengths where limits fall: 61–64 (a label value, a
/// Service name) and 240–253 (a Secret name with `-connection`).
fn object_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (1..=20usize).prop_flat_map(label_of),
        3 => (50..=63usize).prop_flat_map(label_of),
        2 => (30..=34usize).prop_flat_map(|len| dotted(vec![30, len])),
        2 => proptest::collection::vec(1..=63usize, 1..=4)
            .prop_filter("at most 253", |l| l.iter().sum::<usize>() + l.len() - 1 <= 253)
            .prop_flat_map(dotted),
        2 => (48..=61usize).prop_flat_map(|len| dotted(vec![63, 63, 63, len])),
        2 => (64..=253usize).prop_flat_map(label_of),
    ]
}

/// A tier name as the CRD's pattern allows: `^[a-z]([-a-z0-9]*[a-z0-9])?$`, 1–40.
fn tier_name() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-z]([-a-z0-9]{0,38}[a-z0-9])?").unwrap()
}

fn tier(name: &str, index: usize, database: &str, cache: &str, group: &str) -> Value {
    let scaling = match index % 3 {
        0 => json!({"autoscaling": {"minReplicas": 2, "maxReplicas": 5}}),
        1 => json!({"replicas": 3}),
        _ => json!({}),
    };
    let mut tier = match index % 3 {
        0 => json!({"role": "presentation", "port": 8080, "healthCheck": {"path": "/health"},
                    "ingress": {"host": "shop.example.com", "groupName": group}}),
        1 => {
            json!({"role": "application", "port": 5000, "database": {"ref": database}, "cache": {"ref": cache}})
        }
        _ => json!({"role": "worker", "database": {"ref": database}}),
    };
    tier["name"] = json!(name);
    tier["image"] = json!("ghcr.io/acme/app:1");
    for (key, value) in scaling.as_object().unwrap() {
        tier[key] = value.clone();
    }
    tier
}

/// `objects` as JSON, each with its `kind`.
fn as_json<K: serde::Serialize>(kind: &str, objects: &[K]) -> Vec<Value> {
    objects
        .iter()
        .map(|o| {
            // k8s-openapi leaves `kind` to the client; the checks need it.
            let mut value = serde_json::to_value(o).unwrap();
            value["kind"] = json!(kind);
            value
        })
        .collect()
}

fn child_names_fit(app: &str, tiers: &[String]) -> bool {
    dns1035_label(app) && tiers.iter().all(|t| app.len() + 1 + t.len() <= 63)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_name_label_and_annotation_tiered_writes_for_an_app_is_valid(
        app_name in object_name(),
        tier_names in proptest::collection::btree_set(tier_name(), 1..=3),
        database in object_name(),
        cache in object_name(),
        group in "[a-z0-9]{1,20}",
        live in proptest::option::of(0..20i32),
    ) {
        let tier_names: Vec<String> = tier_names.into_iter().collect();
        let tiers: Vec<Value> = tier_names
            .iter()
            .enumerate()
            .map(|(index, name)| tier(name, index, &database, &cache, &group))
            .collect();
        let app: TieredApp = serde_json::from_value(json!({
            "apiVersion": "tiered.io/v1alpha1", "kind": "TieredApp",
            "metadata": {"name": app_name, "namespace": "prod", "uid": "6f1c2a8e-0000-4000-8000-000000000001"},
            "spec": {"tiers": tiers}
        }))
        .unwrap();
        // The second tier uses the database and the cache, the third the database.
        let used = [(&database, tier_names.len() >= 2), (&cache, tier_names.len() >= 2)];
        let refs_fit = used
            .iter()
            .all(|(name, used)| !used || name.len() + "-connection".len() <= 253);
        let validated = match validate(&app) {
            Ok(validated) => validated,
            Err(errors) => {
                // Never silent: the app is refused with the field to change, and only
                // when some name cannot work.
                prop_assert!(
                    !child_names_fit(&app_name, &tier_names) || !refs_fit,
                    "refused although every name fits: {errors:?}"
                );
                for error in errors {
                    prop_assert!(
                        matches!(error.field.rsplit_once('.'), Some((_, "name" | "ref"))),
                        "{error}"
                    );
                    prop_assert!(!error.message.is_empty());
                }
                return Ok(());
            }
        };
        prop_assert!(child_names_fit(&app_name, &tier_names) && refs_fit);
        let wiring = Wiring {
            tiers: tier_names
                .iter()
                .map(|t| {
                    let tier_wiring = TierWiring {
                        secret_hash: Some("sha256-0123abcd".to_owned()),
                        live_replicas: live.map(|count| LiveReplicas {
                            replicas: Some(count),
                            handover: Some(count.to_string()),
                        }),
                        ..TierWiring::default()
                    };
                    (t.clone(), tier_wiring)
                })
                .collect(),
            ..Wiring::default()
        };
        let children = desired_children(&validated, &wiring);
        let objects: Vec<Value> = [
            as_json("Deployment", &children.deployments),
            as_json("Service", &children.services),
            as_json("HorizontalPodAutoscaler", &children.hpas),
            as_json("PodDisruptionBudget", &children.pdbs),
            as_json("NetworkPolicy", &children.network_policies),
            as_json("Ingress", &children.ingresses),
        ]
        .concat();
        prop_assert!(!objects.is_empty());
        for object in objects {
            let problems = problems(&object);
            prop_assert!(problems.is_empty(), "{problems:?}");
        }
    }

    #[test]
    fn the_connection_secrets_of_any_allowed_name_carry_valid_labels(name in object_name()) {
        let database: ManagedDatabase = serde_json::from_value(data_tier("ManagedDatabase", &name)).unwrap();
        let reach = |host: &str, port| tiered::controllers::data_tier::secret::Reach {
            host: Some(host.to_owned()),
            port,
            reader_host: None,
        };
        let details = managed_database::secret::ConnectionDetails {
            engine: tiered::api::managed_database::DatabaseEngine::Postgres,
            reach: reach("db.example.com", 5432),
            username: "app".to_owned(),
            database: "app".to_owned(),
            credential: managed_database::secret::Credential::AwsManaged(None),
        };
        let db_secret = tiered::controllers::data_tier::secret::connection_secret(
            &database,
            "database",
            managed_database::secret::connection_secret_data(&details),
        )
        .0;
        let cache: CacheCluster = serde_json::from_value(data_tier("CacheCluster", &name)).unwrap();
        let details = cache_cluster::secret::ConnectionDetails {
            reach: reach("cache.example.com", 6379),
            tls: false,
            auth_token: None,
        };
        let cache_secret = tiered::controllers::data_tier::secret::connection_secret(
            &cache,
            "cache",
            cache_cluster::secret::connection_secret_data(&details),
        )
        .0;
        for secret in [db_secret, cache_secret] {
            let mut object = serde_json::to_value(&secret).unwrap();
            object["kind"] = json!("Secret");
            let problems = problems(&object);
            // The CRDs refuse names over 242 characters (see the test below): only those
            // would make a Secret name over 253.
            if name.len() <= 242 {
                prop_assert!(problems.is_empty(), "{problems:?}");
            } else {
                prop_assert!(problems.iter().all(|p| p.starts_with("Secret name")), "{problems:?}");
            }
            let labels: BTreeMap<String, String> = secret.metadata.labels.unwrap();
            let instance = &labels["app.kubernetes.io/instance"];
            prop_assert!(name.len() > 63 || instance == &name, "a short name is kept: {instance}");
        }
    }
}

fn data_tier(kind: &str, name: &str) -> Value {
    let spec = if kind == "ManagedDatabase" {
        json!({"engine": "postgres", "engineVersion": "16.4", "instanceClass": "db.t4g.micro",
               "storage": {"allocatedGiB": 20}, "databaseName": "app", "masterUsername": "app",
               "network": {"subnetGroupName": "db", "securityGroupIds": ["sg-0abc1234def567890"]}})
    } else {
        json!({"engine": "valkey", "engineVersion": "8.0", "nodeType": "cache.t4g.micro",
               "replicasPerShard": 0, "shards": 1, "automaticFailover": false, "multiAZ": false,
               "transitEncryption": false, "atRestEncryption": true,
               "network": {"subnetGroupName": "cache", "securityGroupIds": ["sg-0def1234abc567890"]}})
    };
    json!({"apiVersion": "tiered.io/v1alpha1", "kind": kind,
           "metadata": {"name": name, "namespace": "prod", "uid": "6f1c2a8e-0000-4000-8000-000000000002"},
           "spec": spec})
}

/// The error text of creating `object` in namespace `prod`, or `None` when it was created.
async fn create_error<K>(api: &Api<K>, object: Value) -> Option<String>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let mut object = object;
    object["metadata"].as_object_mut().unwrap().remove("uid");
    let typed: K = serde_json::from_value(object).unwrap();
    api.create(&PostParams::default(), &typed)
        .await
        .err()
        .map(|error| error.to_string())
}

#[tokio::test]
async fn names_no_child_or_secret_could_carry_are_refused_by_the_api_server_with_the_field_named() {
    let emulator = emulator(&["prod"], false).await;
    let client = emulator.client();
    let apps: Api<TieredApp> = Api::namespaced(client.clone(), "prod");
    let app = |name: &str, tier: &str| {
        json!({"apiVersion": "tiered.io/v1alpha1", "kind": "TieredApp",
               "metadata": {"name": name, "namespace": "prod"},
               "spec": {"tiers": [{"name": tier, "role": "worker", "image": "w:1"}]}})
    };
    let dotted = create_error(&apps, app("shop.example", "web"))
        .await
        .unwrap_or_default();
    assert!(
        dotted.contains("metadata.name must start with a letter"),
        "{dotted}"
    );
    let digit = create_error(&apps, app("1shop", "web"))
        .await
        .unwrap_or_default();
    assert!(digit.contains("metadata.name"), "{digit}");
    let long = "a".repeat(55);
    let too_long = create_error(&apps, app(&long, "tier-name"))
        .await
        .unwrap_or_default();
    assert!(too_long.contains("must fit in 63 characters"), "{too_long}");
    // Named on the field to shorten (kubectl, Argo CD and Flux show the path), not on
    // the object's root.
    assert!(too_long.contains("spec.tiers: Invalid value"), "{too_long}");
    assert_eq!(
        create_error(&apps, app(&long, "web-api")).await,
        None,
        "55 + 1 + 7 = 63 fits"
    );

    let databases: Api<ManagedDatabase> = Api::namespaced(client.clone(), "prod");
    let caches: Api<CacheCluster> = Api::namespaced(client.clone(), "prod");
    let name_243 = format!("{}.{}", "d".repeat(63), "b".repeat(179));
    assert_eq!(name_243.len(), 243);
    for error in [
        create_error(&databases, data_tier("ManagedDatabase", &name_243)).await,
        create_error(&caches, data_tier("CacheCluster", &name_243)).await,
    ] {
        let error = error.unwrap_or_default();
        assert!(
            error.contains("metadata.name must have at most 242 characters"),
            "{error}"
        );
    }
    let name_242 = &name_243[..242];
    assert_eq!(
        create_error(&databases, data_tier("ManagedDatabase", name_242)).await,
        None
    );
    assert_eq!(
        create_error(&caches, data_tier("CacheCluster", name_242)).await,
        None
    );
}
