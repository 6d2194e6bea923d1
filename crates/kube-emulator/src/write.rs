//! Write verbs: create (POST), replace (PUT) and patch (PATCH, all four content types),
//! with `resourceVersion` preconditions, schema validation of custom resources,
//! `managedFields`, `dryRun=All`, and no-op writes that store nothing.

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::Value;

use super::lifecycle::{self, NamespaceState};
use super::patch::{self, ApplyOptions, PatchError, PatchKind};
use super::read::{Reply, served};
use super::resources::ResourceType;
use super::schema::{FieldError, FieldErrorKind};
use super::server::Request;
use super::status::ApiError;
use super::store::{World, now_timestamp};
use super::{Shared, defaults, events_conversion, meta, openapi, protobuf, validation};

pub use super::delete::{delete, delete_collection};

/// How `managedFields` are maintained for a write.
pub(crate) enum Manager<'a> {
    /// A non-apply write by this manager: the server records it.
    Update(&'a str),
    /// A server-side apply: the patch engine already did.
    Applied,
}

/// Parses a JSON (or, for apply, YAML) request body into an object.
pub fn parse_body(request: &Request) -> Result<Value, ApiError> {
    // client-go's typed clients send protobuf; the kinds they write in our tests and
    // Helm's release storage are decoded, the rest get a 415 that says so.
    if request.content_type.contains("protobuf") {
        return protobuf::decode(&request.body).map_err(|reason| {
            ApiError::new(
                415,
                "UnsupportedMediaType",
                format!(
                    "the kube emulator cannot read this {} body: {reason}",
                    request.content_type
                ),
            )
        });
    }
    let value: Value = if request
        .content_type
        .starts_with("application/apply-patch+yaml")
        || request.content_type.starts_with("application/yaml")
    {
        serde_norway::from_slice(&request.body)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?
    } else {
        serde_json::from_slice(&request.body).map_err(|e| {
            ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
        })?
    };
    Ok(value)
}

fn check_kind(rt: &ResourceType, object: &Value) -> Result<(), ApiError> {
    let kind = object["kind"].as_str().unwrap_or_default();
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    if (!kind.is_empty() && kind != rt.kind)
        || (!api_version.is_empty() && api_version != rt.api_version())
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            rt.api_version()
        )));
    }
    if !object.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request is not a JSON object",
        ));
    }
    Ok(())
}

/// Validates a (defaulted) write as the registry strategies do: every kind's `metadata`
/// and the spec rules of built-ins ([`validation`]), a custom resource's CRD schema
/// (pruned and defaulted, `fieldValidation=Strict`: unknown fields are a 400, as
/// upstream's strict decoding). All field errors come back in one 422.
fn admit(
    request: &Request,
    name: &str,
    object: Value,
    old: Option<&Value>,
) -> Result<Value, ApiError> {
    let rt = &request.target.rt;
    let mut errors = validation::errors(rt, &object, old);
    let Some(compiled) = rt.compiled.as_ref().filter(|_| rt.custom) else {
        if !errors.is_empty() {
            return Err(validation::rejection(rt, name, &errors));
        }
        if request.params.get("fieldValidation") == Some("Strict") {
            strict_decoding(rt, &openapi::schemas::unknown_fields(rt, &object))?;
        }
        return Ok(object);
    };
    let admitted = match compiled.admit(object, old) {
        Ok(admitted) if errors.is_empty() => admitted,
        Ok(_) => return Err(validation::rejection(rt, name, &errors)),
        Err(schema_errors) => {
            errors.extend(schema_errors);
            return Err(validation::rejection(rt, name, &errors));
        }
    };
    if request.params.get("fieldValidation") == Some("Strict") {
        strict_decoding(rt, &admitted.unknown_fields)?;
    }
    Ok(admitted.object)
}

/// `fieldValidation=Strict` with unknown fields: upstream's strict decoding error (400).
fn strict_decoding(rt: &ResourceType, unknown: &[String]) -> Result<(), ApiError> {
    if unknown.is_empty() {
        return Ok(());
    }
    let fields: Vec<String> = unknown
        .iter()
        .map(|f| format!("unknown field \"{f}\""))
        .collect();
    Err(ApiError::bad_request(format!(
        "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
        fields.join(", "),
        kind = rt.kind,
        version = rt.version
    )))
}

