//! `metav1.Status` failure objects in the exact shape the real API server sends, and
//! the error type the request handlers return.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::resources::ResourceType;
use super::schema::{FieldError, FieldErrorKind};

/// A failed request, rendered as a `Status` object.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// `reason`, like `NotFound`.
    pub reason: &'static str,
    /// Human-readable message.
    pub message: String,
    /// `details`, when the real server sends them.
    pub details: Option<Value>,
}

fn details(rt: &ResourceType, name: &str, kind: &str) -> Value {
    let mut d = json!({ "name": name, "kind": kind });
    if !rt.group.is_empty() {
        d["group"] = json!(rt.group);
    }
    d
}

impl ApiError {
    pub(crate) fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    /// A failure about one object, with `details` naming it by resource (`{name, group,
    /// kind: <plural>}`), as `NewNotFound`, `NewAlreadyExists` and `NewConflict` do.
    fn about(
        rt: &ResourceType,
        name: &str,
        code: u16,
        reason: &'static str,
        message: String,
    ) -> Self {
        Self {
            details: Some(details(rt, name, &rt.plural)),
            ..Self::new(code, reason, message)
        }
    }

    /// 404 `NotFound`: `deployments.apps "x" not found`.
    pub fn not_found(rt: &ResourceType, name: &str) -> Self {
        let message = format!("{} \"{name}\" not found", rt.qualified_resource());
        Self::about(rt, name, 404, "NotFound", message)
    }

    /// 404 for a namespace that does not exist.
    pub fn namespace_not_found(namespace: &str) -> Self {
        Self {
            details: Some(json!({ "name": namespace, "kind": "namespaces" })),
            ..Self::new(
                404,
                "NotFound",
                format!("namespaces \"{namespace}\" not found"),
            )
        }
    }

    /// 404 for a URL that names no served resource.
    pub fn no_route(path: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("the server could not find the requested resource ({path})"),
        )
    }

    /// 409 `AlreadyExists`.
    pub fn already_exists(rt: &ResourceType, name: &str) -> Self {
        let message = format!("{} \"{name}\" already exists", rt.qualified_resource());
        Self::about(rt, name, 409, "AlreadyExists", message)
    }

    /// 409 `Conflict` for a stale `resourceVersion`.
    pub fn conflict(rt: &ResourceType, name: &str) -> Self {
        let message = format!(
            "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
             please apply your changes to the latest version and try again",
            rt.qualified_resource()
        );
        Self::about(rt, name, 409, "Conflict", message)
    }

    /// 409 `Conflict` from server-side apply, listing the conflicting fields.
    pub fn apply_conflict(rt: &ResourceType, name: &str, fields: &[(String, String)]) -> Self {
        let causes: Vec<Value> = fields
            .iter()
            .map(|(manager, field)| {
                json!({"reason": "FieldManagerConflict", "message": format!("conflict with \"{manager}\""), "field": field})
            })
            .collect();
        let listed: Vec<String> = fields.iter().map(|(m, f)| format!("- {m}: {f}")).collect();
        let mut d = details(rt, name, &rt.plural);
        d["causes"] = Value::Array(causes);
        Self {
            details: Some(d),
            ..Self::new(
                409,
                "Conflict",
                format!(
                    "Apply failed with {} conflict(s): {}",
                    fields.len(),
                    listed.join(", ")
                ),
            )
        }
    }

    /// 422 `Invalid` from field errors, formatted like `field.ErrorList.ToAggregate()`.
    pub fn invalid(rt: &ResourceType, name: &str, errors: &[FieldError]) -> Self {
        Self::invalid_kind(&rt.group, &rt.kind, name, errors)
    }

    /// [`Self::invalid`] naming the group and kind explicitly (`NewInvalid(GroupKind, …)`):
    /// one cause per error; the message lists each distinct error once, as
    /// `ToAggregate` does.
    pub fn invalid_kind(group: &str, kind: &str, name: &str, errors: &[FieldError]) -> Self {
        let causes: Vec<Value> = errors
            .iter()
            .map(|e| json!({"reason": e.reason(), "message": e.body(), "field": e.path}))
            .collect();
        let mut lines: Vec<String> = Vec::new();
        for line in errors.iter().map(FieldError::message) {
            if !lines.contains(&line) {
                lines.push(line);
            }
        }
        let summary = match lines.as_slice() {
            [] => String::new(),
            [one] => format!(": {one}"),
            many => format!(": [{}]", many.join(", ")),
        };
        let mut d = json!({ "name": name, "kind": kind, "causes": causes });
        let qualified = if group.is_empty() {
            kind.to_owned()
        } else {
            d["group"] = json!(group);
            format!("{kind}.{group}")
        };
        Self {
            details: Some(d),
            ..Self::new(
                422,
                "Invalid",
                format!("{qualified} \"{name}\" is invalid{summary}"),
            )
        }
    }

    /// 422 `Invalid` with a single `FieldValueForbidden` cause.
    pub fn forbidden_field(rt: &ResourceType, name: &str, field: &str, detail: &str) -> Self {
        Self::invalid(
            rt,
            name,
            &[FieldError::new(
                FieldErrorKind::Forbidden,
                field,
                None,
                detail,
            )],
        )
    }

    /// 400 `BadRequest`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 405 `MethodNotAllowed`.
    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
    }

    /// 415 `UnsupportedMediaType`.
    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {content_type})"
            ),
        )
    }

    /// 410 `Expired` for a too old `resourceVersion`.
    pub fn expired(requested: u64, oldest: u64) -> Self {
        Self::new(
            410,
            "Expired",
            format!("too old resource version: {requested} ({oldest})"),
        )
    }

    /// 413 `RequestEntityTooLarge` for a body over `limit` bytes (the apiserver handlers'
    /// `limitedReadBody` with `MaxRequestBodyBytes`).
    pub fn request_entity_too_large(limit: usize) -> Self {
        Self::new(
            413,
            "RequestEntityTooLarge",
            format!("Request entity too large: limit is {limit}"),
        )
    }

    /// What kube-apiserver answers when etcd refuses an object over its request limit: the
    /// etcd error is not a `Status`, so it becomes a 500 with no `reason` (kubernetes
    /// issues 74600, 112152).
    pub fn etcd_request_too_large() -> Self {
        Self::new(500, "", "etcdserver: request is too large")
    }

    /// 500 `InternalError`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    /// An injected failure with any status code: the reason the API server gives that
    /// code, and `message` (default `injected failure (HTTP <code>)`).
    pub fn injected(code: u16, message: Option<String>) -> Self {
        let reason = match code {
            401 => "Unauthorized",
            403 => "Forbidden",
            422 => "Invalid",
            409 => "Conflict",
            410 => "Expired",
            429 => "TooManyRequests",
            503 => "ServiceUnavailable",
            504 => "Timeout",
            400 => "BadRequest",
            404 => "NotFound",
            _ => "InternalError",
        };
        let message = message.unwrap_or_else(|| format!("injected failure (HTTP {code})"));
        Self::new(code, reason, message)
    }

    /// The `Status` object.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if self.reason.is_empty() {
            // `StatusReasonUnknown` is "", which the server's JSON leaves out.
            status.as_object_mut().map(|s| s.remove("reason"));
        }
        if let Some(d) = &self.details {
            status["details"] = d.clone();
        }
        status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        super::server::json_response(code, &self.to_status())
    }
}
