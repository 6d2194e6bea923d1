//! The write-time cost check of a CRD's CEL rules, as kube-apiserver refuses a CRD whose
//! `x-kubernetes-validations` are estimated too expensive: each rule's estimated cost times
//! the most times it can run (its schema node's cardinality) must stay within
//! `StaticEstimatedCostLimit` (10,000,000), and the sum over the schema within
//! `StaticEstimatedCRDCostLimit` (100,000,000), else `422 Invalid` with `Forbidden` causes.
//!
//! A port of the *estimate*, not of the runtime cost: cel-go `checker/cost.go` (the
//! expression walk, `coster`), Kubernetes' `library/cost.go` call costs and the
//! apiextensions `sizeEstimator` (sizes from the schema), `SchemaDeclType`
//! (k8s.io/apiserver/pkg/cel/common/schemas.go, `decl`) and the cardinality and budget
//! checks of apiextensions-apiserver `validation/validation.go` and `cel_validation.go`.
//!
//! The same walk refuses the rules that do not compile, as `validation.go` does before it
//! estimates them: an empty rule is `Required` ("rule is not specified"), a rule or
//! `messageExpression` the `cel` crate cannot parse is `Invalid` with "compilation failed:
//! …" (the parser's message, not cel-go's; type errors are not found, since the crate does
//! not type-check). Such a rule costs 0 in the estimate.

mod coster;
mod decl;
mod size;
#[cfg(test)]
mod tests;

use serde_json::Value;

use super::errors::{FieldError, FieldErrorKind};
use decl::{DeclType, MAX_REQUEST_SIZE_BYTES};

/// `StaticEstimatedCostLimit`: the most one rule may cost, cardinality included.
pub const RULE_COST_LIMIT: u64 = 10_000_000;
/// `StaticEstimatedCRDCostLimit`: the most all rules of one schema may cost together.
pub const SCHEMA_COST_LIMIT: u64 = 100_000_000;

/// What the estimate says about one rule (or `messageExpression`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleCost {
    /// The field path of the rule, e.g.
    /// `spec.validation.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule`.
    pub path: String,
    /// The rule's own estimated worst-case cost (`CompilationResult.MaxCost`).
    pub raw: u64,
    /// The most times it can run: the product of the enclosing lists' `maxItems` and maps'
    /// `maxProperties`, or, under an unbounded one, how many of its node fit in a request.
    pub cardinality: u64,
    /// `raw × cardinality` (a `messageExpression` is not multiplied), saturating.
    pub cost: u64,
    /// A `messageExpression` rather than a rule.
    pub message_expression: bool,
}

/// The estimated cost of every rule and `messageExpression` of a CRD version's
/// `openAPIV3Schema`, paths rooted at `root` (e.g. `spec.validation.openAPIV3Schema`).
pub fn rule_costs(schema: &Value, root: &str) -> Vec<RuleCost> {
    findings(schema, root).costs
}

/// What the walk of one schema finds.
#[derive(Debug, Default)]
struct Findings {
    /// Every rule's and `messageExpression`'s estimated cost.
    costs: Vec<RuleCost>,
    /// The rules that are empty or do not compile.
    uncompiled: Vec<FieldError>,
}

fn findings(schema: &Value, root: &str) -> Findings {
    let mut out = Findings::default();
    walk(schema, root, Some(1), true, &mut out);
    out
}