fn check_namespace(world: &World, rt: &ResourceType, namespace: &str) -> Result<(), ApiError> {
    if !rt.namespaced {
        return Ok(());
    }
    match lifecycle::namespace_state(world, namespace) {
        NamespaceState::Active => Ok(()),
        NamespaceState::Terminating => Err(ApiError {
            code: 403,
            reason: "Forbidden",
            message: format!(
                "{} is forbidden: unable to create new content in namespace {namespace} because it is being terminated",
                rt.qualified_resource()
            ),
            details: None,
        }),
        NamespaceState::Missing => Err(ApiError::namespace_not_found(namespace)),
    }
}

/// Creates `object` (already parsed) in the target namespace.
fn create_object(
    world: &mut World,
    request: &Request,
    mut object: Value,
    manager: &Manager<'_>,
) -> Reply {
    let rt = Arc::clone(&request.target.rt);
    check_kind(&rt, &object)?;
    let url_ns = request.target.namespace.clone().unwrap_or_default();
    if rt.namespaced {
        if url_ns.is_empty() {
            return Err(ApiError::bad_request(
                "the namespace of the object must be given in the URL",
            ));
        }
        match object["metadata"]["namespace"].as_str() {
            Some(ns) if !ns.is_empty() && ns != url_ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            _ => object["metadata"]["namespace"] = Value::String(url_ns.clone()),
        }
    } else if let Some(meta) = object["metadata"].as_object_mut() {
        meta.remove("namespace");
    }
    check_namespace(world, &rt, &url_ns)?;
    let uid = world.new_uid();
    let mut name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if name.is_empty() {
        let prefix = object["metadata"]["generateName"]
            .as_str()
            .unwrap_or_default();
        if prefix.is_empty() {
            return Err(ApiError::invalid(
                &rt,
                "",
                &[FieldError {
                    path: "metadata.name".to_owned(),
                    kind: FieldErrorKind::Required,
                    value: None,
                    detail: "name or generateName is required".to_owned(),
                }],
            ));
        }
        name = format!("{prefix}{}", meta::name_suffix(&uid));
        object["metadata"]["name"] = Value::String(name.clone());
    }
    let mut object = meta::prepare_create(&rt, object, uid, &now_timestamp());
    defaults::apply(&rt, &mut object, None, || world.next_cluster_ip());
    object = events_conversion::normalize(&rt, admit(request, &name, object, None)?);
    if world.contains(&rt.store_key(), &url_ns, &name) {
        return Err(ApiError::already_exists(&rt, &name));
    }
    if let Manager::Update(m) = manager {
        object = patch::record_update(None, object, m, None);
    }
    if rt.store_key() == lifecycle::CRD_KEY {
        lifecycle::establish_crd(&mut object, &now_timestamp());
    }
    let object = events_conversion::to_storage(&rt, object);
    lifecycle::check_stored_size(&object)?;
    if request.params.dry_run() {
        return Ok((StatusCode::CREATED, served(&rt, object)));
    }
    let stored = lifecycle::store(world, &rt.store_key(), object);
    Ok((StatusCode::CREATED, served(&rt, stored)))
}

/// Stores `new` over `old` with every update rule applied.
fn update_object(
    shared: &Shared,
    world: &mut World,
    request: &Request,
    old: &Value,
    new: Value,
    manager: &Manager<'_>,
) -> Reply {
    let rt = Arc::clone(&request.target.rt);
    let name = request.target.name.clone().unwrap_or_default();
    let subresource = request.target.subresource.as_deref();
    let old_rv = old["metadata"]["resourceVersion"].clone();
    if let Some(rv) = new["metadata"]["resourceVersion"].as_str()
        && !rv.is_empty()
        && Some(rv) != old_rv.as_str()
    {
        return Err(ApiError::conflict(&rt, &name));
    }
    // Decoding defaults a write before the strategy compares it with the stored object:
    // the built-in kinds' defaults, and a custom resource's schema defaults.
    let mut new = new;
    defaults::apply(&rt, &mut new, Some(old), || world.next_cluster_ip());
    if let Some(compiled) = rt.compiled.as_ref().filter(|_| rt.custom) {
        compiled.apply_defaults(&mut new);
    }
    let mut prepared = meta::prepare_update(&rt, old, new, subresource);
    prepared = events_conversion::normalize(&rt, admit(request, &name, prepared, Some(old))?);
    if meta::is_deleting(old) {
        let added = meta::added_finalizers(old, &prepared);
        if !added.is_empty() {
            let list: Vec<String> = added.iter().map(|f| format!("{f:?}")).collect();
            return Err(ApiError::forbidden_field(
                &rt,
                &name,
                "metadata.finalizers",
                &format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                    list.join(", ")
                ),
            ));
        }
    }
    if let Manager::Update(m) = manager {
        prepared = patch::record_update(Some(old), prepared, m, subresource);
    }
    if rt.store_key() == lifecycle::CRD_KEY {
        lifecycle::establish_crd(&mut prepared, &now_timestamp());
        if let Some(conditions) = old["status"].get("conditions") {
            prepared["status"]["conditions"] = conditions.clone();
        }
    }
    prepared["metadata"]["resourceVersion"] = old_rv;
    let unchanged = prepared == *old;
    let prepared = events_conversion::to_storage(&rt, prepared);
    lifecycle::check_stored_size(&prepared)?;
    if unchanged || request.params.dry_run() {
        return Ok((StatusCode::OK, served(&rt, prepared)));
    }
    let stored = lifecycle::store(world, &rt.store_key(), prepared);
    if let Some(gone) = lifecycle::finish_if_released(world, &rt, &stored) {
        shared.gc.everything();
        return Ok((StatusCode::OK, served(&rt, gone)));
    }
    Ok((StatusCode::OK, served(&rt, stored)))
}

