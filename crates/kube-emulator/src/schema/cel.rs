//! CEL rules (`x-kubernetes-validations`) evaluated with kube-cel, walked the way the
//! apiextensions-apiserver CEL validator walks them: `oldSelf` is the *correlated* old
//! value (object properties by name, map values by key, `list-type: map` items by key;
//! never atomic or set list items), transition rules run only when it exists, `null`
//! values are not validated, and rules without `oldSelf` ratchet on unchanged values.

use kube_cel::{CompiledSchema, ErrorKind, ValidationError, compile_schema};
use serde_json::Value;

use super::errors::{FieldError, FieldErrorKind};
use super::{child_path, correlate_map_item, list_map_keys};

const RULES: &str = "x-kubernetes-validations";

/// The schema tree reduced to the nodes that carry rules or lead to one.
#[derive(Debug)]
pub(super) struct CelNode {
    /// The node's `type`, which the real server reports as the bad value of a failed rule.
    type_name: String,
    /// Rules without `oldSelf`, compiled against the node's schema.
    plain: Option<CompiledSchema>,
    /// Rules with `oldSelf`.
    transition: Option<CompiledSchema>,
    /// Whether a transition rule has `optionalOldSelf: true` (runs on create too).
    optional_old_self: bool,
    properties: Vec<(String, CelNode)>,
    items: Option<Box<CelNode>>,
    additional: Option<Box<CelNode>>,
    /// `x-kubernetes-list-map-keys` when the node is a `list-type: map` list.
    map_keys: Option<Vec<String>>,
}

