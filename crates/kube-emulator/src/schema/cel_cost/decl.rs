//! The CEL declaration type of a structural schema node, reduced to what the cost estimate
//! reads: a kind, the largest number of elements a value can hold (`MaxElements`: runes of
//! a string, items of a list, entries of a map) and the smallest JSON it serialises to
//! (`MinSerializedSize`). A port of `SchemaDeclType` (k8s.io/apiserver/pkg/cel/common/
//! schemas.go) with the constants of k8s.io/apiserver/pkg/cel/limits.go.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::{Value, json};

/// `DefaultMaxRequestSizeBytes`: 3 MiB, the bound of every unbounded size.
pub(super) const MAX_REQUEST_SIZE_BYTES: u64 = 3 * 1024 * 1024;

/// Upstream's per-format bounds and minimal JSON sizes (limits.go).
const MAX_DURATION_SIZE_JSON: u64 = 32;
const MIN_DURATION_SIZE_JSON: u64 = 3;
const JSON_DATE_SIZE: u64 = 12;
const MAX_DATETIME_SIZE_JSON: u64 = 32;
const MIN_DATETIME_SIZE_JSON: u64 = 21;
const MIN_STRING_SIZE: u64 = 2;
const MIN_BOOL_SIZE: u64 = 4;
const MIN_NUMBER_SIZE: u64 = 1;

/// What CEL sees a schema node as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DeclKind {
    /// An object with `properties` (a CEL struct type).
    Object,
    /// An object with `additionalProperties` (a CEL map with string keys).
    Map,
    List,
    String,
    /// `format: byte`.
    Bytes,
    Bool,
    Int,
    Double,
    /// `format: date` or `date-time`.
    Timestamp,
    /// `format: duration`.
    Duration,
    /// `x-kubernetes-int-or-string`.
    Dyn,
}

/// A schema node as CEL declares it (`apiservercel.DeclType`).
#[derive(Debug)]
pub(super) struct DeclType {
    pub(super) kind: DeclKind,
    /// `MaxElements`: 0 for objects and scalars.
    pub(super) max_elements: u64,
    /// `MinSerializedSize`.
    pub(super) min_size: u64,
    /// Object fields by their CEL (escaped) name.
    pub(super) fields: BTreeMap<String, DeclType>,
    /// List items or map values.
    pub(super) elem: Option<Box<DeclType>>,
    /// Map keys: the shared `StringType`, whose `MaxElements` is 0.
    pub(super) key: Option<Box<DeclType>>,
}

impl DeclType {
    fn simple(kind: DeclKind, max_elements: u64, min_size: u64) -> Self {
        Self {
            kind,
            max_elements,
            min_size,
            fields: BTreeMap::new(),
            elem: None,
            key: None,
        }
    }

    /// The declaration of `schema`, or `None` where upstream exposes nothing to CEL (an
    /// array without items, an untyped node). `resource_root` adds `apiVersion`, `kind` and
    /// `metadata.name`/`generateName` as upstream does at a resource's root.
    pub(super) fn of(schema: &Value, resource_root: bool) -> Option<Self> {
        if flag(schema, "x-kubernetes-int-or-string") {
            let max = max_length(schema).map_or(MAX_REQUEST_SIZE_BYTES - 2, |n| n * 4);
            return Some(Self::simple(DeclKind::Dyn, max, 1));
        }
        let schema = if resource_root {
            with_type_and_object_meta(schema)
        } else {
            Cow::Borrowed(schema)
        };
        let text = |key: &str| schema.get(key).and_then(Value::as_str);
        match text("type")? {
            "array" => {
                let items = schema.get("items").filter(|i| i.is_object())?;
                let item = Self::of(items, embedded(items))?;
                let max = bound(&schema, "maxItems")
                    .unwrap_or((MAX_REQUEST_SIZE_BYTES - 2) / (item.min_size + 1));
                let mut list = Self::simple(DeclKind::List, max, 2);
                list.elem = Some(Box::new(item));
                Some(list)
            }
            "object" => match schema.get("additionalProperties").filter(|a| a.is_object()) {
                Some(additional) => {
                    let value = Self::of(additional, embedded(additional))?;
                    let max = bound(&schema, "maxProperties")
                        .unwrap_or((MAX_REQUEST_SIZE_BYTES - 2) / (value.min_size + 6));
                    let mut map = Self::simple(DeclKind::Map, max, 2);
                    map.key = Some(Box::new(Self::simple(DeclKind::String, 0, MIN_STRING_SIZE)));
                    map.elem = Some(Box::new(value));
                    Some(map)
                }
                None => Some(object(&schema)),
            },
            "string" => Some(string(&schema, text("format").unwrap_or(""))),
            "boolean" => Some(Self::simple(DeclKind::Bool, 0, MIN_BOOL_SIZE)),
            "number" => Some(Self::simple(DeclKind::Double, 0, MIN_NUMBER_SIZE)),
            "integer" => Some(Self::simple(DeclKind::Int, 0, MIN_NUMBER_SIZE)),
            _ => None,
        }
    }
}