/// `POST` on a collection.
pub fn create(shared: &Arc<Shared>, request: &Request) -> Reply {
    if request.target.name.is_some() {
        return Err(ApiError::method_not_allowed());
    }
    let object = parse_body(request)?;
    let mut world = shared.store.lock();
    let reply = create_object(
        &mut world,
        request,
        object,
        &Manager::Update(&request.manager),
    );
    wake_collector_for_owned(shared, request, reply)
}

/// Wakes the garbage collector when the object a write stored has owner references:
/// kube-controller-manager's collector watches every object, so a dependent written
/// after its owner is gone (a late create of a controller's pass, an ownerReference to
/// a uid that never existed) is collected without waiting for another delete. It looks
/// at that object only ([`crate::gc::Wakeups::written`]). A CRD write makes it look at
/// everything: a dependent kept because its owner's kind was not served (the real
/// collector requeues it) may now be resolvable.
fn wake_collector_for_owned(shared: &Shared, request: &Request, reply: Reply) -> Reply {
    if let Ok((_, object)) = &reply {
        let key = request.target.rt.store_key();
        if key == lifecycle::CRD_KEY {
            shared.gc.everything();
        } else if !meta::owner_uids(object).is_empty() {
            let (namespace, name) = super::store::namespace_and_name(object);
            shared.gc.written(&key, &namespace, &name);
        }
    }
    reply
}

/// The stored object a request names, in the form of the request's API (updates and
/// patches apply to that form: an events.k8s.io patch sets `note`, not `message`).
pub(crate) fn stored_object(world: &World, request: &Request) -> Option<Value> {
    let target = &request.target;
    world
        .get(
            &target.rt.store_key(),
            target.namespace.as_deref().unwrap_or_default(),
            target.name.as_deref().unwrap_or_default(),
        )
        .cloned()
        .map(|object| events_conversion::from_storage(&target.rt, object))
}

/// `PUT` on an object (or its `/status`).
pub fn update(shared: &Arc<Shared>, request: &Request) -> Reply {
    let new = parse_body(request)?;
    check_kind(&request.target.rt, &new)?;
    check_body_name(&new, request.target.name.as_deref().unwrap_or_default())?;
    replace(shared, request, |_| new)
}

/// Replaces the stored object the request names with what `change` makes of it (both
/// in the form of the request's API), as a non-apply write by the request's manager
/// under every update rule: a `PUT`, or a write of a `Scale` to its parent
/// ([`crate::scale`]). 404 when nothing is stored under that name.
pub(crate) fn replace(
    shared: &Arc<Shared>,
    request: &Request,
    change: impl FnOnce(&Value) -> Value,
) -> Reply {
    let mut world = shared.store.lock();
    let old = stored_object(&world, request).ok_or_else(|| {
        ApiError::not_found(
            &request.target.rt,
            request.target.name.as_deref().unwrap_or_default(),
        )
    })?;
    let new = change(&old);
    let reply = update_object(
        shared,
        &mut world,
        request,
        &old,
        new,
        &Manager::Update(&request.manager),
    );
    wake_collector_if_owners_changed(shared, request, &old, reply)
}

