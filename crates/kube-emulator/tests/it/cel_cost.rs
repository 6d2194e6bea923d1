//! CRDs whose CEL rules are estimated too expensive, or do not compile, are refused at
//! write time, as kube-apiserver refuses them (`StaticEstimatedCostLimit` per rule,
//! cardinality included; "compilation failed"): `422 Invalid` naming the rule's path. Our own CRDs (`crds/*.yaml`) stay within budget;
//! their costliest rules are printed (`--nocapture`) to watch the margin.

use std::path::Path;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::PostParams;
use kube_emulator::schema::cel_cost::{RULE_COST_LIMIT, SCHEMA_COST_LIMIT, rule_costs};
use serde_json::{Value, json};

use crate::support::{causes, invalid, object, start};

/// A CRD whose `spec.tags` (a list of strings) carries a `matches` rule over every item.
fn tags_crd(tags: &Value) -> CustomResourceDefinition {
    object(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {
                        "tags": tags,
                    }}
                }}}}]}
    }))
}

/// The CRD with `spec.tags` bounded: at most 64 items of at most 63 characters.
fn bounded_tags_crd() -> CustomResourceDefinition {
    tags_crd(&tags(
        &json!({"maxItems": 64}),
        &json!({"type": "string", "maxLength": 63}),
    ))
}

fn tags(bounds: &Value, item: &Value) -> Value {
    let mut tags = json!({"type": "array", "items": item, "x-kubernetes-validations": [
        {"rule": "self.all(t, t.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'))"}
    ]});
    json_patch::merge(&mut tags, bounds);
    tags
}

// Upstream: apiextensions-apiserver `validation.go` adds `Forbidden: estimated rule cost
// exceeds budget by factor of …` at `<schema path>.x-kubernetes-validations[i].rule`.
#[tokio::test]
async fn a_crd_with_a_rule_over_the_cost_budget_is_refused() {
    let emu = start().await;
    let crds = Api::<CustomResourceDefinition>::all(emu.client());
    let unbounded = tags_crd(&tags(&json!({}), &json!({"type": "string"})));
    let status = invalid(crds.create(&PostParams::default(), &unbounded).await);
    let rule = "spec.validation.openAPIV3Schema.properties[spec].properties[tags].x-kubernetes-validations[0].rule";
    assert!(
        status.message.starts_with(&format!(
            "CustomResourceDefinition.apiextensions.k8s.io \"widgets.example.com\" is invalid: \
             [{rule}: Forbidden: estimated rule cost exceeds budget by factor of more than 100x"
        )),
        "{}",
        status.message
    );
    let causes = causes(&status);
    assert_eq!(causes[0].0, rule);
    assert_eq!(causes[0].1, "FieldValueForbidden");
    assert!(causes.iter().any(|c| {
        c.0 == "spec.validation.openAPIV3Schema"
            && c.2
                .contains("cost total for entire OpenAPIv3 schema exceeds budget")
    }));
    assert!(
        crds.get_opt("widgets.example.com").await.unwrap().is_none(),
        "a refused CRD is not stored"
    );
}

#[tokio::test]
async fn the_same_rule_with_max_items_and_max_length_is_accepted() {
    let emu = start().await;
    let crds = Api::<CustomResourceDefinition>::all(emu.client());
    let bounded = bounded_tags_crd();
    crds.create(&PostParams::default(), &bounded).await.unwrap();
}

// An update that makes a stored CRD's rule too expensive is refused the same way.
#[tokio::test]
async fn an_update_that_drops_the_bound_is_refused() {
    let emu = start().await;
    let crds = Api::<CustomResourceDefinition>::all(emu.client());
    let bounded = bounded_tags_crd();
    let mut stored = crds.create(&PostParams::default(), &bounded).await.unwrap();
    let mut unbounded = tags_crd(&tags(&json!({}), &json!({"type": "string"})));
    unbounded.metadata.resource_version = stored.metadata.resource_version.take();
    let status = invalid(
        crds.replace("widgets.example.com", &PostParams::default(), &unbounded)
            .await,
    );
    assert!(
        status
            .message
            .contains("estimated rule cost exceeds budget"),
        "{}",
        status.message
    );
}

