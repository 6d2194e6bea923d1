//! The user docs against the code: `docs/reference.md` is what `tiered crd --reference`
//! prints today and names every field, rule and check of the CRD schemas.

use std::path::{Path, PathBuf};

use serde_json::Value;

const REGENERATE: &str = "run `scripts/generate.sh` (it runs `cargo run -- crd --reference > docs/reference.md`) and commit the result";

fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn generated_reference() -> String {
    tiered::cli::reference::markdown(&tiered::api::crds())
}

#[test]
fn docs_reference_matches_the_crd_schemas() {
    let path = repo_file("docs/reference.md");
    let on_disk = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} is missing ({e}): {REGENERATE}", path.display()));
    let generated = generated_reference();
    if on_disk != generated {
        let first_difference = on_disk
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || "one is a prefix of the other".to_owned(),
                |i| format!("line {}: {:?}", i + 1, generated.lines().nth(i)),
            );
        panic!("docs/reference.md is out of date ({first_difference}): {REGENERATE}");
    }
}

/// The section of `kind` in the reference: from `## Kind` to the next `## `.
fn kind_section<'a>(reference: &'a str, kind: &str) -> &'a str {
    let start = reference
        .find(&format!("\n## {kind}\n"))
        .unwrap_or_else(|| panic!("no section for {kind}"));
    let rest = &reference[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    &rest[..end]
}

/// Every field path under `node` (`spec.tiers[].name`, `spec.tags.<key>`), with its schema.
fn field_paths<'a>(node: &'a Value, prefix: &str, out: &mut Vec<(String, &'a Value)>) {
    let Some(properties) = node.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (name, child) in properties {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        out.push((path.clone(), child));
        if let Some(item) = child.get("items") {
            field_paths(item, &format!("{path}[]"), out);
        }
        if let Some(value) = child.get("additionalProperties") {
            field_paths(value, &format!("{path}.<key>"), out);
        }
        field_paths(child, &path, out);
    }
}

/// Every schema node under `node`, the node itself included.
fn all_nodes<'a>(node: &'a Value, out: &mut Vec<&'a Value>) {
    out.push(node);
    for key in ["items", "additionalProperties"] {
        if let Some(child @ Value::Object(_)) = node.get(key) {
            all_nodes(child, out);
        }
    }
    if let Some(properties) = node.get("properties").and_then(Value::as_object) {
        properties.values().for_each(|child| all_nodes(child, out));
    }
}

fn schemas() -> Vec<(String, Value)> {
    tiered::api::crds()
        .into_iter()
        .map(|crd| {
            let schema = serde_json::to_value(&crd.spec.versions[0].schema).unwrap();
            (
                crd.spec.names.kind.clone(),
                schema["openAPIV3Schema"].clone(),
            )
        })
        .collect()
}

#[test]
fn the_reference_has_a_section_for_every_field_of_every_kind() {
    let reference = generated_reference();
    for (kind, root) in schemas() {
        let section = kind_section(&reference, &kind);
        let mut paths = Vec::new();
        field_paths(&root, "", &mut paths);
        assert!(
            paths.len() > 20,
            "{kind}: only {} fields found",
            paths.len()
        );
        let missing: Vec<&str> = paths
            .iter()
            .map(|(path, _)| path.as_str())
            .filter(|path| !section.contains(&format!("# `{path}`\n")))
            .collect();
        assert!(missing.is_empty(), "{kind}: no entry for {missing:?}");
    }
}

#[test]
fn the_reference_states_every_rule_message_pattern_enum_range_and_default() {
    let reference = generated_reference();
    for (kind, root) in schemas() {
        let section = kind_section(&reference, &kind);
        let mut nodes = Vec::new();
        all_nodes(&root, &mut nodes);
        let mut expected = Vec::new();
        for node in nodes {
            for rule in node["x-kubernetes-validations"]
                .as_array()
                .into_iter()
                .flatten()
            {
                expected.push(format!("`{}`", rule["rule"].as_str().unwrap()));
                if let Some(message) = rule["message"].as_str() {
                    expected.push(format!("\"{}\"", tiered::cli::reference::prose(message)));
                }
            }
            if let Some(pattern) = node["pattern"].as_str() {
                expected.push(format!("matches `{pattern}`"));
            }
            for value in node["enum"].as_array().into_iter().flatten() {
                expected.push(format!("`{}`", value.as_str().unwrap()));
            }
            for (key, word) in [("minimum", "minimum"), ("maximum", "maximum")] {
                if let Some(bound) = node[key].as_f64() {
                    expected.push(format!("{word} {bound}"));
                }
            }
            if let Some(default) = node.get("default") {
                expected.push(format!("default `{default}`"));
            }
        }
        assert!(
            expected.len() > 10,
            "{kind}: only {} checks found",
            expected.len()
        );
        let missing: Vec<&String> = expected
            .iter()
            .filter(|text| !section.contains(text.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "{kind}: the reference does not say {missing:#?}"
        );
    }
}

#[test]
fn a_changed_field_description_makes_the_reference_differ() {
    // Guards the drift test: the generator reads the schema, so any change shows.
    let mut crds = tiered::api::crds();
    let before = tiered::cli::reference::markdown(&crds);
    let root = crds[0].spec.versions[0]
        .schema
        .as_mut()
        .and_then(|s| s.open_api_v3_schema.as_mut())
        .unwrap();
    let spec = root.properties.as_mut().unwrap().get_mut("spec").unwrap();
    spec.description = Some("a new description".into());
    let after = tiered::cli::reference::markdown(&crds);
    assert_ne!(before, after);
    assert!(after.contains("\na new description\n"));
}
