//! HTTP routing: turns a request URL into a discovery answer or a (verb, resource,
//! namespace, name, subresource) target, applies injected faults, logs the request,
//! and hands the target to the verb handlers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::faults::RequestRecord;
use super::resources::ResourceType;
use super::status::ApiError;
use super::{Shared, discovery, read, scale, watch, write};

/// `MaxRequestBodyBytes` of kube-apiserver (3 MiB): a larger body is refused with 413
/// before it is decoded. (axum's own default limit, 2 MB, would answer a bare 413 with
/// no `Status`, and too early.)
pub const MAX_REQUEST_BODY_BYTES: usize = 3 * 1024 * 1024;

/// Query parameters of a request.
#[derive(Debug, Clone, Default)]
pub struct Params(HashMap<String, String>);

impl Params {
    /// A parameter's value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Whether a boolean parameter is set (`true` or `1`).
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1"))
    }

    /// `dryRun=All`.
    pub fn dry_run(&self) -> bool {
        self.get("dryRun") == Some("All")
    }
}

/// The resource a request addresses.
#[derive(Debug, Clone)]
pub struct Target {
    /// The served resource.
    pub rt: Arc<ResourceType>,
    /// Namespace from the URL (`None`: cluster-scoped or across namespaces).
    pub namespace: Option<String>,
    /// Object name from the URL.
    pub name: Option<String>,
    /// Subresource, like `status`.
    pub subresource: Option<String>,
}

/// Everything a verb handler needs from the request.
#[derive(Debug)]
pub struct Request {
    /// Where it goes.
    pub target: Target,
    /// Query parameters.
    pub params: Params,
    /// `Content-Type` header.
    pub content_type: String,
    /// `Accept` header (`as=Table` asks for a Table, see [`crate::table`]).
    pub accept: String,
    /// Field manager: `fieldManager` or the user agent's product name.
    pub manager: String,
    /// Request body.
    pub body: Bytes,
}

/// A JSON response.
pub fn json_response(code: StatusCode, value: &Value) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_default();
    (code, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

enum Route {
    NonResource,
    Resource(Target),
}

fn split_path(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// Finds the target of a resource URL like `/apis/apps/v1/namespaces/x/deployments/y`.
fn resolve(shared: &Shared, path: &str) -> Result<Route, ApiError> {
    let parts = split_path(path);
    let (group, version, rest) = match parts.as_slice() {
        ["api", "v1", rest @ ..] if !rest.is_empty() => ("", "v1", rest),
        ["apis", g, v, rest @ ..] if !rest.is_empty() => (*g, *v, rest),
        _ => return Ok(Route::NonResource),
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, plural, tail @ ..]
            if !(group.is_empty()
                && tail.is_empty()
                && matches!(*plural, "status" | "finalize")) =>
        {
            (Some((*ns).to_owned()), {
                let mut v = vec![*plural];
                v.extend_from_slice(tail);
                v
            })
        }
        other => (None, other.to_vec()),
    };
    let world = shared.store.lock();
    let (plural, name, subresource) = match rest.as_slice() {
        [plural] => (*plural, None, None),
        [plural, name] => (*plural, Some(*name), None),
        [plural, name, sub] => (*plural, Some(*name), Some(*sub)),
        _ => return Err(ApiError::no_route(path)),
    };
    let rt = world
        .registry
        .find(group, version, plural)
        .ok_or_else(|| ApiError::no_route(path))?;
    if namespace.is_some() && !rt.namespaced {
        return Err(ApiError::no_route(path));
    }
    if let Some(sub) = subresource
        && !((sub == "status" && rt.status_subresource) || (sub == "scale" && rt.scale.is_some()))
    {
        return Err(ApiError::no_route(path));
    }
    Ok(Route::Resource(Target {
        rt,
        namespace,
        name: name.map(str::to_owned),
        subresource: subresource.map(str::to_owned),
    }))
}

fn verb_of(method: &Method, target: &Target, params: &Params) -> &'static str {
    match (method.as_str(), target.name.is_some()) {
        ("GET", true) => "get",
        ("GET", false) if params.flag("watch") => "watch",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "unknown",
    }
}

fn user_agent_manager(headers: &HeaderMap) -> String {
    let ua = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown");
    ua.split('/').next().unwrap_or(ua).to_owned()
}

