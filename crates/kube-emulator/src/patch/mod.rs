//! Patch engines of the emulator: JSON merge, JSON patch, strategic merge and
//! server-side apply (with `metadata.managedFields`). Pure functions over `serde_json::Value`.
//!
//! Layout: `json` (RFC 6902), `strategic` (strategic merge patch), `apply` (server-side
//! apply and the ownership of other writes), `fields` (field paths and `FieldsV1`),
//! `managed` (`managedFields` entries), `shape` (list keys of built-in kinds and CRDs).
//!
//! Defaulting runs after the engines (`crate::defaults`), as upstream; an absent list key
//! field with a schema default (a port's `protocol: TCP`) takes that default when items are
//! matched. Known gaps against kube-apiserver: no conversion between versions before
//! merging; `$setElementOrder` is accepted but does not reorder; unions and
//! `x-kubernetes-preserve-unknown-fields` get no special treatment; apply entries are keyed
//! by (manager, operation, subresource), ignoring the API version of `Update` entries.

use serde_json::Value;

mod apply;
mod fields;
mod json;
mod managed;
mod shape;
mod strategic;
#[cfg(test)]
mod tests;

/// Which kind of PATCH a request carries, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// `application/merge-patch+json` (RFC 7386).
    Merge,
    /// `application/json-patch+json` (RFC 6902).
    Json,
    /// `application/strategic-merge-patch+json` (built-in kinds only).
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
}

/// Why a patch could not be applied; the server maps these to HTTP statuses.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// The patch document is malformed (HTTP 400 / 422).
    #[error("invalid patch: {0}")]
    Invalid(String),
    /// A JSON patch `test` operation failed (HTTP 422).
    #[error("the test operation failed: {0}")]
    TestFailed(String),
    /// Server-side apply conflicts with fields owned by other managers (HTTP 409).
    #[error("apply conflicts with other field managers")]
    Conflict(Vec<ApplyConflict>),
}

/// One field that another manager owns with a different value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyConflict {
    /// The manager that owns the field.
    pub manager: String,
    /// The field path, like `.spec.replicas`.
    pub field: String,
}

/// How a server-side apply should treat the request.
#[derive(Debug, Clone, Copy)]
pub struct ApplyOptions<'a> {
    /// `fieldManager` query parameter (required for apply).
    pub manager: &'a str,
    /// `force=true`: take ownership of conflicting fields instead of failing.
    pub force: bool,
    /// `Some("status")` when the request targets the status subresource.
    pub subresource: Option<&'a str>,
    /// `group/version/Kind` of the object, e.g. `apps/v1/Deployment` or `v1/Service`,
    /// used to find the list keys of built-in kinds.
    pub gvk: &'a str,
    /// The CRD's `openAPIV3Schema` for custom resources (list types and map keys
    /// come from `x-kubernetes-list-type` / `x-kubernetes-list-map-keys`).
    pub schema: Option<&'a Value>,
}

/// JSON merge patch (RFC 7386): `null` removes a key, objects merge, everything else replaces.
pub fn merge(current: &Value, patch: &Value) -> Value {
    let mut out = current.clone();
    json_patch::merge(&mut out, patch);
    out
}

/// JSON patch (RFC 6902) as the API server applies it: a `test` on an absent path
/// compares the value with `null`.
pub fn json(current: &Value, patch: &Value) -> Result<Value, PatchError> {
    json::apply(current, patch)
}

/// Strategic merge patch for built-in kinds: lists with a patch merge key
/// (containers, env, ports, volumes, …) merge by key; `$patch: delete|replace` honoured.
/// Custom resources get [`PatchError::Invalid`] (the real server answers 415).
pub fn strategic(current: &Value, patch: &Value, gvk: &str) -> Result<Value, PatchError> {
    strategic::apply(current, patch, gvk)
}

/// Server-side apply: merges `applied` into `live`, records the manager's field set in
/// `metadata.managedFields`, removes fields this manager applied before and no longer
/// applies (unless another manager also owns them), and reports conflicts unless forced.
/// Applying the same configuration again returns an object equal to `live`, byte for byte.
pub fn server_side_apply(
    live: Option<&Value>,
    applied: &Value,
    options: &ApplyOptions<'_>,
) -> Result<Value, PatchError> {
    apply::server_side_apply(live, applied, options)
}

/// Records a non-apply write (create, update, merge/JSON/strategic patch) by `manager` in
/// `metadata.managedFields` of `new`: the manager gains the fields it changed, and other
/// managers lose them, as the real server does for `Update` operations.
///
/// Lists are keyed from the built-in table only; for custom resources use
/// [`record_update_with_schema`] so keyed lists match what server-side apply recorded.
pub fn record_update(
    old: Option<&Value>,
    new: Value,
    manager: &str,
    subresource: Option<&str>,
) -> Value {
    apply::record_update(old, new, manager, subresource, None)
}

/// [`record_update`] for custom resources: `schema` is the CRD version's
/// `openAPIV3Schema`, whose `x-kubernetes-list-type`/`-list-map-keys` key the lists.
pub fn record_update_with_schema(
    old: Option<&Value>,
    new: Value,
    manager: &str,
    subresource: Option<&str>,
    schema: Option<&Value>,
) -> Value {
    apply::record_update(old, new, manager, subresource, schema)
}
