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

use crate::support;
use support::cel_repair;

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

/// How an object is generated. `Wild` draws any JSON value in place of a field now and
/// then, any string where a string has no pattern, and ignores the CRD's CEL rules: the
/// parser's and validation's error paths. `Clean` keeps every value to its schema (type,
/// pattern, enum, bounds, a plausible value for the free-text fields the operator
/// parses) and repairs what the CEL rules ask ([`support::cel_repair`]), so most objects
/// are valid and reach the builders, the status and the AWS plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Wild,
    Clean,
}

/// A plausible value for a free-text string field named `name` that the operator parses
/// (no pattern in the schema), for [`Mode::Clean`].
fn free_text(name: &str) -> Option<&'static str> {
    Some(match name {
        "image" => "[a-z]{1,8}(\\.example\\.com)?(/[a-z]{1,8}){1,2}:[0-9]{1,2}\\.[0-9]{1,2}",
        "cidrs" | "except" => "10\\.[0-9]{1,2}\\.0\\.0/16",
        "operator" => "(Exists|Equal)",
        "effect" => "(NoSchedule|PreferNoSchedule|NoExecute)",
        "fieldPath" => "metadata\\.(name|namespace)",
        "apiVersion" => "v1",
        "resource" => "(limits|requests)\\.(cpu|memory)",
        _ => return None,
    })
}

