//! What a CacheCluster reconcile reports: the observed replication group, where the
//! object stands ([`Progress`], shared with the database), and the errors that stop
//! it, each with the condition it means.

use crate::runtime::error::Category;
use aws_sdk_elasticache::types::{CacheCluster, ReplicationGroup};

use crate::api::conditions::reasons;
use crate::aws::errors::AwsError;
pub use crate::controllers::data_tier::progress::{InvalidSpec, Progress};

use crate::controllers::cache_cluster::diff::Unsupported;

/// What ElastiCache reports for the object.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observed {
    /// The replication group.
    pub group: Option<ReplicationGroup>,
    /// Its first member cache cluster (engine version, maintenance window, security
    /// groups), when ElastiCache describes it.
    pub member: Option<CacheCluster>,
}

/// The result of one reconcile.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// The replication group id.
    pub id: String,
    /// What ElastiCache reported.
    pub observed: Observed,
    /// Where the object stands.
    pub progress: Progress,
    /// Number of mutating AWS calls made (zero for a converged object).
    pub mutations: u32,
}

/// Why a reconcile stopped.
///
/// Alike in shape to the database's `Error`, and left apart on purpose: the
/// messages name each service's resource and spec field (`replicationGroupId`,
/// `identifier`), `Unsupported` is each controller's own diff type, and the one
/// internal error differs (an AUTH token, a master password). A shared enum would need
/// a type parameter and per-kind wording for every variant.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An AWS call failed.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// The spec asks for something ElastiCache cannot do.
    #[error(transparent)]
    InvalidSpec(#[from] InvalidSpec),
    /// The change cannot be made in place.
    #[error(transparent)]
    Unsupported(#[from] Unsupported),
    /// The group is tagged for another object.
    #[error(
        "failed to claim replication group {id}: it is owned by {namespace}/{name} in cluster {cluster}"
    )]
    OwnedElsewhere {
        /// The group.
        id: String,
        /// The other owner's cluster.
        cluster: String,
        /// The other owner's namespace.
        namespace: String,
        /// The other owner's name.
        name: String,
    },
    /// An untagged group sits at this object's id.
    #[error(
        "failed to claim replication group {id}: it exists without tiered's tags; set spec.adopt.replicationGroupId: {id} to take it over"
    )]
    NotOwned {
        /// The group.
        id: String,
    },
    /// Adoption is not allowed in this namespace.
    #[error(
        "failed to adopt {id}: namespace {namespace} may not adopt existing replication groups"
    )]
    AdoptionNotAllowed {
        /// The group.
        id: String,
        /// The namespace.
        namespace: String,
    },
    /// The group to adopt does not exist.
    #[error("failed to adopt {id}: no such replication group; fix spec.adopt.replicationGroupId")]
    AdoptTargetMissing {
        /// The group.
        id: String,
    },
    /// An AUTH token is needed and none was given (a caller bug).
    #[error("failed to create {id}: no AUTH token was provided")]
    MissingToken {
        /// The group.
        id: String,
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
            Self::MissingToken { .. } => Category::Internal,
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
            Self::MissingToken { .. } => Progress::Transient {
                category,
                message: self.to_string(),
            },
        }
    }
}