/// An object with `properties`: at least `{}`, plus each required property without a
/// default (`"name":` and its own minimal size).
fn object(schema: &Value) -> DeclType {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut decl = DeclType::simple(DeclKind::Object, 0, 2);
    let properties = schema.get("properties").and_then(Value::as_object);
    for (name, property) in properties.into_iter().flatten() {
        let Some(field) = DeclType::of(property, embedded(property)) else {
            continue;
        };
        if required.contains(&name.as_str()) && property.get("default").is_none() {
            decl.min_size += name.len() as u64 + field.min_size + 4;
        }
        if let Some(escaped) = escape(name) {
            decl.fields.insert(escaped, field);
        }
    }
    decl
}

/// A string by its format: timestamps and durations are bounded by their format, other
/// strings by `maxLength` (in bytes: 4 per rune), else their longest enum value, else the
/// request size.
fn string(schema: &Value, format: &str) -> DeclType {
    let unbounded = MAX_REQUEST_SIZE_BYTES - 2;
    match format {
        "byte" => DeclType::simple(
            DeclKind::Bytes,
            max_length(schema).unwrap_or(unbounded),
            MIN_STRING_SIZE,
        ),
        "duration" => DeclType::simple(
            DeclKind::Duration,
            MAX_DURATION_SIZE_JSON,
            MIN_DURATION_SIZE_JSON,
        ),
        "date" => DeclType::simple(DeclKind::Timestamp, JSON_DATE_SIZE, JSON_DATE_SIZE),
        "date-time" => DeclType::simple(
            DeclKind::Timestamp,
            MAX_DATETIME_SIZE_JSON,
            MIN_DATETIME_SIZE_JSON,
        ),
        _ => {
            let longest_enum = schema.get("enum").and_then(Value::as_array).map(|values| {
                values
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|s| s.len() as u64)
                    .max()
                    .unwrap_or(0)
            });
            let max = max_length(schema)
                .map(|n| n * 4)
                .or(longest_enum)
                .unwrap_or(unbounded);
            DeclType::simple(DeclKind::String, max, MIN_STRING_SIZE)
        }
    }
}

/// `WithTypeAndObjectMeta`: unless the root already declares them as strings, `kind`,
/// `apiVersion` and a `metadata` of only `name` and `generateName` (plain strings).
fn with_type_and_object_meta(schema: &Value) -> Cow<'_, Value> {
    let is_type = |node: Option<&Value>, ty: &str| {
        node.and_then(|n| n.get("type")).and_then(Value::as_str) == Some(ty)
    };
    let props = schema.get("properties");
    let prop = |name: &str| props.and_then(|p| p.get(name));
    let meta_prop = |name: &str| {
        prop("metadata")
            .and_then(|m| m.get("properties"))
            .and_then(|p| p.get(name))
    };
    if is_type(prop("kind"), "string")
        && is_type(prop("apiVersion"), "string")
        && is_type(prop("metadata"), "object")
        && is_type(meta_prop("name"), "string")
        && is_type(meta_prop("generateName"), "string")
    {
        return Cow::Borrowed(schema);
    }
    let mut root = schema.clone();
    if let Some(map) = root.as_object_mut() {
        let props = map
            .entry("properties")
            .or_insert_with(|| json!({}))
            .as_object_mut();
        if let Some(props) = props {
            props.insert("kind".into(), json!({"type": "string"}));
            props.insert("apiVersion".into(), json!({"type": "string"}));
            props.insert(
                "metadata".into(),
                json!({"type": "object", "properties": {
                    "name": {"type": "string"}, "generateName": {"type": "string"}
                }}),
            );
        }
    }
    Cow::Owned(root)
}

/// `apiservercel.Escape`: the CEL name of a property, `None` when it has none.
fn escape(name: &str) -> Option<String> {
    const RESERVED: [&str; 21] = [
        "true",
        "false",
        "null",
        "in",
        "as",
        "break",
        "const",
        "continue",
        "else",
        "for",
        "function",
        "if",
        "import",
        "let",
        "loop",
        "package",
        "namespace",
        "return",
        "var",
        "void",
        "while",
    ];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    if RESERVED.contains(&name) {
        return Some(format!("__{name}__"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/'))
    {
        return None;
    }
    Some(
        name.replace("__", "__underscores__")
            .replace('.', "__dot__")
            .replace('-', "__dash__")
            .replace('/', "__slash__"),
    )
}

fn flag(schema: &Value, key: &str) -> bool {
    schema.get(key).and_then(Value::as_bool) == Some(true)
}

fn embedded(schema: &Value) -> bool {
    flag(schema, "x-kubernetes-embedded-resource")
}

/// A non-negative bound (`maxItems`, …); negative ones count as 0, as upstream.
fn bound(schema: &Value, key: &str) -> Option<u64> {
    let value = schema.get(key)?;
    value
        .as_u64()
        .or_else(|| value.as_i64().map(|_| 0))
        .or_else(|| value.as_f64().map(|_| 0))
}

fn max_length(schema: &Value) -> Option<u64> {
    bound(schema, "maxLength")
}