/// A value for `schema` (an OpenAPI v3 schema of a CRD) of the field `name`: mostly of
/// the declared type, in [`Mode::Wild`] sometimes anything at all.
fn value_for(schema: &Value, name: &str, depth: u32, mode: Mode) -> BoxedStrategy<Value> {
    // Wild objects stop nesting at 8 levels; the schema itself is finite.
    if depth > 7 && mode == Mode::Wild {
        return any_value().boxed();
    }
    let typed: BoxedStrategy<Value> = match schema["type"].as_str() {
        Some("object") => {
            let properties = schema["properties"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            if properties.is_empty() {
                return match mode {
                    Mode::Wild => prop_oneof![Just(json!({})), any_value()].boxed(),
                    Mode::Clean => Just(json!({})).boxed(),
                };
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
                .map(|(field, sub)| {
                    let is_required = required.contains(&field.as_str()) || asked_for(&field);
                    let value = value_for(&sub, &field, depth + 1, mode)
                        .prop_map(move |v| Some((field.clone(), v)));
                    match (is_required, mode) {
                        (true, Mode::Wild) => prop_oneof![30 => value, 1 => Just(None)].boxed(),
                        (true, Mode::Clean) => value.boxed(),
                        (false, _) => prop_oneof![3 => Just(None), 1 => value].boxed(),
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
            let item = value_for(&schema["items"], name, depth + 1, mode);
            let fewest = match mode {
                Mode::Wild => 0,
                Mode::Clean => usize::try_from(schema["minItems"].as_u64().unwrap_or(0)).unwrap(),
            };
            prop::collection::vec(item, fewest..fewest.max(1) + 3)
                .prop_map(Value::Array)
                .boxed()
        }
        Some("string") => string_for(schema, name, mode),
        Some("integer") => {
            let low = bound(&schema["minimum"]).unwrap_or(0);
            let high = bound(&schema["maximum"]).unwrap_or(low + 100).max(low);
            match mode {
                Mode::Wild => prop_oneof![
                    20 => (low..=high).prop_map(Value::from),
                    1 => any::<i64>().prop_map(Value::from)
                ]
                .boxed(),
                Mode::Clean => (low..=high).prop_map(Value::from).boxed(),
            }
        }
        Some("boolean") => any::<bool>().prop_map(Value::Bool).boxed(),
        // int-or-string (a quantity): a small number is valid in every such field.
        _ if mode == Mode::Clean => (1..100u32).prop_map(Value::from).boxed(),
        _ => any_value().boxed(),
    };
    match mode {
        Mode::Wild => prop_oneof![150 => typed, 1 => any_value()].boxed(),
        Mode::Clean => typed,
    }
}

/// An integer bound of a schema, which the CRDs write as a float (`minimum: 1.0`).
fn bound(value: &Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.to_string().strip_suffix(".0")?.parse().ok())
}

/// A string for `schema` of the field `name`: its enum, its pattern, else a DNS label; in
/// [`Mode::Wild`] now and then any text or a long one, in [`Mode::Clean`] within
/// `maxLength` and plausible for the free-text fields the operator parses.
fn string_for(schema: &Value, name: &str, mode: Mode) -> BoxedStrategy<Value> {
    let choices: Vec<Value> = schema["enum"].as_array().cloned().unwrap_or_default();
    if !choices.is_empty() {
        return proptest::sample::select(choices).boxed();
    }
    let longest = usize::try_from(schema["maxLength"].as_u64().unwrap_or(u64::MAX)).unwrap();
    let shortest = usize::try_from(schema["minLength"].as_u64().unwrap_or(0)).unwrap();
    let pattern = schema["pattern"]
        .as_str()
        .or_else(|| (mode == Mode::Clean).then(|| free_text(name)).flatten())
        .unwrap_or("[a-z][a-z0-9-]{0,10}[a-z0-9]");
    // A string with a `pattern` mostly matches it (the API server would refuse the
    // rest), so objects with many patterned fields still get past validation.
    // The CRDs' patterns are anchored; proptest generates unanchored ones (the same
    // language here, as every pattern is anchored at both ends).
    let unanchored = pattern.trim_start_matches('^').trim_end_matches('$');
    let matching = proptest::string::string_regex(unanchored)
        .unwrap()
        .prop_filter("outside minLength..=maxLength", move |s| {
            (shortest..=longest).contains(&s.len())
        })
        .prop_map(Value::String);
    match mode {
        Mode::Wild => prop_oneof![
            20 => matching,
            1 => ".{0,64}".prop_map(Value::String),
            1 => (60usize..300).prop_map(|n| Value::String("x".repeat(n))),
        ]
        .boxed(),
        Mode::Clean => matching.boxed(),
    }
}

/// An object of `kind` built from its CRD's schema: two in three [`Mode::Clean`] (most
/// valid), one in three [`Mode::Wild`] with a name of any shape.
fn object(kind: &'static str) -> BoxedStrategy<Value> {
    prop_oneof![2 => object_in(kind, Mode::Clean), 1 => object_in(kind, Mode::Wild)].boxed()
}

fn object_in(kind: &'static str, mode: Mode) -> BoxedStrategy<Value> {
    let crd = tiered::api::crds()
        .into_iter()
        .find(|crd| crd.spec.names.kind == kind)
        .unwrap();
    let schema = serde_json::to_value(&crd.spec.versions[0].schema).unwrap();
    let spec = value_for(
        &schema["openAPIV3Schema"]["properties"]["spec"],
        "spec",
        0,
        mode,
    );
    let name = match mode {
        Mode::Clean => "[a-z][a-z0-9]{0,12}".boxed(),
        Mode::Wild => prop_oneof![
            6 => "[a-z][a-z0-9]{0,12}",
            1 => "[a-z][a-z0-9-]{0,62}",
            1 => "[a-z][a-z0-9.-]{60,253}",
            1 => ".{0,80}",
        ]
        .boxed(),
    };
    (name, spec)
        .prop_map(move |(name, mut spec)| {
            refer_to_declared_volumes(&mut spec);
            if mode == Mode::Clean {
                cel_repair::repair(kind, &mut spec);
            }
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

/// How many of 200 objects drawn from `strategy` (deterministic runner) render.
fn valid_of_200(strategy: &BoxedStrategy<Value>) -> usize {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    (0..200)
        .filter(|_| render_json(&[strategy.new_tree(&mut runner).unwrap().current()]))
        .count()
}

/// The generator reaches the builders: at least half of the objects the property tests
/// draw are valid, so they exercise the builders, the status and the AWS plan, not only
/// the parser; and the wild ones stay mostly invalid, so the error paths are tried too.
/// (Printed with `--nocapture`. Before the two modes, 4 TieredApps, 45 ManagedDatabases
/// and 130 CacheClusters of 200 were valid.)
#[test]
fn most_generated_objects_are_valid_and_wild_ones_mostly_are_not() {
    for kind in ["TieredApp", "ManagedDatabase", "CacheCluster"] {
        let drawn = valid_of_200(&object(kind));
        let clean = valid_of_200(&object_in(kind, Mode::Clean));
        let wild = valid_of_200(&object_in(kind, Mode::Wild));
        eprintln!(
            "{kind}: {drawn} of 200 drawn objects valid (clean {clean} of 200, wild {wild} of 200)"
        );
        assert!(
            drawn >= 100,
            "only {drawn} of 200 generated {kind}s rendered"
        );
        assert!(
            wild <= 180,
            "{wild} of 200 wild {kind}s rendered: too few invalid ones"
        );
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
