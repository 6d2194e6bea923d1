//! Generated files: `crds/` must match what `tiered crd` prints, and the CRDs must be
//! well-formed (structural, every field described, CEL rules that compile).

use std::path::Path;

use tiered::cli::crd::{crd_file_name, crd_yaml};

const REGENERATE: &str = "run `scripts/generate.sh` (it runs `cargo run -- crd --output-dir crds` and copies the CRDs into the chart) and commit the result";

#[test]
fn checked_in_crds_match_the_rust_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    let crds = tiered::api::crds();
    for crd in &crds {
        let path = dir.join(crd_file_name(crd));
        let on_disk = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{} is missing ({e}): {REGENERATE}", path.display()));
        assert_eq!(
            on_disk,
            crd_yaml(crd).unwrap(),
            "{} is out of date: {REGENERATE}",
            path.display()
        );
    }
    let files = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(
        files,
        crds.len(),
        "crds/ holds files no kind generates: {REGENERATE}"
    );
}

fn walk_properties(node: &serde_json::Value, path: &str, missing: &mut Vec<String>) {
    if let Some(props) = node.get("properties").and_then(|p| p.as_object()) {
        for (key, child) in props {
            let child_path = format!("{path}.{key}");
            if child.get("description").is_none() {
                missing.push(child_path.clone());
            }
            walk_properties(child, &child_path, missing);
        }
    }
    if let Some(items) = node.get("items") {
        walk_properties(items, &format!("{path}[]"), missing);
    }
}

#[test]
fn every_field_has_a_description_for_kubectl_explain() {
    for crd in tiered::api::crds() {
        let schema = serde_json::to_value(&crd.spec.versions[0].schema).unwrap();
        let mut missing = Vec::new();
        walk_properties(&schema["openAPIV3Schema"], "", &mut missing);
        assert!(
            missing.is_empty(),
            "{}: fields without a doc comment: {missing:?}",
            crd.spec.names.kind
        );
    }
}

#[test]
fn every_kind_has_status_short_name_category_and_printer_columns() {
    let expected = [
        ("TieredApp", "ta", "URL"),
        ("ManagedDatabase", "mdb", "Endpoint"),
        ("CacheCluster", "cc", "Endpoint"),
    ];
    for (crd, (kind, short, column)) in tiered::api::crds().iter().zip(expected) {
        assert_eq!(crd.spec.names.kind, kind);
        assert_eq!(crd.spec.scope, "Namespaced");
        assert_eq!(
            crd.spec.names.short_names.as_deref(),
            Some(&[short.to_string()][..])
        );
        assert_eq!(
            crd.spec.names.categories.as_deref(),
            Some(&["tiered".to_string()][..])
        );
        let version = &crd.spec.versions[0];
        assert!(
            version
                .subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some(),
            "{kind} needs a status subresource"
        );
        let columns: Vec<_> = version
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(
            columns,
            ["Ready", "Reason", column, "Age", "Message"],
            "{kind} printer columns"
        );
        // `kubectl get -o wide` shows what to do, not only the reason, to the person on
        // call; plain `kubectl get` stays narrow.
        let message = version.additional_printer_columns.iter().flatten().last();
        let message = message.expect("printer columns");
        assert_eq!(
            message.json_path,
            ".status.conditions[?(@.type==\"Ready\")].message"
        );
        assert_eq!(
            message.priority,
            Some(1),
            "{kind}: Message only with -o wide"
        );
    }
}

#[test]
fn every_cel_rule_compiles() {
    for crd in tiered::api::crds() {
        let schema = serde_json::to_value(&crd.spec.versions[0].schema).unwrap();
        let compiled = kube_cel::compile_schema(&schema["openAPIV3Schema"]);
        let errors: Vec<String> = compiled
            .compilation_errors()
            .iter()
            .map(|e| format!("{e:?}"))
            .collect();
        assert!(
            errors.is_empty(),
            "{}: CEL rules that do not compile: {errors:#?}",
            crd.spec.names.kind
        );
    }
}

#[test]
fn the_example_manifests_deserialize_into_the_rust_types() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/examples/newsread.yaml"),
    )
    .unwrap();
    let mut kinds = Vec::new();
    for doc in serde_norway::Deserializer::from_str(&text) {
        let value: serde_json::Value = serde::Deserialize::deserialize(doc).unwrap();
        let kind = value["kind"].as_str().unwrap().to_string();
        match kind.as_str() {
            "TieredApp" => drop(serde_json::from_value::<tiered::api::TieredApp>(value).unwrap()),
            "ManagedDatabase" => {
                drop(serde_json::from_value::<tiered::api::ManagedDatabase>(value).unwrap());
            }
            "CacheCluster" => {
                drop(serde_json::from_value::<tiered::api::CacheCluster>(value).unwrap());
            }
            other => panic!("unexpected kind {other}"),
        }
        kinds.push(kind);
    }
    assert_eq!(kinds, ["ManagedDatabase", "CacheCluster", "TieredApp"]);
}

#[test]
fn a_cel_rule_that_does_not_compile_is_reported() {
    // Guards the test above: compile_schema must notice a broken rule.
    let schema = serde_json::json!({
        "type": "object",
        "properties": {"a": {"type": "integer"}},
        "x-kubernetes-validations": [{"rule": "self.a >>> 1"}]
    });
    assert!(kube_cel::compile_schema(&schema).has_errors());
}

#[test]
fn every_cel_rule_fits_the_api_server_cost_budget() {
    fn rules(node: &serde_json::Value, out: &mut Vec<(String, serde_json::Value)>) {
        if let Some(list) = node
            .get("x-kubernetes-validations")
            .and_then(|v| v.as_array())
        {
            for rule in list {
                out.push((rule["rule"].as_str().unwrap().to_string(), node.clone()));
            }
        }
        for key in ["properties", "additionalProperties", "items"] {
            match node.get(key) {
                Some(serde_json::Value::Object(map)) if key == "properties" => {
                    map.values().for_each(|c| rules(c, out));
                }
                Some(child @ serde_json::Value::Object(_)) => rules(child, out),
                _ => {}
            }
        }
    }
    for crd in tiered::api::crds() {
        let schema = serde_json::to_value(&crd.spec.versions[0].schema).unwrap();
        let mut found = Vec::new();
        rules(&schema["openAPIV3Schema"], &mut found);
        assert!(!found.is_empty());
        for (rule, node) in found {
            let compiled = kube_cel::compile_schema(&node);
            let warnings = kube_cel::estimate_rule_cost(&rule, &compiled);
            assert!(
                warnings.is_empty(),
                "{}: rule `{rule}` is too costly: {warnings:?}",
                crd.spec.names.kind
            );
        }
    }
}
