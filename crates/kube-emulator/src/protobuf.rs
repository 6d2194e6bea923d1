//! Request bodies in Kubernetes' protobuf encoding (`application/vnd.kubernetes.protobuf`),
//! decoded into the JSON the verb handlers take. client-go's typed clients send protobuf
//! for built-in kinds (Helm's `secret` release storage, `kubectl create namespace`), and
//! accept JSON answers, so only decoding is needed, and only for the kinds listed in
//! [`decode`]: Secret, `ConfigMap`, Namespace and `DeleteOptions`. Anything else gets a
//! 415 that says so.
//!
//! Hand-written rather than a crate: the generated protobuf types of Kubernetes for Rust
//! (`k8s-pb`) would bring prost and every kind for four messages, and still need this
//! mapping to JSON. The field numbers are those of upstream's `generated.proto`
//! (`k8s.io/api/core/v1`, `k8s.io/apimachinery/pkg/apis/meta/v1`, `pkg/runtime`).

use base64::Engine as _;
use serde_json::{Map, Value, json};

/// Protobuf bodies start with these four bytes, then a `runtime.Unknown`.
const MAGIC: &[u8] = b"k8s\0";

/// One field's value on the wire.
enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    /// A fixed 32- or 64-bit value (no field decoded here has one).
    Fixed,
}

/// The fields of one message, in wire order.
fn fields(mut buf: &[u8]) -> Result<Vec<(u64, Wire<'_>)>, String> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let key = varint(&mut buf)?;
        let value = match key & 7 {
            0 => Wire::Varint(varint(&mut buf)?),
            2 => {
                let len = usize::try_from(varint(&mut buf)?).map_err(|e| e.to_string())?;
                if len > buf.len() {
                    return Err("a length-delimited field runs past the end".to_owned());
                }
                let (bytes, rest) = buf.split_at(len);
                buf = rest;
                Wire::Bytes(bytes)
            }
            wire @ (1 | 5) => {
                let len = if wire == 1 { 8 } else { 4 };
                buf = buf
                    .get(len..)
                    .ok_or("a fixed-width field runs past the end")?;
                Wire::Fixed
            }
            other => return Err(format!("unsupported wire type {other}")),
        };
        out.push((key >> 3, value));
    }
    Ok(out)
}

fn varint(buf: &mut &[u8]) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = buf.split_first().ok_or("a varint runs past the end")?;
        *buf = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("a varint longer than 64 bits".to_owned())
}

fn text(bytes: &[u8]) -> Value {
    Value::String(String::from_utf8_lossy(bytes).into_owned())
}

