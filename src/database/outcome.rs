//! What a reconcile reports: the observed instances, where the object stands
//! ([`Progress`]), and the errors that stop it, each with the condition it means.

use aws_sdk_rds::types::DbInstance;

use crate::api::conditions::reasons;
use crate::aws::errors::{AwsError, ErrorKind};

use super::desired::InvalidSpec;
use super::diff::Unsupported;

/// What RDS reports for the object.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observed {
    /// The primary instance.
    pub primary: Option<DbInstance>,
    /// Our read replicas, by index.
    pub replicas: Vec<DbInstance>,
}

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
        category: &'static str,
        /// What failed.
        message: String,
    },
    /// Cannot progress without a change to the spec, IAM or the AWS resource.
    Stalled {
        /// Condition reason.
        reason: &'static str,
        /// Error category for metrics.
        category: &'static str,
        /// What is wrong and what to do.
        message: String,
    },
}

/// The result of one reconcile.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// The DB instance identifier.
    pub identifier: String,
    /// What RDS reported.
    pub observed: Observed,
    /// Where the object stands.
    pub progress: Progress,
    /// Number of mutating AWS calls made (zero for a converged object).
    pub mutations: u32,
}

/// Why a reconcile stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An AWS call failed.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// The spec asks for something RDS cannot do.
    #[error(transparent)]
    InvalidSpec(#[from] InvalidSpec),
    /// The change cannot be made in place.
    #[error(transparent)]
    Unsupported(#[from] Unsupported),
    /// The instance is tagged for another object.
    #[error(
        "failed to claim DB instance {identifier}: it is owned by {namespace}/{name} in cluster {cluster}"
    )]
    OwnedElsewhere {
        /// The instance.
        identifier: String,
        /// The other owner's cluster.
        cluster: String,
        /// The other owner's namespace.
        namespace: String,
        /// The other owner's name.
        name: String,
    },
    /// An untagged instance sits at this object's identifier.
    #[error(
        "failed to claim DB instance {identifier}: it exists without tiered's tags; set spec.adopt.identifier: {identifier} to take it over"
    )]
    NotOwned {
        /// The instance.
        identifier: String,
    },
    /// Adoption is not allowed in this namespace.
    #[error("failed to adopt {identifier}: namespace {namespace} may not adopt existing instances")]
    AdoptionNotAllowed {
        /// The instance.
        identifier: String,
        /// The namespace.
        namespace: String,
    },
    /// The instance to adopt does not exist.
    #[error("failed to adopt {identifier}: no such DB instance; fix spec.adopt.identifier")]
    AdoptTargetMissing {
        /// The instance.
        identifier: String,
    },
    /// A generated password is needed and none was given (a caller bug).
    #[error("failed to create {identifier}: no master password was provided")]
    MissingPassword {
        /// The instance.
        identifier: String,
    },
}

impl Error {
    /// A fixed label for metrics and Event reasons.
    pub const fn category(&self) -> &'static str {
        match self {
            Self::Aws(error) => error.category(),
            Self::InvalidSpec(_) | Self::AdoptTargetMissing { .. } => "invalid_spec",
            Self::Unsupported(_) => "unsupported_change",
            Self::OwnedElsewhere { .. } | Self::NotOwned { .. } => "owned_elsewhere",
            Self::AdoptionNotAllowed { .. } => "adoption_not_allowed",
            Self::MissingPassword { .. } => "internal",
        }
    }

    /// The progress this error means.
    pub fn progress(&self) -> Progress {
        let category = self.category();
        let stalled = |reason, message: String| Progress::Stalled {
            reason,
            category,
            message,
        };
        match self {
            Self::Aws(error) => match error.kind {
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
                ErrorKind::Transient | ErrorKind::Unknown => Progress::Transient {
                    category,
                    message: format!(
                        "{} failed, retrying: {}",
                        error.operation,
                        error.aws_message()
                    ),
                },
            },
            Self::InvalidSpec(error) => stalled(reasons::INVALID_SPEC, error.to_string()),
            Self::Unsupported(error) => stalled(
                reasons::UNSUPPORTED_CHANGE,
                format!("{error} ({})", error.field()),
            ),
            Self::OwnedElsewhere { .. } | Self::NotOwned { .. } => {
                stalled(reasons::OWNED_ELSEWHERE, self.to_string())
            }
            Self::AdoptionNotAllowed { .. } => {
                stalled(reasons::ADOPTION_NOT_ALLOWED, self.to_string())
            }
            Self::AdoptTargetMissing { .. } => stalled(reasons::INVALID_SPEC, self.to_string()),
            Self::MissingPassword { .. } => Progress::Transient {
                category,
                message: self.to_string(),
            },
        }
    }
}
