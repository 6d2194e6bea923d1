//! `OpenAPI` v3 value validation of a custom resource, worded like kube-openapi's validator
//! as apiextensions-apiserver maps its results to field errors, with CRD validation
//! ratcheting on update (an unchanged, correlatable value keeps its old errors to itself).

use std::collections::HashMap;

use regex::Regex;
use serde_json::Value;

use super::errors::{FieldError, FieldErrorKind, go_float, render_value};
use super::formats;
use super::{
    additional_entries, child_path, correlate_map_item, flag, list_map_keys, sorted_properties,
};

/// Validates `object` against `schema`; `old` is the stored object on update.
pub(super) fn validate(
    schema: &Value,
    object: &Value,
    old: Option<&Value>,
    patterns: &HashMap<String, Regex>,
) -> Vec<FieldError> {
    let mut walker = Walker {
        patterns,
        errors: Vec::new(),
    };
    walker.node(schema, object, old, "");
    walker.errors
}

struct Walker<'a> {
    patterns: &'a HashMap<String, Regex>,
    errors: Vec<FieldError>,
}

/// The JSON type name kube-openapi infers for a value, and its numeric format.
fn data_type(value: &Value) -> (&'static str, &'static str) {
    match value {
        Value::Null => ("null", ""),
        Value::Bool(_) => ("boolean", ""),
        Value::Number(n) if n.is_f64() => ("number", "double"),
        Value::Number(_) => ("integer", "int64"),
        Value::String(_) => ("string", ""),
        Value::Array(_) => ("array", ""),
        Value::Object(_) => ("object", ""),
    }
}

/// The schema's accepted types: `type`, or `integer,string` for `x-kubernetes-int-or-string`.
fn schema_types(schema: &Value) -> Vec<&str> {
    if flag(schema, "x-kubernetes-int-or-string") {
        return vec!["integer", "string"];
    }
    schema
        .get("type")
        .and_then(Value::as_str)
        .into_iter()
        .collect()
}

fn in_body(path: &str) -> String {
    let name = if path.is_empty() { "." } else { path };
    format!("{name} in body")
}

/// A numeric bound of a schema: its keyword, the keyword of its exclusive flag, the
/// words of its message, and whether a value lies past the bound and past or on it.
type Bound = (
    &'static str,
    &'static str,
    &'static str,
    fn(f64, f64) -> (bool, bool),
);

