//! Patch engines of the emulator: JSON merge, JSON patch, strategic merge and
//! server-side apply (with `metadata.managedFields`). Pure functions over `serde_json::Value`.

use serde_json::Value;

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
