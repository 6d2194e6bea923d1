//! Discovery and other non-resource URLs: `/version`, `/api`, `/apis`, `/apis/{group}`,
//! the `APIResourceList` of each group version, health endpoints, `/openapi/v3`
//! (`/openapi/v2` is 404: client-go reads it as protobuf only). Answers always use the legacy
//! (unaggregated) format with `Content-Type: application/json`; clients that ask for
//! the aggregated `apidiscovery.k8s.io/v2` format fall back to it, as client-go does
//! when a server answers with plain JSON. `/openapi/v3` comes from [`super::openapi`].

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Shared;
use super::resources::ResourceType;
use super::server::{json_response, plain};
use super::status::ApiError;

/// The Kubernetes version the emulator claims to be.
pub const MAJOR: &str = "1";
/// Minor version (matches the `v1_33` k8s-openapi feature).
pub const MINOR: &str = "33";

fn version() -> Value {
    json!({
        "major": MAJOR,
        "minor": MINOR,
        "gitVersion": format!("v{MAJOR}.{MINOR}.0-emulator"),
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// Group name → versions in preference order.
fn groups(resources: &[Arc<ResourceType>]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in resources.iter().filter(|r| !r.group.is_empty()) {
        let versions = out.entry(r.group.clone()).or_default();
        if !versions.contains(&r.version) {
            versions.push(r.version.clone());
        }
    }
    out
}

fn group_json(name: &str, versions: &[String]) -> Value {
    let list: Vec<Value> = versions
        .iter()
        .map(|v| json!({ "groupVersion": format!("{name}/{v}"), "version": v }))
        .collect();
    json!({
        "name": name,
        "versions": list,
        "preferredVersion": list.first().cloned().unwrap_or(Value::Null),
    })
}

fn resource_list(group_version: &str, resources: &[&Arc<ResourceType>]) -> Value {
    let mut entries = Vec::new();
    for r in resources {
        let mut entry = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": r.verbs(),
        });
        if !r.short_names.is_empty() {
            entry["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            entry["categories"] = json!(r.categories);
        }
        entries.push(entry);
        if r.status_subresource {
            entries.push(json!({
                "name": format!("{}/status", r.plural),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
        if r.scale.is_some() {
            // client-go's scale client finds the Scale kind of `<plural>/scale` here.
            entries.push(json!({
                "name": format!("{}/scale", r.plural),
                "singularName": "",
                "namespaced": r.namespaced,
                "group": super::scale::SCALE_GROUP,
                "version": super::scale::SCALE_VERSION,
                "kind": "Scale",
                "verbs": ["get", "patch", "update"],
            }));
        }
    }
    json!({ "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": entries })
}

/// Answers a non-resource URL.
pub fn serve(shared: &Shared, path: &str, _headers: &HeaderMap) -> Response {
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let world = shared.store.lock();
    let all = world.registry.all();
    match parts.as_slice() {
        ["version"] => json_response(StatusCode::OK, &version()),
        ["healthz" | "readyz" | "livez", ..] => plain(StatusCode::OK, "ok"),
        ["api"] => json_response(
            StatusCode::OK,
            &json!({
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [{ "clientCIDR": "0.0.0.0/0", "serverAddress": shared.address }],
            }),
        ),
        ["api", "v1"] => {
            let core: Vec<&Arc<ResourceType>> = all.iter().filter(|r| r.group.is_empty()).collect();
            json_response(StatusCode::OK, &resource_list("v1", &core))
        }
        ["apis"] => {
            let list: Vec<Value> = groups(all)
                .iter()
                .map(|(name, versions)| group_json(name, versions))
                .collect();
            json_response(
                StatusCode::OK,
                &json!({ "kind": "APIGroupList", "apiVersion": "v1", "groups": list }),
            )
        }
        ["apis", group] => match groups(all).get(*group) {
            Some(versions) => {
                let mut body = group_json(group, versions);
                body["kind"] = json!("APIGroup");
                body["apiVersion"] = json!("v1");
                json_response(StatusCode::OK, &body)
            }
            None => ApiError::no_route(path).into_response(),
        },
        ["apis", group, version] => {
            let members: Vec<&Arc<ResourceType>> = all
                .iter()
                .filter(|r| r.group == *group && r.version == *version)
                .collect();
            if members.is_empty() {
                ApiError::no_route(path).into_response()
            } else {
                json_response(
                    StatusCode::OK,
                    &resource_list(&format!("{group}/{version}"), &members),
                )
            }
        }
        ["openapi", "v3"] => json_response(StatusCode::OK, &super::openapi::root(all)),
        ["openapi", "v3", rest @ ..] => match super::openapi::group_version(all, &rest.join("/")) {
            Some(doc) => json_response(StatusCode::OK, &doc),
            None => ApiError::no_route(path).into_response(),
        },
        _ => ApiError::no_route(path).into_response(),
    }
}
