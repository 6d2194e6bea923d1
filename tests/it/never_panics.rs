//! Property tests: any object of the three kinds, however malformed, goes through
//! deserialise → validate → build (and the AWS plan) without a panic, and the texts the
//! operator would write about it (Event note, condition message) fit the API server's
//! limits. Objects are generated from the CRD schemas themselves, so every field of every
//! kind is tried, with values of the right type and of wrong ones, any Unicode, huge
//! strings and deep nesting.

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use tiered::cli::render::{Input, render};
use tiered::runtime::error::chain;
use tiered::runtime::text::{CONDITION_MESSAGE_MAX_BYTES, EVENT_NOTE_MAX_BYTES, truncated};

/// Any JSON value: strings of any Unicode (some huge), numbers at the edges, nesting.
fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,40}".prop_map(Value::String),
        (1usize..5000).prop_map(|n| Value::String("é".repeat(n))),
    ];
    leaf.prop_recursive(8, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A value for `schema` (an OpenAPI v3 schema of a CRD): mostly of the declared type,
/// sometimes anything at all.
fn value_for(schema: &Value, depth: u32) -> BoxedStrategy<Value> {
    if depth > 7 {
        return any_value().boxed();
    }
    let typed: BoxedStrategy<Value> = match schema["type"].as_str() {
        Some("object") => {
            let properties = schema["properties"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            if properties.is_empty() {
                return prop_oneof![Just(json!({})), any_value()].boxed();
            }
            let required: Vec<&str> = schema["required"]
                .as_array()
                .map(|names| names.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            // An optional field that a CEL rule of this object asks for (`... ||
            // has(self.port)`) is as good as required for a valid object.
            let rules: Vec<String> = schema["x-kubernetes-validations"]
                .as_array()
                .map(|rules| {
                    rules
                        .iter()
                        .filter_map(|rule| rule["rule"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let asked_for = move |name: &str| {
                let wanted = format!("has(self.{name})");
                rules.iter().any(|rule| {
                    rule.match_indices(&wanted)
                        .any(|(at, _)| !rule[..at].ends_with('!'))
                })
            };
            let fields: Vec<BoxedStrategy<Option<(String, Value)>>> = properties
                .into_iter()
                .map(|(name, sub)| {
                    let is_required = required.contains(&name.as_str()) || asked_for(&name);
                    let field =
                        value_for(&sub, depth + 1).prop_map(move |v| Some((name.clone(), v)));
                    if is_required {
                        prop_oneof![30 => field, 1 => Just(None)].boxed()
                    } else {
                        prop_oneof![3 => Just(None), 1 => field].boxed()
                    }
                })
                .collect();
            fields
                .prop_map(|fields| {
                    Value::Object(fields.into_iter().flatten().collect::<Map<_, _>>())
                })
                .boxed()
        }
        Some("array") => {
            let item = value_for(&schema["items"], depth + 1);
            prop::collection::vec(item, 0..4)
                .prop_map(Value::Array)
                .boxed()
        }
        Some("string") => {
            let choices: Vec<Value> = schema["enum"].as_array().cloned().unwrap_or_default();
            // A string with a `pattern` mostly matches it (the API server would refuse
            // the rest), so objects with many patterned fields still get past validation.
            let patterned = schema["pattern"]
                .as_str()
                .and_then(|pattern| proptest::string::string_regex(pattern).ok());
            if let Some(matching) = patterned {
                prop_oneof![
                    20 => matching.prop_map(Value::String),
                    1 => ".{0,64}".prop_map(Value::String),
                ]
                .boxed()
            } else if choices.is_empty() {
                prop_oneof![
                    20 => "[a-z][a-z0-9-]{0,10}[a-z0-9]".prop_map(Value::String),
                    1 => ".{0,64}".prop_map(Value::String),
                    1 => (60usize..300).prop_map(|n| Value::String("x".repeat(n))),
                ]
                .boxed()
            } else {
                proptest::sample::select(choices).boxed()
            }
        }
        Some("integer") => {
            let low = schema["minimum"].as_i64().unwrap_or(0);
            let high = schema["maximum"].as_i64().unwrap_or(low + 100).max(low);
            prop_oneof![
                20 => (low..=high).prop_map(Value::from),
                1 => any::<i64>().prop_map(Value::from)
            ]
            .boxed()
        }
        Some("boolean") => any::<bool>().prop_map(Value::Bool).boxed(),
        _ => any_value().boxed(),
    };
    prop_oneof![150 => typed, 1 => any_value()].boxed()
}

/// An object of `kind` built from its CRD's schema, with a name of any shape.
fn object(kind: &'static str) -> BoxedStrategy<Value> {
    let crd = tiered::api::crds()
        .into_iter()
        .find(|crd| crd.spec.names.kind == kind)
        .unwrap();
    let schema = serde_json::to_value(&crd.spec.versions[0].schema).unwrap();
    let spec = value_for(&schema["openAPIV3Schema"]["properties"]["spec"], 0);
    let name = prop_oneof![
        6 => "[a-z][a-z0-9]{0,12}",
        1 => "[a-z][a-z0-9-]{0,62}",
        1 => "[a-z][a-z0-9.-]{60,253}",
        1 => ".{0,80}",
    ];
    (name, spec)
        .prop_map(move |(name, mut spec)| {
            refer_to_declared_volumes(&mut spec);
            json!({
                "apiVersion": "tiered.io/v1alpha1",
                "kind": kind,
                "metadata": {"name": name, "namespace": "shop"},
                "spec": spec,
            })
        })
        .boxed()
}

/// A TieredApp's `volumeMounts` name the app's `volumes` (a CEL rule the generator does
/// not read), as the API server insists: when the app declares volumes, each mount names
/// one of them; when it declares none, the tiers mount none. (Dangling mounts are in
/// validation's table tests.)
fn refer_to_declared_volumes(spec: &mut Value) {
    let declared: Vec<Value> = spec["volumes"]
        .as_array()
        .map(|volumes| {
            volumes
                .iter()
                .map(|v| v["name"].clone())
                .filter(Value::is_string)
                .collect()
        })
        .unwrap_or_default();
    let Some(tiers) = spec.get_mut("tiers").and_then(Value::as_array_mut) else {
        return;
    };
    for tier in tiers {
        if declared.is_empty() {
            if let Some(fields) = tier.as_object_mut() {
                fields.remove("volumeMounts");
            }
            continue;
        }
        let Some(mounts) = tier.get_mut("volumeMounts").and_then(Value::as_array_mut) else {
            continue;
        };
        for (index, mount) in mounts.iter_mut().enumerate() {
            if mount.is_object() {
                mount["name"] = declared[index % declared.len()].clone();
            }
        }
    }
}

/// Renders the objects; returns whether they rendered without a problem.
fn render_json(objects: &[Value]) -> bool {
    let text = objects
        .iter()
        .map(|object| serde_norway::to_string(object).unwrap())
        .collect::<Vec<_>>()
        .join("---\n");
    let input = Input {
        name: "fuzz.yaml".to_owned(),
        text,
    };
    let Err(problems) = render(&[input]) else {
        return true;
    };
    {
        for problem in problems {
            let message = chain(&problem);
            assert!(!message.is_empty());
            assert!(truncated(&message, EVENT_NOTE_MAX_BYTES).len() <= EVENT_NOTE_MAX_BYTES);
            assert!(
                truncated(&message, CONDITION_MESSAGE_MAX_BYTES).len()
                    <= CONDITION_MESSAGE_MAX_BYTES
            );
        }
    }
    false
}

/// The generator reaches the builders: a share of the generated objects is valid, so the
/// property tests above exercise more than the parser. (Measured with the deterministic
/// runner: 4 of 200 TieredApps, whose tiers have many nested fields (9 before
/// `volumes`, whose generated sizes are rarely quantities), 45 of 200 ManagedDatabases,
/// 130 of 200 CacheClusters; `render_props` drives the TieredApp builders with a typed
/// generator besides.)
#[test]
fn generated_objects_often_get_past_validation() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    for kind in ["TieredApp", "ManagedDatabase", "CacheCluster"] {
        let strategy = object(kind);
        let valid = (0..200)
            .filter(|_| render_json(&[strategy.new_tree(&mut runner).unwrap().current()]))
            .count();
        eprintln!("{valid} of 200 generated {kind}s rendered");
        assert!(valid >= 4, "only {valid} of 200 generated {kind}s rendered");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn any_tiered_app_never_panics(app in object("TieredApp")) {
        let _ = render_json(&[app]);
    }

    #[test]
    fn any_managed_database_never_panics(database in object("ManagedDatabase")) {
        let _ = render_json(&[database]);
    }

    #[test]
    fn any_cache_cluster_never_panics(cache in object("CacheCluster")) {
        let _ = render_json(&[cache]);
    }

    #[test]
    fn any_mix_of_the_three_kinds_never_panics(
        app in object("TieredApp"),
        database in object("ManagedDatabase"),
        cache in object("CacheCluster"),
    ) {
        let _ = render_json(&[database, cache, app]);
    }

    #[test]
    fn any_json_at_all_never_panics(value in any_value()) {
        let _ = render_json(&[value]);
    }
}
