//! Where a data-tier object stands after one reconcile ([`Progress`]), the spec
//! errors only the operator can judge ([`InvalidSpec`]), what a classified AWS
//! error means for the object, and what the [`Phase`] of an AWS resource status
//! means for it (each service maps its own status strings to a phase). Pure.

use crate::api::conditions::reasons;
use crate::aws::errors::{AwsError, ErrorKind};
use crate::runtime::error::Category;

/// Where the object stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Converged and available.
    Ready {
        /// Extra information (pending maintenance-window changes).
        message: String,
    },
    /// AWS is working, or the operator just asked it to: wait and look again.
    InProgress {
        /// Condition reason.
        reason: &'static str,
        /// What is happening.
        message: String,
    },
    /// A retryable failure: back off and retry.
    Transient {
        /// Error category for metrics.
        category: Category,
        /// What failed.
        message: String,
    },
    /// Cannot progress without a change to the spec, IAM or the AWS resource.
    Stalled {
        /// Condition reason.
        reason: &'static str,
        /// Error category for metrics.
        category: Category,
        /// What is wrong and what to do.
        message: String,
    },
}

impl Progress {
    /// AWS is working on the resource (reason `AwsInProgress`).
    pub fn aws_in_progress(message: String) -> Self {
        Self::InProgress {
            reason: reasons::AWS_IN_PROGRESS,
            message,
        }
    }

    /// What a failed AWS call means: stalled on invalid input, quota or IAM (naming
    /// the IAM action to grant), else transient.
    pub fn from_aws_error(error: &AwsError) -> Self {
        let category = Category::from_aws(error.kind);
        let stalled = |reason, message: String| Self::Stalled {
            reason,
            category,
            message,
        };
        match error.kind {
            ErrorKind::InvalidInput | ErrorKind::NotFound | ErrorKind::Conflict => stalled(
                reasons::AWS_INVALID_REQUEST,
                format!(
                    "AWS rejected {}: {}; fix the spec",
                    error.operation,
                    error.aws_message()
                ),
            ),
            ErrorKind::Quota => stalled(
                reasons::AWS_QUOTA_EXCEEDED,
                format!(
                    "{} hit a limit: {}; raise the quota or change the spec",
                    error.operation,
                    error.aws_message()
                ),
            ),
            ErrorKind::AccessDenied => stalled(
                reasons::AWS_ACCESS_DENIED,
                format!(
                    "the operator's IAM role may not call {}: {}; grant {} to the operator's role",
                    error.operation,
                    error.aws_message(),
                    error.operation
                ),
            ),
            ErrorKind::Transient | ErrorKind::Unknown => Self::Transient {
                category,
                message: format!(
                    "{} failed, retrying: {}",
                    error.operation,
                    error.aws_message()
                ),
            },
        }
    }
}

/// The operator's reading of an AWS resource status (an RDS DB instance's, an
/// ElastiCache replication group's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// `available`: usable; drift can be corrected.
    Ready,
    /// A transitional state (`creating`, `modifying`, …): wait.
    InProgress,
    /// A state AWS does not leave without someone acting (`failed`, …).
    Stalled,
}

/// What a resource's status means for the object: `None` when it is ready (go on and
/// correct drift), else in progress or stalled. `resource` names it for the message
/// (`DB instance prod-db-1234abcd`); `hint` says what a person can do when stalled.
pub fn status_progress(resource: &str, status: &str, phase: Phase, hint: &str) -> Option<Progress> {
    match phase {
        Phase::Ready => None,
        Phase::InProgress => Some(Progress::aws_in_progress(format!("{resource} is {status}"))),
        Phase::Stalled => Some(Progress::Stalled {
            reason: reasons::AWS_INVALID_REQUEST,
            category: Category::AwsState,
            message: format!("{resource} is {status}: {hint}"),
        }),
    }
}

/// A spec that the CRD schema accepts but AWS cannot honour.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to accept {field}: {reason}")]
pub struct InvalidSpec {
    /// Path of the offending field, e.g. `spec.highAvailability.readReplicas`.
    pub field: &'static str,
    /// What is wrong and what to do.
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(code: &str, status: u16) -> AwsError {
        AwsError {
            kind: crate::aws::errors::classify_code(Some(code), Some(status)),
            operation: "elasticache:CreateReplicationGroup",
            code: Some(code.into()),
            message: Some("says AWS".into()),
            source: "boom".into(),
        }
    }

    #[test]
    fn access_denied_stalls_and_names_the_iam_action_to_grant() {
        match Progress::from_aws_error(&error("AccessDenied", 403)) {
            Progress::Stalled {
                reason, message, ..
            } => {
                assert_eq!(reason, reasons::AWS_ACCESS_DENIED);
                assert!(
                    message.contains("grant elasticache:CreateReplicationGroup"),
                    "{message}"
                );
            }
            other => panic!("expected Stalled, got {other:?}"),
        }
    }

    #[test]
    fn a_ready_status_leaves_the_reconcile_to_go_on_and_others_stop_it() {
        assert_eq!(
            status_progress("DB instance db", "available", Phase::Ready, ""),
            None
        );
        assert_eq!(
            status_progress("DB instance db", "modifying", Phase::InProgress, ""),
            Some(Progress::aws_in_progress(
                "DB instance db is modifying".into()
            ))
        );
        assert!(matches!(
            status_progress("DB instance db", "storage-full", Phase::Stalled, "grow it"),
            Some(Progress::Stalled { reason, message, .. })
                if reason == reasons::AWS_INVALID_REQUEST
                    && message == "DB instance db is storage-full: grow it"
        ));
    }

    #[test]
    fn throttling_is_transient_and_quotas_stall() {
        assert!(matches!(
            Progress::from_aws_error(&error("Throttling", 400)),
            Progress::Transient { .. }
        ));
        assert!(matches!(
            Progress::from_aws_error(&error("NodeQuotaForCustomerExceeded", 400)),
            Progress::Stalled { reason, .. } if reason == reasons::AWS_QUOTA_EXCEEDED
        ));
    }
}