/// 400 when the body of a PUT names another object than its URL.
pub(crate) fn check_body_name(body: &Value, name: &str) -> Result<(), ApiError> {
    match body["metadata"]["name"].as_str() {
        Some(body_name) if body_name != name => Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        ))),
        _ => Ok(()),
    }
}

/// As [`wake_collector_for_owned`] for an update, only when it changed the owner
/// references or is a CRD's (status writes of owned objects do not wake it).
fn wake_collector_if_owners_changed(
    shared: &Shared,
    request: &Request,
    old: &Value,
    reply: Reply,
) -> Reply {
    match &reply {
        Ok((_, new))
            if meta::owner_uids(new) != meta::owner_uids(old)
                || request.target.rt.store_key() == lifecycle::CRD_KEY =>
        {
            wake_collector_for_owned(shared, request, reply)
        }
        _ => reply,
    }
}

/// The patch type of a `Content-Type`.
pub(crate) fn patch_kind(content_type: &str) -> Option<PatchKind> {
    let base = content_type.split(';').next().unwrap_or_default().trim();
    match base {
        "application/merge-patch+json" => Some(PatchKind::Merge),
        "application/json-patch+json" => Some(PatchKind::Json),
        "application/strategic-merge-patch+json" => Some(PatchKind::Strategic),
        "application/apply-patch+yaml" | "application/apply-patch+json" => Some(PatchKind::Apply),
        _ => None,
    }
}

/// The status of a failed patch.
pub(crate) fn patch_error(rt: &ResourceType, name: &str, error: PatchError) -> ApiError {
    match error {
        PatchError::Conflict(conflicts) => {
            let fields: Vec<(String, String)> = conflicts
                .into_iter()
                .map(|c| (c.manager, c.field))
                .collect();
            ApiError::apply_conflict(rt, name, &fields)
        }
        PatchError::Invalid(message) | PatchError::TestFailed(message) => ApiError {
            code: 422,
            reason: "Invalid",
            message: format!(
                "the server rejected our request due to an error in our request: {message}"
            ),
            details: None,
        },
    }
}

/// `PATCH` on an object (or its `/status`).
pub fn patch(shared: &Arc<Shared>, request: &Request) -> Reply {
    let rt = Arc::clone(&request.target.rt);
    let name = request.target.name.clone().unwrap_or_default();
    let kind = patch_kind(&request.content_type)
        .ok_or_else(|| ApiError::unsupported_media_type(&request.content_type))?;
    if kind == PatchKind::Strategic && rt.custom {
        return Err(ApiError::unsupported_media_type(&request.content_type));
    }
    let body = parse_body(request)?;
    if kind == PatchKind::Apply && request.params.get("fieldManager").is_none() {
        return Err(ApiError {
            code: 422,
            reason: "Invalid",
            message: "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"
                .to_owned(),
            details: None,
        });
    }
    let mut world = shared.store.lock();
    let old = stored_object(&world, request);
    let options = ApplyOptions {
        manager: &request.manager,
        force: request.params.flag("force"),
        subresource: request.target.subresource.as_deref(),
        gvk: &rt.gvk(),
        schema: rt.schema.as_ref(),
    };
    let Some(old) = old else {
        if kind != PatchKind::Apply || request.target.subresource.is_some() {
            return Err(ApiError::not_found(&rt, &name));
        }
        check_kind(&rt, &body)?;
        let mut created = patch::server_side_apply(None, &body, &options)
            .map_err(|e| patch_error(&rt, &name, e))?;
        created["metadata"]["name"] = Value::String(name);
        let reply = create_object(&mut world, request, created, &Manager::Applied);
        return wake_collector_for_owned(shared, request, reply);
    };
    let (new, manager) = match kind {
        PatchKind::Merge => (patch::merge(&old, &body), Manager::Update(&request.manager)),
        PatchKind::Json => (
            patch::json(&old, &body).map_err(|e| patch_error(&rt, &name, e))?,
            Manager::Update(&request.manager),
        ),
        PatchKind::Strategic => (
            patch::strategic(&old, &body, &rt.gvk()).map_err(|e| patch_error(&rt, &name, e))?,
            Manager::Update(&request.manager),
        ),
        PatchKind::Apply => {
            check_kind(&rt, &body)?;
            (
                patch::server_side_apply(Some(&old), &body, &options)
                    .map_err(|e| patch_error(&rt, &name, e))?,
                Manager::Applied,
            )
        }
    };
    let reply = update_object(shared, &mut world, request, &old, new, &manager);
    wake_collector_if_owners_changed(shared, request, &old, reply)
}
