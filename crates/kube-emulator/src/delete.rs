//! Delete verbs: `delete` (`DeleteOptions` body or query: `propagationPolicy`,
//! preconditions, `dryRun`) and `deletecollection`.

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::Shared;
use super::lifecycle::{self, Deleted};
use super::meta;
use super::read::{Reply, selectors, served};
use super::resources::ResourceType;
use super::server::Request;
use super::status::ApiError;
use super::store::World;

/// What a delete request asks for.
#[derive(Debug, Default)]
struct DeleteOptions {
    propagation: Option<String>,
    precondition_uid: Option<String>,
    precondition_rv: Option<String>,
    dry_run: bool,
}

fn delete_options(request: &Request) -> Result<DeleteOptions, ApiError> {
    let body: Value = if request.body.is_empty() {
        Value::Null
    } else if request.content_type.contains("protobuf") {
        super::protobuf::decode(&request.body)
            .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?
    } else {
        serde_json::from_slice(&request.body)
            .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?
    };
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let mut propagation = text(&body["propagationPolicy"]);
    if let Some(p) = request.params.get("propagationPolicy") {
        propagation = Some(p.to_owned());
    }
    if propagation.is_none() && body["orphanDependents"].as_bool() == Some(true) {
        propagation = Some("Orphan".to_owned());
    }
    let dry_run = request.params.dry_run()
        || body["dryRun"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v.as_str() == Some("All")));
    Ok(DeleteOptions {
        propagation,
        precondition_uid: text(&body["preconditions"]["uid"]),
        precondition_rv: text(&body["preconditions"]["resourceVersion"]),
        dry_run,
    })
}

/// The answer for an object that is gone: the object for custom kinds (upstream
/// `ReturnDeletedObject`), a `Success` Status for built-ins.
fn gone_reply(rt: &ResourceType, object: Value) -> Value {
    if rt.custom {
        return served(rt, object);
    }
    let mut details = json!({
        "name": object["metadata"]["name"],
        "kind": rt.plural,
        "uid": object["metadata"]["uid"],
    });
    if !rt.group.is_empty() {
        details["group"] = json!(rt.group);
    }
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}

/// Removes ownerReferences to `owner_uid` from every object (upstream: the `orphan`
/// finalizer, handled by the garbage collector before the owner goes).
fn orphan_dependents(world: &mut World, owner_uid: &str) {
    let dependents: Vec<(String, Value)> = world
        .iter_all()
        .filter(|(_, o)| meta::owner_uids(o).iter().any(|u| u == owner_uid))
        .map(|(k, o)| (k.clone(), o.clone()))
        .collect();
    for (key, mut object) in dependents {
        meta::drop_owner_refs(&mut object, &[owner_uid.to_owned()]);
        lifecycle::store(world, &key, object);
    }
}

fn delete_one(
    world: &mut World,
    rt: &ResourceType,
    object: &Value,
    options: &DeleteOptions,
) -> Result<Value, ApiError> {
    let (namespace, name) = super::store::namespace_and_name(object);
    if let Some(uid) = &options.precondition_uid
        && object["metadata"]["uid"].as_str() != Some(uid.as_str())
    {
        return Err(ApiError::conflict(rt, &name));
    }
    if let Some(rv) = &options.precondition_rv
        && object["metadata"]["resourceVersion"].as_str() != Some(rv.as_str())
    {
        return Err(ApiError::conflict(rt, &name));
    }
    if options.dry_run {
        return Ok(served(rt, object.clone()));
    }
    if options.propagation.as_deref() == Some("Orphan")
        && let Some(uid) = object["metadata"]["uid"].as_str()
    {
        orphan_dependents(world, uid);
    }
    let foreground = options.propagation.as_deref() == Some("Foreground");
    match lifecycle::delete(world, &rt.store_key(), &namespace, &name, foreground) {
        Some(Deleted::Gone(object)) => Ok(gone_reply(rt, object)),
        Some(Deleted::Pending(object)) => Ok(served(rt, object)),
        None => Err(ApiError::not_found(rt, &name)),
    }
}

/// `DELETE` on an object.
pub fn delete(shared: &Arc<Shared>, request: &Request) -> Reply {
    let target = &request.target;
    let name = target.name.clone().unwrap_or_default();
    let options = delete_options(request)?;
    let reply = {
        let mut world = shared.store.lock();
        let object = world
            .get(
                &target.rt.store_key(),
                target.namespace.as_deref().unwrap_or_default(),
                &name,
            )
            .cloned()
            .ok_or_else(|| ApiError::not_found(&target.rt, &name))?;
        delete_one(&mut world, &target.rt, &object, &options)?
    };
    shared.gc.everything();
    Ok((StatusCode::OK, reply))
}

/// `DELETE` on a collection (with selectors).
pub fn delete_collection(shared: &Arc<Shared>, request: &Request) -> Reply {
    let target = &request.target;
    let rt = &target.rt;
    let (labels, fields) = selectors(shared, request)?;
    let options = delete_options(request)?;
    let mut items = Vec::new();
    {
        let mut world = shared.store.lock();
        let matching: Vec<Value> = world
            .bucket(&rt.store_key())
            .map(|b| {
                b.iter()
                    .filter(|((ns, _), o)| {
                        target.namespace.as_deref().is_none_or(|want| want == ns)
                            && labels.matches(o)
                            && fields.matches(o)
                    })
                    .map(|(_, o)| o.clone())
                    .collect()
            })
            .unwrap_or_default();
        for object in matching {
            delete_one(&mut world, rt, &object, &options)?;
            items.push(served(rt, object));
        }
    }
    shared.gc.everything();
    Ok((
        StatusCode::OK,
        json!({"kind": format!("{}List", rt.kind), "apiVersion": rt.api_version(), "metadata": {}, "items": items}),
    ))
}
