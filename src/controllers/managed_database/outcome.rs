//! What a reconcile reports: the observed instances, where the object stands
//! ([`Progress`], shared with the cache controller), and the errors that stop it, each with the condition it means.

use crate::runtime::error::Category;
use aws_sdk_rds::types::DbInstance;

use crate::api::conditions::reasons;
use crate::aws::errors::AwsError;
pub use crate::controllers::data_tier::progress::{InvalidSpec, Progress};

use crate::controllers::managed_database::diff::Unsupported;

/// What RDS reports for the object.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observed {
    /// The primary instance.
    pub primary: Option<DbInstance>,
    /// Our read replicas, by index.
    pub replicas: Vec<DbInstance>,
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
    pub const fn category(&self) -> Category {
        match self {
            Self::Aws(error) => Category::from_aws(error.kind),
            Self::InvalidSpec(_) | Self::AdoptTargetMissing { .. } => Category::InvalidSpec,
            Self::Unsupported(_) => Category::UnsupportedChange,
            Self::OwnedElsewhere { .. } | Self::NotOwned { .. } => Category::OwnedElsewhere,
            Self::AdoptionNotAllowed { .. } => Category::AdoptionNotAllowed,
            Self::MissingPassword { .. } => Category::Internal,
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
            Self::Aws(error) => Progress::from_aws_error(error),
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
