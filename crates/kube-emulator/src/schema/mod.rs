//! Validation of custom resources against their CRD's structural `OpenAPI` schema and CEL
//! rules, with pruning of unknown fields, as the real API server does before it stores them.
//!
//! The pipeline follows apiextensions-apiserver: decode → prune unknown fields → drop
//! non-nullable nulls and apply `default`s → `OpenAPI` value validation (with validation
//! ratcheting on update) → embedded-resource checks → `x-kubernetes-list-type` invariants →
//! CEL rules (`x-kubernetes-validations`), skipped when a blocking schema error exists.
//! Pure functions over `serde_json::Value`: no IO, no global state.

mod cel;
pub mod cel_cost;
mod errors;
mod formats;
mod invariants;
mod prune;
mod structural;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use regex::Regex;
use serde_json::{Map, Value};

pub use errors::{FieldError, FieldErrorKind};

/// A CRD version's `openAPIV3Schema`, compiled once (CEL programs, `pattern` regexes) so
/// the server can hold it per CRD version and validate many requests against it.
#[derive(Debug)]
pub struct CompiledCrdSchema {
    schema: Value,
    patterns: HashMap<String, Regex>,
    cel: Option<cel::CelNode>,
    compile_errors: Vec<String>,
}

/// What the server stores after a successful validation.
#[derive(Debug, Clone, PartialEq)]
pub struct Admitted {
    /// The pruned and defaulted object.
    pub object: Value,
    /// Paths of the fields pruning removed (e.g. `spec.tiers[0].colour`), for the
    /// `unknown field "…"` warnings (or `fieldValidation=Strict` errors) the server reports.
    pub unknown_fields: Vec<String>,
}

impl CompiledCrdSchema {
    /// Compiles `schema` (a CRD version's `openAPIV3Schema`). Never fails: rules or
    /// patterns that do not compile are listed by [`Self::compile_errors`] (the real server
    /// would refuse such a CRD) and a rule that does not compile fails every object.
    pub fn new(schema: &Value) -> Self {
        let mut patterns = HashMap::new();
        let mut compile_errors = Vec::new();
        collect_patterns(schema, &mut patterns, &mut compile_errors);
        let cel = cel::CelNode::compile(schema);
        if let Some(node) = &cel {
            node.collect_compile_errors("", &mut compile_errors);
        }
        Self {
            schema: schema.clone(),
            patterns,
            cel,
            compile_errors,
        }
    }

    /// Fills in the schema's `default`s, as decoding a write does before the update
    /// strategy compares it with the stored object (so a write that leaves out defaulted
    /// fields does not move `metadata.generation`).
    pub fn apply_defaults(&self, object: &mut Value) {
        prune::apply_defaults(object, &self.schema);
    }

    /// CEL rules and `pattern`s of the schema that do not compile.
    pub fn compile_errors(&self) -> &[String] {
        &self.compile_errors
    }

    /// Prunes, defaults and validates `object` (a whole custom resource) for a create
    /// (`old` is `None`) or an update (`old` is the stored object). Returns the object to
    /// store, or every field error, in a stable order.
    pub fn admit(
        &self,
        mut object: Value,
        old: Option<&Value>,
    ) -> Result<Admitted, Vec<FieldError>> {
        let mut unknown_fields = Vec::new();
        prune::prune(&mut object, &self.schema, &mut unknown_fields);
        prune::apply_defaults(&mut object, &self.schema);
        // The stored object is decoded through the same prune/default pipeline on read.
        let old = old.map(|stored| {
            let mut stored = stored.clone();
            prune::prune(&mut stored, &self.schema, &mut Vec::new());
            prune::apply_defaults(&mut stored, &self.schema);
            stored
        });
        let old = old.as_ref();

        let mut errors = structural::validate(&self.schema, &object, old, &self.patterns);
        errors.extend(invariants::embedded_resources(&self.schema, &object));
        // Ratcheting of list invariants: an old object that already broke them is not
        // held to them again (apiextensions-apiserver strategy.ValidateUpdate).
        if old.is_none_or(|stored| invariants::list_sets_and_maps(&self.schema, stored).is_empty())
        {
            errors.extend(invariants::list_sets_and_maps(&self.schema, &object));
        }
        if let Some(node) = &self.cel {
            if errors.iter().any(FieldError::blocks_cel) {
                errors.push(FieldError::cel_not_checked());
            } else {
                node.validate(&object, old, "", &mut errors);
            }
        }
        if errors.is_empty() {
            Ok(Admitted {
                object,
                unknown_fields,
            })
        } else {
            Err(errors)
        }
    }
}