impl Walker<'_> {
    /// `min<What>`/`max<What>` (`Items` of a list, `Properties` of an object) for `count`
    /// members. Upstream shows `shown` as the bad value of a minimum: the count for lists,
    /// the minimum itself for objects.
    fn count_bounds(&mut self, schema: &Value, path: &str, count: u64, what: &str, shown: u64) {
        if let Some(min) = schema.get(format!("min{what}")).and_then(Value::as_u64)
            && count < min
        {
            let detail = format!(
                "{} should have at least {min} {}",
                in_body(path),
                what.to_lowercase()
            );
            self.push(
                FieldErrorKind::Invalid,
                path,
                Some(Value::from(shown)),
                detail,
            );
        }
        if let Some(max) = schema.get(format!("max{what}")).and_then(Value::as_u64)
            && count > max
        {
            self.push(
                FieldErrorKind::TooMany,
                path,
                Some(Value::from(count)),
                too_many(max),
            );
        }
    }

    fn push(
        &mut self,
        kind: FieldErrorKind,
        path: &str,
        value: Option<Value>,
        detail: impl Into<String>,
    ) {
        self.errors.push(FieldError::new(kind, path, value, detail));
    }

    fn node(&mut self, schema: &Value, value: &Value, old: Option<&Value>, path: &str) {
        if old == Some(value) {
            return; // ratcheting: an unchanged value is not held to a new schema
        }
        if value.is_null() {
            self.type_check(schema, value, path);
            self.enumeration(schema, value, path);
            return;
        }
        self.type_check(schema, value, path);
        self.branches(schema, value, path);
        match value {
            Value::String(s) => {
                self.string(schema, s, value, path);
                self.format(schema, s, value, path);
            }
            Value::Number(_) => self.number(schema, value, path),
            Value::Array(items) => self.array(schema, items, value, old, path),
            _ => {}
        }
        self.enumeration(schema, value, path);
        if let Value::Object(map) = value {
            self.object(schema, map, old, path);
        }
    }

    fn type_check(&mut self, schema: &Value, value: &Value, path: &str) {
        let types = schema_types(schema);
        if types.is_empty() {
            return;
        }
        let (data_type, data_format) = data_type(value);
        if value.is_null() {
            if !flag(schema, "nullable") {
                let detail = format!(
                    "{} must be of type {}: \"null\"",
                    in_body(path),
                    types.join(",")
                );
                self.push(
                    FieldErrorKind::TypeInvalid,
                    path,
                    Some(Value::from("null")),
                    detail,
                );
            }
            return;
        }
        let integral_float = value
            .as_f64()
            .is_some_and(|f| value.is_f64() && f.fract() == 0.0 && f.is_finite());
        let accepted = types.contains(&data_type)
            || (data_type == "number" && integral_float && types.contains(&"integer"))
            || (data_type == "integer" && types.contains(&"number"));
        if accepted {
            return;
        }
        let format = schema.get("format").and_then(Value::as_str).unwrap_or("");
        if !format.is_empty() && !value.is_string() && !value.is_array() && format != data_format {
            let detail = format!(
                "{} must be of type {format}: {data_format:?}",
                in_body(path)
            );
            self.push(
                FieldErrorKind::TypeInvalid,
                path,
                Some(Value::from(data_format)),
                detail,
            );
            return;
        }
        let detail = format!(
            "{} must be of type {}: {data_type:?}",
            in_body(path),
            types.join(",")
        );
        self.push(
            FieldErrorKind::TypeInvalid,
            path,
            Some(Value::from(data_type)),
            detail,
        );
    }

    /// `allOf`, `anyOf`, `oneOf` and `not` as value validations, as kube-openapi's
    /// `schemaPropsValidator` reports them (a plain error, hence the `<nil>` path).
    fn branches(&mut self, schema: &Value, value: &Value, path: &str) {
        let quoted = format!("{path:?}");
        if let Some(branches) = schema.get("anyOf").and_then(Value::as_array) {
            let results: Vec<_> = branches
                .iter()
                .map(|b| self.probe(b, value, path))
                .collect();
            if !results.iter().any(Vec::is_empty) {
                self.plain(format!(
                    "{quoted} must validate at least one schema (anyOf)"
                ));
                if let Some(best) = results.into_iter().min_by_key(Vec::len) {
                    self.errors.extend(best);
                }
            }
        }
        if let Some(branches) = schema.get("oneOf").and_then(Value::as_array) {
            let results: Vec<_> = branches
                .iter()
                .map(|b| self.probe(b, value, path))
                .collect();
            let valid = results.iter().filter(|r| r.is_empty()).count();
            if valid != 1 {
                let why = if valid == 0 {
                    "Found none valid".to_owned()
                } else {
                    format!("Found {valid} valid alternatives")
                };
                self.plain(format!(
                    "{quoted} must validate one and only one schema (oneOf). {why}"
                ));
                if let Some(best) = results
                    .into_iter()
                    .filter(|r| !r.is_empty())
                    .min_by_key(Vec::len)
                {
                    self.errors.extend(best);
                }
            }
        }
        if let Some(branches) = schema.get("allOf").and_then(Value::as_array) {
            let mut valid = 0;
            for branch in branches {
                let errors = self.probe(branch, value, path);
                valid += usize::from(errors.is_empty());
                self.errors.extend(errors);
            }
            if valid != branches.len() {
                let none = if valid == 0 { ". None validated" } else { "" };
                self.plain(format!(
                    "{quoted} must validate all the schemas (allOf){none}"
                ));
            }
        }
        if let Some(not) = schema.get("not").filter(|n| n.is_object())
            && self.probe(not, value, path).is_empty()
        {
            self.plain(format!("{quoted} must not validate the schema (not)"));
        }
    }

    /// Errors of `value` against a branch schema, without recording them.
    fn probe(&mut self, schema: &Value, value: &Value, path: &str) -> Vec<FieldError> {
        let mark = self.errors.len();
        self.node(schema, value, None, path);
        self.errors.split_off(mark)
    }

    /// A kube-openapi error that is not a `*Validation`: reported with a nil path.
    fn plain(&mut self, detail: String) {
        self.push(
            FieldErrorKind::Invalid,
            "<nil>",
            Some(Value::from("")),
            detail,
        );
    }

    fn string(&mut self, schema: &Value, s: &str, value: &Value, path: &str) {
        let runes = s.chars().count() as u64;
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
            && runes > max
        {
            let unit = if max == 1 { "byte" } else { "bytes" };
            self.push(
                FieldErrorKind::TooLong,
                path,
                None,
                format!("may not be more than {max} {unit}"),
            );
        }
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
            && runes < min
        {
            let detail = format!("{} should be at least {min} chars long", in_body(path));
            self.push(FieldErrorKind::Invalid, path, Some(value.clone()), detail);
        }
        if let Some(pattern) = schema.get("pattern").and_then(Value::as_str)
            && let Some(re) = self.patterns.get(pattern)
            && !re.is_match(s)
        {
            let detail = format!("{} should match '{pattern}'", in_body(path));
            self.push(FieldErrorKind::Invalid, path, Some(value.clone()), detail);
        }
    }

    /// The string formats a CRD may use that the emulator checks (loosely for date-time).
    fn format(&mut self, schema: &Value, s: &str, value: &Value, path: &str) {
        let Some(format) = schema.get("format").and_then(Value::as_str) else {
            return;
        };
        if !formats::is_valid(format, s) {
            let detail = format!(
                "{} must be of type {format}: {}",
                in_body(path),
                render_value(value)
            );
            self.push(
                FieldErrorKind::TypeInvalid,
                path,
                Some(value.clone()),
                detail,
            );
        }
    }

    fn number(&mut self, schema: &Value, value: &Value, path: &str) {
        let Some(data) = value.as_f64() else {
            return;
        };
        let format = schema.get("format").and_then(Value::as_str).unwrap_or("");
        let ty = schema.get("type").and_then(Value::as_str).unwrap_or("");
        let in_range = match (ty, format) {
            ("integer", "int32") => value.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
            ("integer", "uint32") => value.as_u64().is_some_and(|u| u32::try_from(u).is_ok()),
            ("integer", "uint64") => value.as_u64().is_some(),
            ("integer", _) => value.as_i64().is_some() || (value.is_f64() && data.abs() < 9.3e18),
            ("number", "float") => data.abs() <= f64::from(f32::MAX),
            _ => true,
        };
        if !in_range {
            let format = if format.is_empty() {
                "(default format)"
            } else {
                format
            };
            let with = if format.starts_with('(') {
                ""
            } else {
                "with format "
            };
            self.plain(format!(
                "Checked value must be of type {ty} {with}{format} in {path}"
            ));
        }
        let shown = |bound: f64| go_float(bound);
        if let Some(factor) = schema.get("multipleOf").and_then(Value::as_f64) {
            if factor <= 0.0 {
                self.plain(format!(
                    "factor MultipleOf declared for {path} must be positive: {}",
                    shown(factor)
                ));
            } else {
                let quotient = if factor < 1.0 {
                    (1.0 / factor) * data
                } else {
                    data / factor
                };
                if quotient.ceil() > quotient {
                    let detail = format!(
                        "{} should be a multiple of {}",
                        in_body(path),
                        shown(factor)
                    );
                    self.push(FieldErrorKind::Invalid, path, Some(value.clone()), detail);
                }
            }
        }
        let bounds: [Bound; 2] = [
            ("minimum", "exclusiveMinimum", "greater than", |d, b| {
                (d < b, d <= b)
            }),
            ("maximum", "exclusiveMaximum", "less than", |d, b| {
                (d > b, d >= b)
            }),
        ];
        for (keyword, exclusive_keyword, words, beyond) in bounds {
            let Some(bound) = schema.get(keyword).and_then(Value::as_f64) else {
                continue;
            };
            let exclusive = flag(schema, exclusive_keyword);
            let (past, past_or_on) = beyond(data, bound);
            if past || (exclusive && past_or_on) {
                let op = if exclusive {
                    words.to_owned()
                } else {
                    format!("{words} or equal to")
                };
                let detail = format!("{} should be {op} {}", in_body(path), shown(bound));
                self.push(FieldErrorKind::Invalid, path, Some(value.clone()), detail);
            }
        }
    }

    fn array(
        &mut self,
        schema: &Value,
        items: &[Value],
        value: &Value,
        old: Option<&Value>,
        path: &str,
    ) {
        if let Some(item_schema) = schema.get("items").filter(|s| s.is_object()) {
            let keys = list_map_keys(schema);
            for (i, item) in items.iter().enumerate() {
                // Only map-list items correlate with old items (by key), for ratcheting.
                let old_item = keys
                    .as_deref()
                    .and_then(|keys| correlate_map_item(keys, item, old));
                self.node(item_schema, item, old_item, &format!("{path}[{i}]"));
            }
        }
        let len = items.len() as u64;
        self.count_bounds(schema, path, len, "Items", len);
        if flag(schema, "uniqueItems")
            && items
                .iter()
                .enumerate()
                .any(|(i, a)| items[..i].contains(a))
        {
            let detail = format!("{} shouldn't contain duplicates", in_body(path));
            self.push(FieldErrorKind::Invalid, path, Some(value.clone()), detail);
        }
    }

    fn enumeration(&mut self, schema: &Value, value: &Value, path: &str) {
        let Some(allowed) = schema.get("enum").and_then(Value::as_array) else {
            return;
        };
        let matches = |candidate: &Value| {
            candidate == value
                || matches!((candidate.as_f64(), value.as_f64()), (Some(a), Some(b)) if a.total_cmp(&b).is_eq())
        };
        if allowed.iter().any(matches) {
            return;
        }
        let quoted: Vec<String> = allowed
            .iter()
            .map(|v| match v {
                Value::String(s) => format!("{s:?}"),
                other => format!("{:?}", other.to_string()),
            })
            .collect();
        let detail = if quoted.is_empty() {
            String::new()
        } else {
            format!("supported values: {}", quoted.join(", "))
        };
        self.push(
            FieldErrorKind::NotSupported,
            path,
            Some(value.clone()),
            detail,
        );
    }

    fn object(
        &mut self,
        schema: &Value,
        map: &serde_json::Map<String, Value>,
        old: Option<&Value>,
        path: &str,
    ) {
        let count = map.len() as u64;
        let min = schema.get("minProperties").and_then(Value::as_u64);
        self.count_bounds(schema, path, count, "Properties", min.unwrap_or(count));
        if !flag(schema, "x-kubernetes-preserve-unknown-fields")
            && let Some((additional, keys)) = additional_entries(schema, map)
        {
            for key in keys {
                let old_value = old.and_then(|o| o.get(key));
                self.node(additional, &map[key], old_value, &child_path(path, key));
            }
        }
        for (name, prop) in sorted_properties(schema) {
            if let Some(child) = map.get(name) {
                self.node(
                    prop,
                    child,
                    old.and_then(|o| o.get(name)),
                    &child_path(path, name),
                );
            }
        }
        let required = schema.get("required").and_then(Value::as_array);
        for name in required.into_iter().flatten().filter_map(Value::as_str) {
            if !map.contains_key(name) {
                self.push(FieldErrorKind::Required, &child_path(path, name), None, "");
            }
        }
    }
}

/// apimachinery `field.TooMany` detail.
fn too_many(max: u64) -> String {
    let unit = if max == 1 { "item" } else { "items" };
    format!("must have at most {max} {unit}")
}
