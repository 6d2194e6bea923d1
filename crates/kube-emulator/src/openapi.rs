//! A minimal `/openapi/v3`: the root index of group versions and, per group version, a
//! document with one `PATCH` operation per kind that carries the
//! `x-kubernetes-group-version-kind` extension and the `fieldValidation` query parameter.
//! That is exactly what kubectl's `QueryParamVerifierV3` looks for before it leaves field
//! validation to the server; without it `kubectl apply` insists on downloading
//! `/openapi/v2` for client-side validation. No schemas are served (`kubectl explain`
//! does not work; kubectl computes apply patches from its compiled-in types instead).

use std::collections::BTreeMap;
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
    for rt in members {
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
    Some(json!({
        "openapi": "3.0.0",
        "info": { "title": "Kubernetes (emulator)", "version": "v1.33.0" },
        "paths": paths,
        "components": {},
    }))
}
