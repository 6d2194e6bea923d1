//! The estimate pinned to figures worked out by hand from the upstream model (cel-go
//! `checker/cost.go`, `SchemaDeclType`, apiextensions' cardinality), each spelled out
//! beside its test.

use serde_json::{Value, json};

use super::decl::DeclType;
use super::{RuleCost, crd_errors, expression_cost, over_budget, rule_costs};

/// The estimated cost of `rule` with `self` at `node` (not a resource root).
fn raw(node: &Value, rule: &str) -> u64 {
    let decl = DeclType::of(node, false).expect("a CEL-visible node");
    expression_cost(&decl, Some(&json!(rule)))
}

fn strings(list: Value, item: Value) -> Value {
    let mut list = list;
    list["type"] = json!("array");
    list["items"] = item;
    list
}

// Upstream: an unbounded string is 3 MiB - 2 = 3,145,726 runes; an unbounded list of them
// holds (3 MiB - 2) / (2 + 1) = 1,048,575. Per item: loop condition
// `@not_strictly_false(@result)` 2, step `@result && x.matches(r)` 1 + 1 (x) +
// ceil(3,145,727 × 0.1) × ceil(8 × 0.25) = 2 + 314,573 × 2 = 629,148; so
// 1 (self) + 1 (result) + 1,048,575 × 629,150.
#[test]
fn matches_over_an_unbounded_list_of_unbounded_strings_is_far_over_budget() {
    let node = strings(json!({}), json!({"type": "string"}));
    let cost = raw(&node, "self.all(x, x.matches('^[a-z]+$'))");
    assert_eq!(cost, 2 + 1_048_575 * 629_150);
    assert!(cost > super::RULE_COST_LIMIT);
}

// maxItems 10, maxLength 64 (256 bytes: upstream counts 4 per rune):
// 2 + 10 × (2 + 1 + 1 + ceil(257 × 0.1) × 2) = 2 + 10 × 56.
#[test]
fn the_same_rule_with_max_items_and_max_length_is_cheap() {
    let node = strings(
        json!({"maxItems": 10}),
        json!({"type": "string", "maxLength": 64}),
    );
    assert_eq!(raw(&node, "self.all(x, x.matches('^[a-z]+$'))"), 562);
}

// Map keys are the shared StringType (MaxElements 0): ceil(1 × 0.1) × 2 = 2 per key, over
// (3 MiB - 2) / (2 + 6) = 393,215 keys: 2 + 393,215 × (2 + 1 + 1 + 2). Its values are
// unbounded strings: `self[k]` costs 3 and ceil(3,145,727 × 0.1) × 2 = 629,146.
#[test]
fn matches_on_a_map_key_is_cheap_and_on_its_value_is_not() {
    let node = json!({"type": "object", "additionalProperties": {"type": "string"}});
    assert_eq!(
        raw(&node, "self.all(k, k.matches('^[a-z]+$'))"),
        2 + 393_215 * 6
    );
    assert_eq!(
        raw(&node, "self.all(k, self[k].matches('^[a-z]+$'))"),
        2 + 393_215 * (2 + 1 + 3 + 629_146)
    );
}

// Inner: 2 (self.b) + 1 + 50 × (2 + 1 + (ceil(40 × 0.1) + 1 + 1)) = 453; outer:
// 2 (self.a) + 1 + 100 × (2 + 1 + 453) = 45,603: the cost of nested loops is a product.
#[test]
fn nested_all_over_two_lists_costs_the_product_of_their_sizes() {
    let item = json!({"type": "string", "maxLength": 10});
    let node = |b_items: u64| {
        json!({"type": "object", "properties": {
            "a": strings(json!({"maxItems": 100}), item.clone()),
            "b": strings(json!({"maxItems": b_items}), item.clone()),
        }})
    };
    let rule = "self.a.all(x, self.b.all(y, x == y))";
    assert_eq!(raw(&node(50), rule), 45_603);
    assert_eq!(raw(&node(100), rule), 3 + 100 * (2 + 1 + (3 + 100 * 9)));
}

fn tiers_schema(max_items: Option<u64>) -> Value {
    let mut tiers = json!({"type": "array", "items": {
        "type": "object", "required": ["name"],
        "properties": {"name": {"type": "string", "maxLength": 63}},
        "x-kubernetes-validations": [{"rule": "self.name.matches('^[a-z]+$')"}]
    }});
    if let Some(max) = max_items {
        tiers["maxItems"] = json!(max);
    }
    json!({"type": "object", "properties": {
        "spec": {"type": "object", "properties": {"tiers": tiers}}
    }})
}

// The rule costs 2 (self.name) + ceil(253 × 0.1) × 2 = 54 per tier. Under maxItems 20 it
// runs at most 20 times; without a bound upstream falls back to how many items of at
// least 2 + len("name") + 2 + 4 = 12 bytes fit in 3 MiB: 3,145,728 / 13 = 241,979.
#[test]
fn a_rule_under_a_list_item_is_multiplied_by_the_lists_cardinality() {
    let path = "r.properties[spec].properties[tiers].items.x-kubernetes-validations[0].rule";
    let cost = |max| rule_costs(&tiers_schema(max), "r");
    assert_eq!(
        cost(Some(20)),
        vec![RuleCost {
            path: path.to_owned(),
            raw: 54,
            cardinality: 20,
            cost: 1_080,
            message_expression: false
        }]
    );
    let unbounded = cost(None);
    assert_eq!(
        (unbounded[0].cardinality, unbounded[0].cost),
        (241_979, 54 * 241_979)
    );
}