impl CelNode {
    /// Compiles the rules of `schema` and of its descendants; `None` when there are none.
    pub(super) fn compile(schema: &Value) -> Option<Self> {
        let mut properties: Vec<(String, Self)> = schema
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(name, prop)| Some((name.clone(), Self::compile(prop)?)))
            .collect();
        properties.sort_by(|a, b| a.0.cmp(&b.0));
        let items = schema.get("items").and_then(Self::compile).map(Box::new);
        let additional = schema
            .get("additionalProperties")
            .filter(|a| a.is_object())
            .and_then(Self::compile)
            .map(Box::new);
        let rules = schema
            .get(RULES)
            .and_then(Value::as_array)
            .filter(|r| !r.is_empty());
        if rules.is_none() && properties.is_empty() && items.is_none() && additional.is_none() {
            return None;
        }
        let (mut plain_rules, mut transition_rules) = (Vec::new(), Vec::new());
        if let Some(rules) = rules {
            // Compile once to learn which rules reference `oldSelf`.
            let probe = compile_schema(&serde_json::json!({ RULES: rules }));
            for (rule, compiled) in rules.iter().zip(&probe.validations) {
                match compiled {
                    Ok(result) if result.is_transition_rule => transition_rules.push(rule.clone()),
                    _ => plain_rules.push(rule.clone()),
                }
            }
        }
        let optional_old_self = transition_rules
            .iter()
            .any(|rule| rule.get("optionalOldSelf").and_then(Value::as_bool) == Some(true));
        Some(Self {
            type_name: schema
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            plain: compile_node(schema, plain_rules),
            transition: compile_node(schema, transition_rules),
            optional_old_self,
            properties,
            items,
            additional,
            map_keys: list_map_keys(schema)
                .map(|keys| keys.into_iter().map(str::to_owned).collect()),
        })
    }

    /// Lists rules that do not compile, with the path of their schema node.
    pub(super) fn collect_compile_errors(&self, path: &str, out: &mut Vec<String>) {
        for compiled in [&self.plain, &self.transition].into_iter().flatten() {
            for error in compiled.compilation_errors() {
                out.push(format!(
                    "{}: {error}",
                    if path.is_empty() { "<root>" } else { path }
                ));
            }
        }
        for (name, child) in &self.properties {
            child.collect_compile_errors(&child_path(path, name), out);
        }
        if let Some(items) = &self.items {
            items.collect_compile_errors(&format!("{path}[*]"), out);
        }
        if let Some(additional) = &self.additional {
            additional.collect_compile_errors(&format!("{path}[*]"), out);
        }
    }

    /// Evaluates the rules on `value` (at `path`) and below; `old` is the correlated old value.
    pub(super) fn validate(
        &self,
        value: &Value,
        old: Option<&Value>,
        path: &str,
        errors: &mut Vec<FieldError>,
    ) {
        if value.is_null() {
            return;
        }
        let old = old.filter(|o| !o.is_null());
        if let Some(transition) = &self.transition
            && (old.is_some() || self.optional_old_self)
        {
            self.evaluate(transition, value, old, path, errors);
        }
        if let Some(plain) = &self.plain
            && old != Some(value)
        {
            self.evaluate(plain, value, None, path, errors);
        }
        match value {
            Value::Object(map) => {
                for (name, child) in &self.properties {
                    if let Some(child_value) = map.get(name) {
                        child.validate(
                            child_value,
                            old.and_then(|o| o.get(name)),
                            &child_path(path, name),
                            errors,
                        );
                    }
                }
                if let Some(additional) = &self.additional {
                    let mut keys: Vec<&String> = map
                        .keys()
                        .filter(|k| self.properties.iter().all(|(name, _)| name != *k))
                        .collect();
                    keys.sort();
                    for key in keys {
                        additional.validate(
                            &map[key],
                            old.and_then(|o| o.get(key)),
                            &format!("{path}[{key}]"),
                            errors,
                        );
                    }
                }
            }
            Value::Array(items) => {
                if let Some(item_node) = &self.items {
                    let keys: Option<Vec<&str>> = self
                        .map_keys
                        .as_ref()
                        .map(|k| k.iter().map(String::as_str).collect());
                    for (i, item) in items.iter().enumerate() {
                        let old_item = keys
                            .as_deref()
                            .and_then(|keys| correlate_map_item(keys, item, old));
                        item_node.validate(item, old_item, &format!("{path}[{i}]"), errors);
                    }
                }
            }
            _ => {}
        }
    }

    fn evaluate(
        &self,
        compiled: &CompiledSchema,
        value: &Value,
        old: Option<&Value>,
        path: &str,
        errors: &mut Vec<FieldError>,
    ) {
        if let Err(failures) = kube_cel::validate_compiled(compiled, value, old) {
            errors.extend(
                failures
                    .iter()
                    .map(|failure| self.field_error(failure, path)),
            );
        }
    }

    /// Maps a kube-cel failure to the server's error (`fieldErrorForReason`): the bad
    /// value is the node's type name, the path is the node's plus the rule's `fieldPath`.
    fn field_error(&self, failure: &ValidationError, path: &str) -> FieldError {
        let rule_path = failure
            .field_path
            .trim_start_matches('.')
            .replace("['", "[")
            .replace("']", "]");
        let full_path = match (path.is_empty(), rule_path.is_empty()) {
            (_, true) => path.to_owned(),
            (true, false) => rule_path,
            (false, false) if rule_path.starts_with('[') => format!("{path}{rule_path}"),
            (false, false) => format!("{path}.{rule_path}"),
        };
        let type_value = Some(Value::from(self.type_name.clone()));
        let reason = if failure.kind == ErrorKind::ValidationFailure {
            failure.reason.as_deref()
        } else {
            None
        };
        match reason {
            Some("FieldValueForbidden") => FieldError::new(
                FieldErrorKind::Forbidden,
                &full_path,
                None,
                failure.message.clone(),
            ),
            Some("FieldValueRequired") => FieldError::new(
                FieldErrorKind::Required,
                &full_path,
                None,
                failure.message.clone(),
            ),
            Some("FieldValueDuplicate") => {
                FieldError::new(FieldErrorKind::Duplicate, &full_path, type_value, "")
            }
            _ => FieldError::new(
                FieldErrorKind::Invalid,
                &full_path,
                type_value,
                failure.message.clone(),
            ),
        }
    }
}

/// Compiles `rules` against the node's schema with every descendant's rules removed, so
/// that kube-cel converts values with the node's types and formats but evaluates only
/// this node's rules.
fn compile_node(schema: &Value, rules: Vec<Value>) -> Option<CompiledSchema> {
    if rules.is_empty() {
        return None;
    }
    let mut node = schema.clone();
    strip_rules(&mut node);
    if let Some(map) = node.as_object_mut() {
        map.insert(RULES.to_owned(), Value::Array(rules));
    }
    Some(compile_schema(&node))
}

fn strip_rules(schema: &mut Value) {
    if let Some(map) = schema.as_object_mut() {
        map.remove(RULES);
        map.remove("default");
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(child) = schema.get_mut(key) {
            strip_rules(child);
        }
    }
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        props.values_mut().for_each(strip_rules);
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(branches) = schema.get_mut(key).and_then(Value::as_array_mut) {
            branches.iter_mut().for_each(strip_rules);
        }
    }
}
