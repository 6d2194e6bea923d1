//! `/openapi/v3`: the root index of group versions and, per group version, a document
//! with the kinds' operations and schemas.
//!
//! Each kind has a `PATCH` operation that carries the `x-kubernetes-group-version-kind`
//! extension and the `fieldValidation` query parameter: that is what client-go's
//! `QueryParamVerifierV3` looks for before kubectl and Helm leave field validation to the
//! server (`fieldValidation=Strict`, see [`schemas::unknown_fields`]); without it they
//! download `/openapi/v2` (protobuf only, not served) for client-side validation.
//! `components.schemas` holds each kind's schema with its group-version-kind extension
//! and every definition it refers to ([`schemas`]), so `kubectl explain` reads the real
//! fields and descriptions.

pub mod schemas;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::resources::ResourceType;

fn gv_path(rt: &ResourceType) -> String {
    if rt.group.is_empty() {
        format!("api/{}", rt.version)
    } else {
        format!("apis/{}/{}", rt.group, rt.version)
    }
}

/// `GET /openapi/v3`: group version → document URL.
pub fn root(resources: &[Arc<ResourceType>]) -> Value {
    let mut paths = Map::new();
    for rt in resources {
        let path = gv_path(rt);
        paths.insert(
            path.clone(),
            json!({ "serverRelativeURL": format!("/openapi/v3/{path}") }),
        );
    }
    json!({ "paths": paths })
}

fn operation(rt: &ResourceType, verb: &str) -> Value {
    json!({
        "operationId": format!("{verb}{}", rt.kind),
        "x-kubernetes-action": verb,
        "x-kubernetes-group-version-kind": { "group": rt.group, "version": rt.version, "kind": rt.kind },
        "parameters": [
            { "name": "dryRun", "in": "query", "schema": { "type": "string" } },
            { "name": "fieldManager", "in": "query", "schema": { "type": "string" } },
            { "name": "fieldValidation", "in": "query", "schema": { "type": "string" } },
        ],
        "responses": { "200": { "description": "OK" } },
    })
}

/// `GET /openapi/v3/apis/{group}/{version}` (or `api/v1`): `None` when nothing is served there.
pub fn group_version(resources: &[Arc<ResourceType>], path: &str) -> Option<Value> {
    let members: Vec<&Arc<ResourceType>> =
        resources.iter().filter(|r| gv_path(r) == path).collect();
    if members.is_empty() {
        return None;
    }
    let mut paths = BTreeMap::new();
    let mut components = Map::new();
    for rt in &members {
        let scope = if rt.namespaced {
            "namespaces/{namespace}/"
        } else {
            ""
        };
        let base = format!("/{}/{scope}{}", gv_path(rt), rt.plural);
        paths.insert(base.clone(), json!({ "post": operation(rt, "post") }));
        paths.insert(
            format!("{base}/{{name}}"),
            json!({ "patch": operation(rt, "patch"), "put": operation(rt, "put") }),
        );
    }
    for rt in &members {
        if rt.custom {
            components.insert(
                schemas::custom_component_name(rt),
                schemas::custom_component(rt),
            );
        } else if let Some(name) = schemas::BUILTINS.component_of(&rt.group, &rt.version, &rt.kind)
        {
            add_reachable(&mut components, name);
        }
    }
    let refs: Vec<String> = components.values().flat_map(references).collect();
    for name in refs {
        add_reachable(&mut components, &name);
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": { "title": "Kubernetes", "version": "v1.33.0" },
        "paths": paths,
        "components": { "schemas": components },
    }))
}

/// The component names `schema` refers to (`$ref`s at any depth).
fn references(schema: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![schema];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(map) => {
                if let Some(name) = map
                    .get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix(schemas::COMPONENTS))
                {
                    out.push(name.to_owned());
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    out
}

/// Adds built-in component `name` and everything it refers to.
fn add_reachable(components: &mut Map<String, Value>, name: &str) {
    let all = &schemas::BUILTINS.components;
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut todo = vec![name.to_owned()];
    while let Some(next) = todo.pop() {
        if !seen.insert(next.clone()) || components.contains_key(&next) {
            continue;
        }
        if let Some(schema) = all.get(&next) {
            todo.extend(references(schema));
            components.insert(next, schema.clone());
        }
    }
}