// Upstream's `WithTypeAndObjectMeta`: a CRD root whose metadata is a bare object exposes
// `metadata.name` as an unbounded string: 3 + ceil(3,145,727 × 0.1) × ceil(28 × 0.25).
#[test]
fn metadata_name_at_the_root_is_an_unbounded_string() {
    let schema = json!({"type": "object", "properties": {"metadata": {"type": "object"}},
        "x-kubernetes-validations": [{"rule": "self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')"}]});
    let costs = rule_costs(&schema, "s");
    assert_eq!((costs[0].raw, costs[0].cost), (2_202_014, 2_202_014));
}

// `has()` adds nothing to its operand (PresenceTestHasCost(false)); `&&` adds nothing to its
// operands; `in` over a literal list costs its length; strings compare by the shorter.
#[test]
fn operators_cost_as_upstream_estimates_them() {
    let node = json!({"type": "object", "properties": {
        "a": {"type": "string", "maxLength": 100},
        "b": {"type": "string", "enum": ["gp3", "io1"]},
        "n": {"type": "integer"}
    }});
    assert_eq!(raw(&node, "has(self.a)"), 1);
    assert_eq!(raw(&node, "has(self.a) && self.n > 1"), 1 + (1 + 2));
    assert_eq!(raw(&node, "self.b in ['gp3', 'io1', 'io2']"), 3 + 2 + 10);
    assert_eq!(raw(&node, "self.a == self.b"), 1 + 2 + 2);
    assert_eq!(raw(&node, "self.a + 'x' == 'y'"), (41 + 2) + 1);
}

#[test]
fn the_factor_is_printed_as_upstream_prints_it() {
    assert!(over_budget("estimated rule cost", 12_582_880, 10_000_000).starts_with(
        "estimated rule cost exceeds budget by factor of 1.258288x (try simplifying the rule, or adding maxItems"
    ));
    assert!(over_budget("x", 25_000_000, 10_000_000).contains("factor of 2.5x"));
    assert!(over_budget("x", 1_000_000_001, 10_000_000).contains("factor of more than 100x"));
}

fn crd(versions: &[Value]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .enumerate()
        .map(|(i, s)| json!({"name": format!("v{i}"), "schema": {"openAPIV3Schema": s}}))
        .collect();
    json!({"spec": {"versions": versions}})
}

// One schema for every version is validated once, as the internal type's
// `spec.validation`; an over-budget total names the costliest rules and the schema.
#[test]
fn an_over_budget_crd_is_refused_with_upstreams_paths() {
    let over = tiers_schema(None);
    let errors: Vec<String> = crd_errors(&crd(&[over.clone(), over.clone()]), None)
        .iter()
        .map(ToString::to_string)
        .collect();
    let rule = "spec.validation.openAPIV3Schema.properties[spec].properties[tiers].items.x-kubernetes-validations[0].rule";
    assert_eq!(
        errors,
        vec![format!(
            "{rule}: Forbidden: estimated rule cost exceeds budget by factor of 1.306687x (try \
             simplifying the rule, or adding maxItems, maxProperties, and maxLength where \
             arrays, maps, and strings are declared)"
        )]
    );
    let errors = crd_errors(&crd(&[tiers_schema(Some(20)), over.clone()]), None);
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0]
            .path
            .starts_with("spec.versions[1].schema.openAPIV3Schema.properties[spec]")
    );
    assert!(crd_errors(&crd(&[tiers_schema(Some(20))]), None).is_empty());

    let many = json!({"type": "object", "properties": {"metadata": {"type": "object"}},
        "x-kubernetes-validations": (0..50).map(|_| json!({"rule": "self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')"})).collect::<Vec<_>>()});
    let errors = crd_errors(&crd(&[many]), None);
    assert_eq!(errors.len(), 5, "{errors:?}");
    assert!(
        errors[0]
            .detail
            .starts_with("contributed to estimated rule & messageExpression")
    );
    assert_eq!(errors[4].path, "spec.validation.openAPIV3Schema");
    assert!(
        errors[4].detail.contains(
            "cost total for entire OpenAPIv3 schema exceeds budget by factor of 1.101007x"
        )
    );
}

// Upstream `suppressExpressionCostForUnchangedSchema`: an update that leaves a version's
// schema as it was is not refused for that schema's rules again; a changed one is.
#[test]
fn an_update_keeping_a_schema_is_not_held_to_the_rule_limit_again() {
    let over = crd(&[tiers_schema(None)]);
    assert!(crd_errors(&over, Some(&over)).is_empty());
    assert_eq!(
        crd_errors(&over, Some(&crd(&[tiers_schema(Some(20))]))).len(),
        1
    );
}
