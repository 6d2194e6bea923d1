//! Errors of the TieredApp reconcile, each with a fixed `category()` used as the metric
//! label and in Event reasons.

use crate::runtime::error::{Category, ReconcileError};

/// What went wrong in one reconcile of a TieredApp.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading a referenced ManagedDatabase, CacheCluster or Secret failed.
    #[error("failed to read {kind} {name}")]
    Fetch {
        /// Kind of the object.
        kind: &'static str,
        /// Its name.
        name: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// Serializing a desired child failed.
    #[error("failed to serialize {kind} {name}")]
    Serialize {
        /// Kind of the child.
        kind: String,
        /// Its name.
        name: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// The API server's answer to an apply was not the object.
    #[error("could not read the API server's answer to the apply of {kind} {name}")]
    Answer {
        /// Kind of the child.
        kind: String,
        /// Its name.
        name: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// Server-side apply of a child failed.
    #[error("failed to apply {kind} {name}")]
    Apply {
        /// Kind of the child.
        kind: String,
        /// Its name.
        name: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// Deleting a child that is no longer desired failed.
    #[error("failed to prune {kind} {name}")]
    Prune {
        /// Kind of the child.
        kind: String,
        /// Its name.
        name: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// Children the API server refused or failed in a pass that still applied and
    /// pruned the others; the status and the Warning Events already name each, and the
    /// reconcile fails only so that the controller retries with backoff.
    #[error("failed to write {count} of the app's children: {first}")]
    Children {
        /// How many children failed.
        count: usize,
        /// The first failure (`failed to apply Kind name: 403 Forbidden: …`).
        first: String,
        /// The first failure's category.
        category: Category,
    },
    /// Writing the TieredApp status failed.
    #[error("failed to write the status of TieredApp {name}")]
    Status {
        /// Name of the TieredApp.
        name: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// A cache of live children stopped before its first list (the process is stopping).
    #[error("failed to read the live children: their cache stopped")]
    CacheClosed,
    /// The object has no namespace or uid (never true for objects from the API server).
    #[error("failed to identify the TieredApp: {0} is missing")]
    MissingMetadata(&'static str),
    /// The reconcile panicked (a bug); contained to this app.
    #[error("failed to reconcile the TieredApp")]
    Panicked(#[source] crate::runtime::panic::Panicked),
}

impl ReconcileError for Error {
    /// `Fetch`, `Apply`, `Prune`, `Status`, `Conflict` (a 409 on an apply or the status
    /// write), `Internal`, or for `Children` the first failed child's.
    fn category(&self) -> Category {
        match self {
            Self::Children { category, .. } => *category,
            Self::Apply { source, .. } | Self::Status { source, .. } if is_conflict(source) => {
                Category::Conflict
            }
            Self::Fetch { .. } => Category::Fetch,
            Self::Apply { .. } => Category::Apply,
            Self::Prune { .. } => Category::Prune,
            Self::Status { .. } => Category::Status,
            Self::Serialize { .. }
            | Self::Answer { .. }
            | Self::MissingMetadata(_)
            | Self::CacheClosed
            | Self::Panicked(_) => Category::Internal,
        }
    }
}

fn is_conflict(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 409)
}

/// Result of the reconcile steps.
pub type Result<T, E = Error> = std::result::Result<T, E>;