// Upstream: apiextensions-apiserver `validation.go` refuses a rule that does not compile
// (`Invalid value: …: compilation failed: …`) and an empty one (`Required value: rule is
// not specified`) at `<schema path>.x-kubernetes-validations[i].rule`, on create and on
// update. The emulator used to store such a CRD and fail every object of it instead.
#[tokio::test]
async fn a_crd_whose_rule_does_not_compile_is_refused_naming_the_rule() {
    let emu = start().await;
    let crds = Api::<CustomResourceDefinition>::all(emu.client());
    let prefix = "spec.validation.openAPIV3Schema.properties[spec].properties[tags].x-kubernetes-validations";
    for (rules, field, reason, words) in [
        (
            json!([{"rule": "self.size() <="}]),
            "[0].rule",
            "FieldValueInvalid",
            "Invalid value: \"self.size() <=\": compilation failed: ",
        ),
        (
            json!([{"rule": "self.size() <= 3"}, {"rule": " "}]),
            "[1].rule",
            "FieldValueRequired",
            "Required value: rule is not specified",
        ),
        (
            json!([{"rule": "true", "messageExpression": "'too many: ' +"}]),
            "[0].messageExpression",
            "FieldValueInvalid",
            "compilation failed: ",
        ),
    ] {
        let crd = tags_crd(&json!({"type": "array", "maxItems": 8,
            "items": {"type": "string", "maxLength": 8}, "x-kubernetes-validations": rules}));
        let status = invalid(crds.create(&PostParams::default(), &crd).await);
        let causes = causes(&status);
        assert_eq!(causes.len(), 1, "{causes:?}");
        let (path, got_reason, message) = &causes[0];
        assert_eq!(path, &format!("{prefix}{field}"));
        assert_eq!(got_reason, reason);
        assert!(message.contains(words), "{message}");
        assert!(
            crds.get_opt("widgets.example.com").await.unwrap().is_none(),
            "a refused CRD is not stored"
        );
    }

    // An update that breaks a stored CRD's rule is refused the same way.
    let mut stored = crds
        .create(&PostParams::default(), &bounded_tags_crd())
        .await
        .unwrap();
    let mut broken = tags_crd(&json!({"type": "array", "maxItems": 8,
        "items": {"type": "string", "maxLength": 8},
        "x-kubernetes-validations": [{"rule": "self.all(t, "}]}));
    broken.metadata.resource_version = stored.metadata.resource_version.take();
    let status = invalid(
        crds.replace("widgets.example.com", &PostParams::default(), &broken)
            .await,
    );
    assert!(
        status.message.contains("compilation failed"),
        "{}",
        status.message
    );
}

/// Every CRD in the repository's `crds/`, as JSON.
fn our_crds() -> Vec<(String, Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crds");
    let mut crds: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let crd: Value = serde_norway::from_str(&text).unwrap();
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                crd,
            )
        })
        .collect();
    crds.sort_by(|a, b| a.0.cmp(&b.0));
    crds
}

// Our CRDs within budget, with their costliest rule printed: a rule we add that would make
// `helm install` fail on EKS fails here first.
#[test]
fn our_crds_rules_are_within_the_cost_budget() {
    let crds = our_crds();
    assert_eq!(crds.len(), 3, "crds/ holds the three CRDs");
    for (file, crd) in crds {
        for version in crd["spec"]["versions"].as_array().unwrap() {
            let schema = &version["schema"]["openAPIV3Schema"];
            let costs = rule_costs(schema, "spec.validation.openAPIV3Schema");
            assert!(!costs.is_empty(), "{file} has CEL rules");
            let costliest = costs.iter().max_by_key(|c| c.cost).unwrap();
            let total: u64 = costs.iter().map(|c| c.cost).sum();
            println!(
                "{file} {}: {} rules, costliest {} (raw {} x cardinality {}) at {}, total {}",
                version["name"].as_str().unwrap(),
                costs.len(),
                costliest.cost,
                costliest.raw,
                costliest.cardinality,
                costliest.path,
                total
            );
            assert!(costliest.cost <= RULE_COST_LIMIT, "{costliest:?}");
            assert!(total <= SCHEMA_COST_LIMIT, "{file}: total {total}");
        }
    }
}
