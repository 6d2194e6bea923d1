//! One closed set of error categories for every controller ([`Category`]) and the trait
//! each controller's error implements ([`ReconcileError`]): the category is the label of
//! `tiered_reconcile_errors_total`, gives the CamelCase reason of Events and conditions,
//! and the whole source chain is what logs, Events and conditions show. Pure.
//!
//! Labels are fixed strings so that dashboards and alerts keep working; a new category
//! is a new variant here, never a string made up at a call site.

use std::error::Error as StdError;
use std::fmt::Write as _;

use crate::aws::errors::ErrorKind;

/// Why a reconcile failed, as a fixed metric label and Event reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Category {
    /// The object cannot be read as its kind (no namespace/uid, wrong types).
    InvalidObject,
    /// A Kubernetes API call failed.
    Kubernetes,
    /// A write lost a race (HTTP 409 from Kubernetes, or AWS' conflict errors).
    Conflict,
    /// Reading an object this one depends on failed.
    Fetch,
    /// Server-side apply of a child failed.
    Apply,
    /// Deleting a child that is no longer desired failed.
    Prune,
    /// Writing the status failed.
    Status,
    /// A bug or an impossible state of the operator itself.
    Internal,
    /// Deletion in AWS is under way (or held by `deletionProtection`); the finalizer stays
    /// until it is done. Routine: logged, not counted in `tiered_reconcile_errors_total`.
    DeletionPending,
    /// AWS: throttling, 5xx, timeouts (retry as is).
    Transient,
    /// AWS refused the request as invalid.
    InvalidInput,
    /// AWS: a quota or limit was reached.
    Quota,
    /// AWS: IAM denied the call.
    AccessDenied,
    /// AWS: the resource does not exist.
    NotFound,
    /// AWS: an error the classifier does not know.
    Unknown,
    /// The spec asks for something only the operator can see is wrong.
    InvalidSpec,
    /// The spec asks for a change AWS cannot make in place.
    UnsupportedChange,
    /// The AWS resource belongs to another owner.
    OwnedElsewhere,
    /// Adoption is not allowed here.
    AdoptionNotAllowed,
    /// The AWS resource is in a state a person must fix.
    AwsState,
    /// Deletion waits until the user turns deletion protection off.
    DeletionProtected,
}

impl Category {
    /// The metric label (`tiered_reconcile_errors_total{category}`), snake_case.
    pub const fn label(self) -> &'static str {
        match self {
            Self::InvalidObject => "invalid_object",
            Self::Kubernetes => "kubernetes",
            Self::Conflict => "conflict",
            Self::Fetch => "fetch",
            Self::Apply => "apply",
            Self::Prune => "prune",
            Self::Status => "status",
            Self::Internal => "internal",
            Self::DeletionPending => "deletion_pending",
            Self::Transient => "transient",
            Self::InvalidInput => "invalid_input",
            Self::Quota => "quota",
            Self::AccessDenied => "access_denied",
            Self::NotFound => "not_found",
            Self::Unknown => "unknown",
            Self::InvalidSpec => "invalid_spec",
            Self::UnsupportedChange => "unsupported_change",
            Self::OwnedElsewhere => "owned_elsewhere",
            Self::AdoptionNotAllowed => "adoption_not_allowed",
            Self::AwsState => "aws_state",
            Self::DeletionProtected => "deletion_protected",
        }
    }

    /// The CamelCase reason of an Event about an error of this category.
    pub const fn reason(self) -> &'static str {
        match self {
            Self::InvalidObject => "InvalidObject",
            Self::Kubernetes => "KubernetesError",
            Self::Conflict => "Conflict",
            Self::Fetch => "FetchFailed",
            Self::Apply => "ApplyFailed",
            Self::Prune => "PruneFailed",
            Self::Status => "StatusWriteFailed",
            Self::Internal => "InternalError",
            Self::DeletionPending => "DeletionPending",
            Self::Transient => "AWSTransientError",
            Self::InvalidInput => "AWSInvalidInput",
            Self::Quota => "AWSQuotaExceeded",
            Self::AccessDenied => "AWSAccessDenied",
            Self::NotFound => "AWSNotFound",
            Self::Unknown => "AWSError",
            Self::InvalidSpec => "InvalidSpec",
            Self::UnsupportedChange => "UnsupportedChange",
            Self::OwnedElsewhere => "OwnedElsewhere",
            Self::AdoptionNotAllowed => "AdoptionNotAllowed",
            Self::AwsState => "AWSStateNeedsAction",
            Self::DeletionProtected => "DeletionProtected",
        }
    }

    /// The category of a classified AWS error.
    pub const fn from_aws(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::Transient => Self::Transient,
            ErrorKind::InvalidInput => Self::InvalidInput,
            ErrorKind::Quota => Self::Quota,
            ErrorKind::AccessDenied => Self::AccessDenied,
            ErrorKind::NotFound => Self::NotFound,
            ErrorKind::Conflict => Self::Conflict,
            ErrorKind::Unknown => Self::Unknown,
        }
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// What every controller's reconcile error offers the shared runtime: its category and
/// its message with every cause.
pub trait ReconcileError: StdError + 'static {
    /// The fixed category of this error.
    fn category(&self) -> Category;

    /// The error and its causes on one line (`failed to apply Service a: 409 …`), for
    /// logs, condition messages and Events. Messages never carry secret values.
    fn chain(&self) -> String
    where
        Self: Sized,
    {
        chain(self)
    }
}

/// `error` and its sources joined by `": "`. A source whose message the text already
/// ends with is not repeated: some errors both print their cause and return it as
/// their source (kube-runtime's `finalizer::Error::CleanupFailed` does), which read
/// "X: X" before.
pub fn chain(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let message = inner.to_string();
        if !text.ends_with(&message) {
            let _ = write!(text, ": {message}");
        }
        cause = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("failed to apply Service a")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("409 Conflict")]
    struct Inner;

    #[test]
    fn the_chain_names_every_cause_in_order() {
        assert_eq!(
            chain(&Outer(Inner)),
            "failed to apply Service a: 409 Conflict"
        );
    }

    #[derive(Debug, thiserror::Error)]
    #[error("failed to clean up object: {0}")]
    struct Printing(#[source] Outer);

    /// Found by the outside trial of session 8: the finalizer's wait was logged as
    /// "failed to finish deletion yet: X: failed to finish deletion yet: X".
    #[test]
    fn a_cause_the_error_already_prints_is_not_repeated() {
        assert_eq!(
            chain(&Printing(Outer(Inner))),
            "failed to clean up object: failed to apply Service a: 409 Conflict"
        );
    }

    #[test]
    fn aws_kinds_keep_the_labels_they_had() {
        for kind in [
            ErrorKind::Transient,
            ErrorKind::InvalidInput,
            ErrorKind::Quota,
            ErrorKind::AccessDenied,
            ErrorKind::NotFound,
            ErrorKind::Conflict,
            ErrorKind::Unknown,
        ] {
            assert_eq!(Category::from_aws(kind).label(), kind.category());
        }
    }
}