fn base64(bytes: &[u8]) -> Value {
    Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// A `map<string, V>` entry: key 1, value 2.
fn map_entry(bytes: &[u8], value: fn(&[u8]) -> Value) -> Result<(String, Value), String> {
    let mut key = String::new();
    let mut out = value(&[]);
    for (number, wire) in fields(bytes)? {
        match (number, wire) {
            (1, Wire::Bytes(b)) => key = String::from_utf8_lossy(b).into_owned(),
            (2, Wire::Bytes(b)) => out = value(b),
            _ => {}
        }
    }
    Ok((key, out))
}

fn insert_entry(map: &mut Map<String, Value>, field: &str, entry: (String, Value)) {
    if let Value::Object(m) = map.entry(field).or_insert_with(|| json!({})) {
        m.insert(entry.0, entry.1);
    }
}

fn set(map: &mut Map<String, Value>, field: &str, value: Value) {
    map.insert(field.to_owned(), value);
}

fn push(map: &mut Map<String, Value>, field: &str, value: Value) {
    if let Value::Array(items) = map.entry(field).or_insert_with(|| json!([])) {
        items.push(value);
    }
}

/// `metav1.Time` (seconds 1, nanos 2) as RFC 3339 with seconds, as JSON carries it.
fn time(bytes: &[u8]) -> Result<Value, String> {
    let mut seconds = 0i64;
    for (number, wire) in fields(bytes)? {
        if let (1, Wire::Varint(v)) = (number, wire) {
            seconds = i64::from_ne_bytes(v.to_ne_bytes());
        }
    }
    k8s_openapi::jiff::Timestamp::from_second(seconds)
        .map(|t| Value::String(t.to_string()))
        .map_err(|e| format!("a time out of range: {e}"))
}

fn signed(v: u64) -> Value {
    json!(i64::from_ne_bytes(v.to_ne_bytes()))
}

/// The message in `bytes` as a JSON object: `put` writes each field, in wire order,
/// into it (or passes over a field it does not know).
fn message(
    bytes: &[u8],
    mut put: impl FnMut(&mut Map<String, Value>, u64, Wire<'_>) -> Result<(), String>,
) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    for (number, wire) in fields(bytes)? {
        put(&mut out, number, wire)?;
    }
    Ok(out)
}

fn owner_reference(bytes: &[u8]) -> Result<Value, String> {
    message(bytes, |out, number, wire| {
        let name = match number {
            1 => "kind",
            3 => "name",
            4 => "uid",
            5 => "apiVersion",
            6 => "controller",
            7 => "blockOwnerDeletion",
            _ => return Ok(()),
        };
        let value = match wire {
            Wire::Bytes(b) => text(b),
            Wire::Varint(v) => Value::Bool(v != 0),
            Wire::Fixed => return Ok(()),
        };
        set(out, name, value);
        Ok(())
    })
    .map(Value::Object)
}

fn managed_fields_entry(bytes: &[u8]) -> Result<Value, String> {
    message(bytes, |out, number, wire| {
        let Wire::Bytes(b) = wire else { return Ok(()) };
        match number {
            1 => set(out, "manager", text(b)),
            2 => set(out, "operation", text(b)),
            3 => set(out, "apiVersion", text(b)),
            4 => set(out, "time", time(b)?),
            6 => set(out, "fieldsType", text(b)),
            7 => {
                // FieldsV1 { raw = 1 }: the JSON of the field set.
                let raw = fields(b)?.into_iter().find_map(|(n, w)| match (n, w) {
                    (1, Wire::Bytes(raw)) => Some(raw),
                    _ => None,
                });
                let value = raw
                    .map(serde_json::from_slice::<Value>)
                    .transpose()
                    .map_err(|e| format!("fieldsV1 is not JSON: {e}"))?;
                set(out, "fieldsV1", value.unwrap_or_else(|| json!({})));
            }
            8 => set(out, "subresource", text(b)),
            _ => {}
        }
        Ok(())
    })
    .map(Value::Object)
}

fn object_meta(bytes: &[u8]) -> Result<Value, String> {
    message(bytes, |out, number, wire| {
        match (number, wire) {
            (7, Wire::Varint(v)) => set(out, "generation", signed(v)),
            (10, Wire::Varint(v)) => set(out, "deletionGracePeriodSeconds", signed(v)),
            (number, Wire::Bytes(b)) => match number {
                1 => set(out, "name", text(b)),
                2 => set(out, "generateName", text(b)),
                3 => set(out, "namespace", text(b)),
                4 => set(out, "selfLink", text(b)),
                5 => set(out, "uid", text(b)),
                6 => set(out, "resourceVersion", text(b)),
                8 => set(out, "creationTimestamp", time(b)?),
                9 => set(out, "deletionTimestamp", time(b)?),
                11 => insert_entry(out, "labels", map_entry(b, text)?),
                12 => insert_entry(out, "annotations", map_entry(b, text)?),
                13 => push(out, "ownerReferences", owner_reference(b)?),
                14 => push(out, "finalizers", text(b)),
                17 => push(out, "managedFields", managed_fields_entry(b)?),
                _ => {}
            },
            _ => {}
        }
        Ok(())
    })
    .map(Value::Object)
}

/// Secret: metadata 1, data 2 (`map<string, bytes>`), type 3, stringData 4, immutable 5.
/// `ConfigMap`: metadata 1, data 2 (`map<string, string>`), immutable 3, binaryData 4.
fn secret_or_config_map(bytes: &[u8], secret: bool) -> Result<Map<String, Value>, String> {
    message(bytes, |out, number, wire| {
        match (number, wire, secret) {
            (1, Wire::Bytes(b), _) => set(out, "metadata", object_meta(b)?),
            (2, Wire::Bytes(b), true) => insert_entry(out, "data", map_entry(b, base64)?),
            (2, Wire::Bytes(b), false) => insert_entry(out, "data", map_entry(b, text)?),
            (3, Wire::Bytes(b), true) => set(out, "type", text(b)),
            (4, Wire::Bytes(b), true) => insert_entry(out, "stringData", map_entry(b, text)?),
            (4, Wire::Bytes(b), false) => insert_entry(out, "binaryData", map_entry(b, base64)?),
            (5, Wire::Varint(v), true) | (3, Wire::Varint(v), false) => {
                set(out, "immutable", Value::Bool(v != 0));
            }
            _ => {}
        }
        Ok(())
    })
}

/// Namespace: metadata 1, spec 2 (finalizers 1).
fn namespace(bytes: &[u8]) -> Result<Map<String, Value>, String> {
    message(bytes, |out, number, wire| {
        match (number, wire) {
            (1, Wire::Bytes(b)) => set(out, "metadata", object_meta(b)?),
            (2, Wire::Bytes(b)) => {
                let spec = message(b, |spec, number, wire| {
                    if let (1, Wire::Bytes(f)) = (number, wire) {
                        push(spec, "finalizers", text(f));
                    }
                    Ok(())
                })?;
                set(out, "spec", Value::Object(spec));
            }
            _ => {}
        }
        Ok(())
    })
}

/// `DeleteOptions`: gracePeriodSeconds 1, preconditions 2 (uid 1, resourceVersion 2),
/// orphanDependents 3, propagationPolicy 4, dryRun 5.
fn delete_options(bytes: &[u8]) -> Result<Map<String, Value>, String> {
    message(bytes, |out, number, wire| {
        match (number, wire) {
            (1, Wire::Varint(v)) => set(out, "gracePeriodSeconds", signed(v)),
            (2, Wire::Bytes(b)) => {
                let preconditions = message(b, |preconditions, number, wire| {
                    match (number, wire) {
                        (1, Wire::Bytes(f)) => set(preconditions, "uid", text(f)),
                        (2, Wire::Bytes(f)) => set(preconditions, "resourceVersion", text(f)),
                        _ => {}
                    }
                    Ok(())
                })?;
                set(out, "preconditions", Value::Object(preconditions));
            }
            (3, Wire::Varint(v)) => set(out, "orphanDependents", Value::Bool(v != 0)),
            (4, Wire::Bytes(b)) => set(out, "propagationPolicy", text(b)),
            (5, Wire::Bytes(b)) => push(out, "dryRun", text(b)),
            _ => {}
        }
        Ok(())
    })
}

/// Decodes a protobuf request body into JSON: `Err` says why it cannot (not protobuf,
/// malformed, or a kind not decoded here).
pub fn decode(body: &[u8]) -> Result<Value, String> {
    let envelope = body
        .strip_prefix(MAGIC)
        .ok_or("the body does not start with the protobuf magic number")?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    for (number, wire) in fields(envelope)? {
        match (number, wire) {
            (1, Wire::Bytes(type_meta)) => {
                for (n, w) in fields(type_meta)? {
                    match (n, w) {
                        (1, Wire::Bytes(b)) => {
                            api_version = String::from_utf8_lossy(b).into_owned();
                        }
                        (2, Wire::Bytes(b)) => kind = String::from_utf8_lossy(b).into_owned(),
                        _ => {}
                    }
                }
            }
            (2, Wire::Bytes(b)) => raw = b,
            _ => {}
        }
    }
    let mut object = match (api_version.as_str(), kind.as_str()) {
        ("v1", "Secret") => secret_or_config_map(raw, true)?,
        ("v1", "ConfigMap") => secret_or_config_map(raw, false)?,
        ("v1", "Namespace") => namespace(raw)?,
        (_, "DeleteOptions") => delete_options(raw)?,
        _ => {
            return Err(format!(
                "protobuf bodies of {api_version} {kind} are not decoded here (Secret, ConfigMap, Namespace and DeleteOptions are); send application/json"
            ));
        }
    };
    object.insert("apiVersion".to_owned(), Value::String(api_version));
    object.insert("kind".to_owned(), Value::String(kind));
    Ok(Value::Object(object))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(number: u8, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![number << 3 | 2, u8::try_from(bytes.len()).unwrap()];
        out.extend_from_slice(bytes);
        out
    }

    fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
        let type_meta = [field(1, api_version.as_bytes()), field(2, kind.as_bytes())].concat();
        [MAGIC.to_vec(), field(1, &type_meta), field(2, raw)].concat()
    }

    // Upstream: client-go's typed Delete sends DeleteOptions in protobuf
    // (meta/v1 generated.proto: preconditions 2, propagationPolicy 4, dryRun 5).
    #[test]
    fn delete_options_decode_to_their_json_fields() {
        let raw = [
            field(2, &field(1, b"uid-1")),
            field(4, b"Foreground"),
            field(5, b"All"),
        ]
        .concat();
        let decoded = decode(&envelope("v1", "DeleteOptions", &raw)).unwrap();
        assert_eq!(
            decoded,
            json!({"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": "uid-1"},
                   "propagationPolicy": "Foreground", "dryRun": ["All"]})
        );
    }

    #[test]
    fn a_kind_not_decoded_and_a_truncated_body_are_errors() {
        let deployment = decode(&envelope("apps/v1", "Deployment", &[])).unwrap_err();
        assert!(deployment.contains("apps/v1 Deployment"), "{deployment}");
        let mut truncated = envelope("v1", "Secret", &field(1, &field(1, b"name")));
        truncated.truncate(truncated.len() - 2);
        assert!(decode(&truncated).is_err());
        assert!(decode(b"{}").is_err());
    }
}