/// The errors the real server answers for a CRD (an object of the
/// `apiextensions.k8s.io/v1` kind) whose rules do not compile (`Required`, `Invalid`) or
/// are over budget (`Forbidden`); empty when there are none. On an
/// update (`old` is the stored CRD), a version whose schema did not change is not held to
/// the per-rule limit again (`suppressPerExpressionCost`); the schema total still is.
pub fn crd_errors(crd: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let versions = crd["spec"]["versions"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    let unchanged = |version: &Value| {
        old.and_then(|old| old["spec"]["versions"].as_array())
            .into_iter()
            .flatten()
            .any(|o| {
                o.get("name") == version.get("name") && o.get("schema") == version.get("schema")
            })
    };
    // The internal CRD type holds one top-level schema when every version's is the same.
    let first = versions.first().and_then(|v| v.get("schema"));
    let shared = versions.iter().all(|v| v.get("schema") == first);
    let mut errors = Vec::new();
    if let Some(schema) = first
        .and_then(|s| s.get("openAPIV3Schema"))
        .filter(|_| shared)
    {
        let suppress = versions.iter().all(unchanged);
        errors.extend(schema_errors(
            schema,
            "spec.validation.openAPIV3Schema",
            suppress,
        ));
    } else {
        for (i, version) in versions.iter().enumerate() {
            if let Some(schema) = version["schema"].get("openAPIV3Schema") {
                let root = format!("spec.versions[{i}].schema.openAPIV3Schema");
                errors.extend(schema_errors(schema, &root, unchanged(version)));
            }
        }
    }
    errors
}

/// The errors of one schema: each rule over [`RULE_COST_LIMIT`], then, when the total is
/// over [`SCHEMA_COST_LIMIT`], the (up to four) rules that contributed most and the total.
fn schema_errors(schema: &Value, root: &str, suppress_per_rule: bool) -> Vec<FieldError> {
    let Findings { costs, uncompiled } = findings(schema, root);
    let mut errors = uncompiled;
    errors.extend(
        costs
            .iter()
            .filter(|c| !suppress_per_rule && c.cost > RULE_COST_LIMIT)
            .map(|c| {
                let what = if c.message_expression {
                    "estimated messageExpression cost"
                } else {
                    "estimated rule cost"
                };
                forbidden(&c.path, over_budget(what, c.cost, RULE_COST_LIMIT))
            }),
    );
    let total = costs.iter().fold(0u64, |sum, c| sum.saturating_add(c.cost));
    if total > SCHEMA_COST_LIMIT {
        let mut expensive: Vec<&RuleCost> = costs
            .iter()
            .filter(|c| c.cost >= SCHEMA_COST_LIMIT / 100)
            .collect();
        expensive.sort_by_key(|c| std::cmp::Reverse(c.cost));
        errors.extend(expensive.iter().take(4).map(|c| {
            forbidden(
                &c.path,
                "contributed to estimated rule & messageExpression cost total exceeding cost \
                 limit for entire OpenAPIv3 schema"
                    .to_owned(),
            )
        }));
        errors.push(forbidden(
            root,
            over_budget(
                "x-kubernetes-validations estimated rule & messageExpression cost total for \
                 entire OpenAPIv3 schema",
                total,
                SCHEMA_COST_LIMIT,
            ),
        ));
    }
    errors
}

fn forbidden(path: &str, detail: String) -> FieldError {
    FieldError::new(FieldErrorKind::Forbidden, path, None, detail)
}

/// `getCostErrorMessage`.
// The factor is only printed; its float rounding is upstream's.
#[allow(clippy::cast_precision_loss)]
fn over_budget(what: &str, cost: u64, limit: u64) -> String {
    let factor = cost as f64 / limit as f64;
    let factor = if factor > 100.0 {
        "more than 100x".to_owned()
    } else if factor < 1.5 {
        format!("{factor:.6}x")
    } else {
        format!("{factor:.1}x")
    };
    format!(
        "{what} exceeds budget by factor of {factor} (try simplifying the rule, or adding \
         maxItems, maxProperties, and maxLength where arrays, maps, and strings are declared)"
    )
}

/// Estimates the rules of `schema` (at `path`, run at most `cardinality` times, `None`
/// under an unbounded list or map) and of its descendants: properties, items and
/// additionalProperties, as apiextensions-apiserver walks them.
fn walk(
    schema: &Value,
    path: &str,
    cardinality: Option<u64>,
    resource_root: bool,
    out: &mut Findings,
) {
    let factor = match schema.get("type").and_then(Value::as_str) {
        Some("object")
            if schema
                .get("additionalProperties")
                .is_some_and(Value::is_object) =>
        {
            schema.get("maxProperties").map(non_negative)
        }
        Some("array") => schema.get("maxItems").map(non_negative),
        _ => Some(1),
    };
    let child = cardinality.zip(factor).map(|(c, f)| c.saturating_mul(f));
    let mut properties: Vec<(&String, &Value)> = schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.iter().collect())
        .unwrap_or_default();
    properties.sort_by(|a, b| a.0.cmp(b.0));
    for (name, property) in properties {
        walk(
            property,
            &format!("{path}.properties[{name}]"),
            child,
            false,
            out,
        );
    }
    for key in ["items", "additionalProperties"] {
        if let Some(sub) = schema.get(key).filter(|s| s.is_object()) {
            walk(sub, &format!("{path}.{key}"), child, false, out);
        }
    }
    rules(schema, path, cardinality, resource_root, out);
}