/// Validates `object` (a whole custom resource) against a CRD version's `openAPIV3Schema`
/// and its CEL rules (`old` is the stored object on update, for transition rules), applies
/// schema defaults, and prunes fields the structural schema does not know. Returns the
/// object to store, or every field error found.
///
/// Compiles the schema on every call; a server should hold a [`CompiledCrdSchema`] per
/// CRD version and call [`CompiledCrdSchema::admit`] instead.
pub fn validate_and_prune(
    schema: &Value,
    object: Value,
    old: Option<&Value>,
) -> Result<Value, Vec<FieldError>> {
    CompiledCrdSchema::new(schema)
        .admit(object, old)
        .map(|admitted| admitted.object)
}

/// Compiles every `pattern` in the schema tree once.
fn collect_patterns(schema: &Value, out: &mut HashMap<String, Regex>, errors: &mut Vec<String>) {
    let Some(node) = schema.as_object() else {
        return;
    };
    if let Some(pattern) = node.get("pattern").and_then(Value::as_str)
        && !out.contains_key(pattern)
    {
        match Regex::new(pattern) {
            Ok(re) => {
                out.insert(pattern.to_owned(), re);
            }
            Err(err) => errors.push(format!("pattern {pattern:?} does not compile: {err}")),
        }
    }
    for child in schema_children(schema) {
        collect_patterns(child, out, errors);
    }
}

/// Every sub-schema of a schema node (properties, items, additionalProperties, and the
/// value-validation branches).
fn schema_children(schema: &Value) -> impl Iterator<Item = &Value> {
    let properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|props| props.values());
    let single = ["items", "additionalProperties", "not"]
        .into_iter()
        .filter_map(|key| schema.get(key).filter(|s| s.is_object()));
    let branches = ["allOf", "anyOf", "oneOf"]
        .into_iter()
        .filter_map(|key| schema.get(key).and_then(Value::as_array))
        .flatten();
    properties.chain(single).chain(branches)
}

/// `true` when `schema[key]` is the boolean `true`.
fn flag(schema: &Value, key: &str) -> bool {
    schema.get(key).and_then(Value::as_bool) == Some(true)
}

/// The keys of `x-kubernetes-list-map-keys` when the list type is `map`.
fn list_map_keys(schema: &Value) -> Option<Vec<&str>> {
    if schema.get("x-kubernetes-list-type").and_then(Value::as_str) != Some("map") {
        return None;
    }
    let keys = schema
        .get("x-kubernetes-list-map-keys")
        .and_then(Value::as_array)
        .map(|keys| keys.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    Some(keys)
}

/// The item of `old_list` with the same list-map key values as `item`: how the real
/// server correlates map-list items for ratcheting and transition rules.
fn correlate_map_item<'a>(
    keys: &[&str],
    item: &Value,
    old_list: Option<&'a Value>,
) -> Option<&'a Value> {
    let old_items = old_list?.as_array()?;
    let item = item.as_object()?;
    old_items.iter().find(|candidate| {
        candidate
            .as_object()
            .is_some_and(|candidate| keys.iter().all(|key| candidate.get(*key) == item.get(*key)))
    })
}

/// Sorted property names of a schema node: the stable order in which errors are reported.
fn sorted_properties(schema: &Value) -> Vec<(&String, &Value)> {
    let mut props: Vec<_> = schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|props| props.iter().collect())
        .unwrap_or_default();
    props.sort_by(|a, b| a.0.cmp(b.0));
    props
}

/// The `additionalProperties` schema of an object node and the keys of `map` it covers
/// (those `properties` does not name), sorted.
fn additional_entries<'s, 'm>(
    schema: &'s Value,
    map: &'m Map<String, Value>,
) -> Option<(&'s Value, Vec<&'m String>)> {
    let additional = schema
        .get("additionalProperties")
        .filter(|a| a.is_object())?;
    let properties = schema.get("properties").and_then(Value::as_object);
    let mut keys: Vec<&String> = map
        .keys()
        .filter(|k| properties.is_none_or(|p| !p.contains_key(*k)))
        .collect();
    keys.sort();
    Some((additional, keys))
}

/// `path.name`, or `name` at the root.
fn child_path(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}