/// The single entry point: every request lands here.
pub async fn dispatch(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let at = Instant::now();
    let wall_time = SystemTime::now();
    let query = query.unwrap_or_default();
    let params = Params(
        serde_urlencoded::from_str::<Vec<(String, String)>>(&query)
            .unwrap_or_default()
            .into_iter()
            .collect(),
    );
    let path = uri.path().to_owned();
    let mut record = RequestRecord {
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
        verb: "discovery".to_owned(),
        group: String::new(),
        resource: String::new(),
        subresource: String::new(),
        namespace: String::new(),
        name: String::new(),
        field_manager: params.get("fieldManager").unwrap_or_default().to_owned(),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
        code: 0,
        at,
        wall_time,
    };
    let Ok(body) = axum::body::to_bytes(body, MAX_REQUEST_BODY_BYTES).await else {
        let response = ApiError::request_entity_too_large(MAX_REQUEST_BODY_BYTES).into_response();
        record.code = response.status().as_u16();
        shared.log.push(record);
        return response;
    };
    let response = match resolve(&shared, &path) {
        Ok(Route::NonResource) => discovery::serve(&shared, &path, &headers),
        Err(e) => e.into_response(),
        Ok(Route::Resource(target)) => {
            let verb = verb_of(&method, &target, &params);
            record.verb = verb.to_owned();
            record.group.clone_from(&target.rt.group);
            record.resource.clone_from(&target.rt.plural);
            record.subresource = target.subresource.clone().unwrap_or_default();
            record.namespace = target.namespace.clone().unwrap_or_default();
            record.name = target.name.clone().unwrap_or_default();
            let delay = shared.faults.latency(verb, &record.resource, &record.name);
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            // A create names its object in the body (as admission sees it), not the URL.
            let fault_name =
                if record.name.is_empty() && verb == "create" && shared.faults.any_scripted() {
                    created_name(&body)
                } else {
                    record.name.clone()
                };
            if let Some(injected) = shared
                .faults
                .take_failure(verb, &record.resource, &fault_name)
            {
                ApiError::injected(injected.code, injected.message).into_response()
            } else {
                let content_type = headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("application/json")
                    .to_owned();
                let manager = params
                    .get("fieldManager")
                    .map_or_else(|| user_agent_manager(&headers), str::to_owned);
                let accept = headers
                    .get(header::ACCEPT)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let request = Request {
                    target,
                    params,
                    content_type,
                    accept,
                    manager,
                    body,
                };
                handle(&shared, verb, &request)
            }
        }
    };
    record.code = response.status().as_u16();
    shared.log.push(record);
    response
}

/// `metadata.name` of a JSON request body, or empty (no name, or not JSON).
fn created_name(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|object| object["metadata"]["name"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Longest `fieldManager` the API server accepts, in bytes (upstream
/// `apimachinery/pkg/api/validation.FieldManagerMaxLength`).
pub const FIELD_MANAGER_MAX_BYTES: usize = 128;

/// The 422 a write gets when its `fieldManager` query parameter is longer than
/// [`FIELD_MANAGER_MAX_BYTES`] or holds a character that is not printable (upstream
/// `ValidateFieldManager`, run on Create-, Update- and PatchOptions).
fn field_manager_error(verb: &str, params: &Params) -> Option<ApiError> {
    let options = match verb {
        "create" => "CreateOptions",
        "update" => "UpdateOptions",
        "patch" => "PatchOptions",
        _ => return None,
    };
    let manager = params.get("fieldManager")?;
    let detail = if manager.len() > FIELD_MANAGER_MAX_BYTES {
        format!("Too long: may not be more than {FIELD_MANAGER_MAX_BYTES} bytes")
    } else {
        let (at, c) = manager
            .char_indices()
            .find(|(_, c)| c.is_control() || (c.is_whitespace() && *c != ' '))?;
        format!(
            "Invalid value: {manager:?}: invalid character U+{:04X} (at position {at})",
            u32::from(c)
        )
    };
    Some(ApiError {
        code: 422,
        reason: "Invalid",
        message: format!("{options}.meta.k8s.io \"\" is invalid: fieldManager: {detail}"),
        details: None,
    })
}

fn handle(shared: &Arc<Shared>, verb: &str, request: &Request) -> Response {
    if let Some(error) = field_manager_error(verb, &request.params) {
        return error.into_response();
    }
    let on_scale = request.target.subresource.as_deref() == Some("scale");
    let result = match verb {
        "get" if on_scale => scale::get(shared, request),
        "update" if on_scale => scale::update(shared, request),
        "patch" if on_scale => scale::patch(shared, request),
        _ if on_scale => Err(ApiError::method_not_allowed()),
        "watch" => return watch::serve(shared, request),
        "get" => read::get(shared, request),
        "list" => read::list(shared, request),
        "create" => write::create(shared, request),
        "update" => write::update(shared, request),
        "patch" => write::patch(shared, request),
        "delete" => write::delete(shared, request),
        "deletecollection" => write::delete_collection(shared, request),
        _ => Err(ApiError::method_not_allowed()),
    };
    match result {
        Ok((code, value)) => json_response(code, &value),
        Err(e) => e.into_response(),
    }
}

/// The router: everything goes to [`dispatch`].
pub fn router(shared: Arc<Shared>) -> axum::Router {
    axum::Router::new().fallback(dispatch).with_state(shared)
}

/// An empty body with a status code (for non-JSON answers).
pub fn plain(code: StatusCode, text: &'static str) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "text/plain")],
        Body::from(text),
    )
        .into_response()
}