/// Estimates the `x-kubernetes-validations` of one node.
fn rules(
    schema: &Value,
    path: &str,
    cardinality: Option<u64>,
    resource_root: bool,
    out: &mut Findings,
) {
    let Some(rules) = schema
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
    else {
        return;
    };
    for (i, rule) in rules.iter().enumerate() {
        uncompiled(
            rule,
            &format!("{path}.x-kubernetes-validations[{i}]"),
            &mut out.uncompiled,
        );
    }
    let embedded = schema
        .get("x-kubernetes-embedded-resource")
        .and_then(Value::as_bool);
    let Some(decl) = DeclType::of(schema, resource_root || embedded == Some(true)) else {
        return;
    };
    // `maxCardinality`: how many values of this node's minimal size fit in a request.
    let cardinality =
        cardinality.unwrap_or(MAX_REQUEST_SIZE_BYTES / decl.min_size.saturating_add(1));
    for (i, rule) in rules.iter().enumerate() {
        let rule_path = format!("{path}.x-kubernetes-validations[{i}]");
        let raw = expression_cost(&decl, rule.get("rule"));
        out.costs.push(RuleCost {
            path: format!("{rule_path}.rule"),
            raw,
            cardinality,
            cost: if raw == 0 {
                0
            } else {
                raw.saturating_mul(cardinality)
            },
            message_expression: false,
        });
        if let Some(message) = rule.get("messageExpression") {
            let raw = expression_cost(&decl, Some(message));
            out.costs.push(RuleCost {
                path: format!("{rule_path}.messageExpression"),
                raw,
                cardinality: 1,
                cost: raw,
                message_expression: true,
            });
        }
    }
}

/// The errors of one `x-kubernetes-validations` item at `path` (`…x-kubernetes-validations[i]`)
/// that keep it from compiling: an empty rule (`Required`), a rule or `messageExpression`
/// that does not parse (`Invalid`, the source as the bad value where upstream prints the
/// whole `ValidationRule` struct).
fn uncompiled(rule: &Value, path: &str, out: &mut Vec<FieldError>) {
    let source = |field| rule.get(field).and_then(Value::as_str);
    if source("rule").is_none_or(|r| r.trim().is_empty()) {
        out.push(FieldError::new(
            FieldErrorKind::Required,
            &format!("{path}.rule"),
            None,
            "rule is not specified",
        ));
    }
    for field in ["rule", "messageExpression"] {
        let Some(text) = source(field).filter(|s| !s.trim().is_empty()) else {
            continue;
        };
        if let Err(error) = cel::Program::compile(text) {
            out.push(FieldError::new(
                FieldErrorKind::Invalid,
                &format!("{path}.{field}"),
                Some(Value::String(text.to_owned())),
                format!("compilation failed: {error}"),
            ));
        }
    }
}

/// The estimated cost of a rule's source; 0 when it is empty or does not parse.
fn expression_cost(decl: &DeclType, source: Option<&Value>) -> u64 {
    let Some(source) = source
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
    else {
        return 0;
    };
    cel::Program::compile(source).map_or(0, |program| coster::estimate(decl, program.expression()))
}

fn non_negative(value: &Value) -> u64 {
    value.as_u64().unwrap_or(0)
}
