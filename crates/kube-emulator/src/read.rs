//! Read verbs: `get` and `list` (selectors, `limit` + `continue` paging, list
//! `resourceVersion`).

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::Shared;
use super::events_conversion;
use super::resources::ResourceType;
use super::selectors::{Field, FieldSelector, LabelSelector};
use super::server::Request;
use super::status::ApiError;
use super::table;

/// Result of a verb handler: HTTP status and JSON body.
pub type Reply = Result<(StatusCode, Value), ApiError>;

/// An object as served at `rt`'s version (custom kinds share storage across versions,
/// both Event APIs one storage: [`events_conversion`]).
pub fn served(rt: &ResourceType, object: Value) -> Value {
    let mut object = events_conversion::from_storage(rt, object);
    let api_version = rt.api_version();
    if object["apiVersion"].as_str() != Some(api_version.as_str()) {
        object["apiVersion"] = Value::String(api_version);
    }
    object
}

/// `GET .../{name}` (and `.../{name}/status`).
pub fn get(shared: &Arc<Shared>, request: &Request) -> Reply {
    let target = &request.target;
    let name = target.name.as_deref().unwrap_or_default();
    let namespace = target.namespace.as_deref().unwrap_or_default();
    let columns = table::wanted(shared, request);
    let world = shared.store.lock();
    let object = world
        .get(&target.rt.store_key(), namespace, name)
        .ok_or_else(|| ApiError::not_found(&target.rt, name))?;
    let object = served(&target.rt, object.clone());
    if let Some(columns) = columns {
        let metadata = json!({"resourceVersion": object["metadata"]["resourceVersion"]});
        let table = table::table(
            &columns,
            &[object],
            &table::include_object(request),
            &metadata,
        );
        return Ok((StatusCode::OK, table));
    }
    Ok((StatusCode::OK, object))
}

/// Paging position inside a list: the last (namespace, name) served.
fn encode_continue(rv: u64, namespace: &str, name: &str) -> String {
    hex::encode(format!("{rv}\0{namespace}\0{name}"))
}

fn decode_continue(token: &str) -> Result<(u64, String, String), ApiError> {
    let bad = || ApiError::bad_request("continue key is not valid: malformed token");
    let text = String::from_utf8(hex::decode(token).map_err(|_| bad())?).map_err(|_| bad())?;
    let mut parts = text.splitn(3, '\0');
    let rv = parts.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let ns = parts.next().ok_or_else(bad)?.to_owned();
    let name = parts.next().ok_or_else(bad)?.to_owned();
    Ok((rv, ns, name))
}

/// The selectable fields a custom kind declares (`selectableFields[].jsonPath`).
pub fn selectable_fields(shared: &Shared, rt: &ResourceType) -> Vec<String> {
    if !rt.custom {
        return Vec::new();
    }
    let world = shared.store.lock();
    let crd_name = format!("{}.{}", rt.plural, rt.group);
    world
        .get(
            "apiextensions.k8s.io/customresourcedefinitions",
            "",
            &crd_name,
        )
        .and_then(|crd| crd["spec"]["versions"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter(|v| v["name"].as_str() == Some(rt.version.as_str()))
        .flat_map(|v| {
            v["selectableFields"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|f| f["jsonPath"].as_str().map(str::to_owned))
        .collect()
}

/// The selectors of a list or watch request.
pub fn selectors(
    shared: &Shared,
    request: &Request,
) -> Result<(LabelSelector, FieldSelector), ApiError> {
    let labels = LabelSelector::parse(request.params.get("labelSelector").unwrap_or_default())?;
    let rt = &request.target.rt;
    let fields = match request.params.get("fieldSelector") {
        Some(s) => {
            let selectable = selectable_fields(shared, rt);
            FieldSelector::parse(s, |label| match label {
                "metadata.name" | "metadata.namespace" => Some(Field::Path(label.to_owned())),
                _ if events_conversion::is_event(rt) => events_conversion::field_label(rt, label),
                _ => selectable
                    .iter()
                    .any(|f| f.trim_start_matches('.') == label)
                    .then(|| Field::Path(label.to_owned())),
            })?
        }
        None => FieldSelector::default(),
    };
    Ok((labels, fields))
}

/// `GET` on a collection.
pub fn list(shared: &Arc<Shared>, request: &Request) -> Reply {
    let target = &request.target;
    let rt = &target.rt;
    let (labels, fields) = selectors(shared, request)?;
    let limit: usize = request
        .params
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let resume = request
        .params
        .get("continue")
        .map(decode_continue)
        .transpose()?;
    let columns = table::wanted(shared, request);
    let world = shared.store.lock();
    let list_rv = resume.as_ref().map_or(world.current_rv(), |(rv, _, _)| *rv);
    let mut items = Vec::new();
    let mut next = None;
    let mut remaining = 0usize;
    if let Some(bucket) = world.bucket(&rt.store_key()) {
        let candidates = bucket.iter().filter(|((ns, name), _)| {
            target.namespace.as_deref().is_none_or(|want| want == ns)
                && resume
                    .as_ref()
                    .is_none_or(|(_, rns, rname)| (ns, name) > (rns, rname))
        });
        for ((ns, name), object) in candidates {
            if !(labels.matches(object) && fields.matches(object)) {
                continue;
            }
            if limit > 0 && items.len() == limit {
                remaining += 1;
                continue;
            }
            if limit > 0 && items.len() + 1 == limit {
                next = Some(encode_continue(list_rv, ns, name));
            }
            items.push(served(rt, object.clone()));
        }
    }
    let mut metadata = json!({ "resourceVersion": list_rv.to_string() });
    if remaining > 0
        && let Some(token) = next
    {
        metadata["continue"] = Value::String(token);
        metadata["remainingItemCount"] = json!(remaining);
    }
    if let Some(columns) = columns {
        return Ok((
            StatusCode::OK,
            table::table(&columns, &items, &table::include_object(request), &metadata),
        ));
    }
    Ok((
        StatusCode::OK,
        json!({
            "kind": format!("{}List", rt.kind),
            "apiVersion": rt.api_version(),
            "metadata": metadata,
            "items": items,
        }),
    ))
}
