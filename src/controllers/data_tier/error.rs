//! The errors of the data-tier controllers, shared by both kinds: [`Error`], why a
//! reconcile failed (what kube-runtime retries, and the metric label), and
//! [`ConvergeError`], why one pass against AWS stopped, each of which becomes a
//! condition (`Progress::from`). Messages name each kind's resource through
//! its [`Nouns`], so the wording stays the kind's own.

use std::time::Duration;

use kube::runtime::finalizer;

use crate::aws::adoption::AdoptionRefused;
use crate::aws::errors::AwsError;
use crate::aws::restore_source::RestoreRefused;
use crate::controllers::data_tier::secret::RandomError;
use crate::runtime::error::{Category, ReconcileError};

/// How messages name one kind's AWS resource.
#[derive(Debug, PartialEq, Eq)]
pub struct Nouns {
    /// The resource: `DB instance`, `replication group`.
    pub resource: &'static str,
    /// Several of them, in "may not adopt existing …": `instances`, `replication groups`.
    pub resources: &'static str,
    /// The spec field that names a resource to adopt: `spec.adopt.identifier`.
    pub adopt_field: &'static str,
    /// The generated credential: `master password`, `AUTH token`.
    pub credential: &'static str,
    /// How an object asks for a new credential (e.g. the rotation annotation), or that
    /// it cannot.
    pub credential_reset: &'static str,
}

/// Why a reconcile of a data-tier object failed (the controller retries it).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object has no namespace or UID.
    #[error("failed to read the object's namespace and uid")]
    MissingMetadata,
    /// A Kubernetes API call failed.
    #[error("failed to {action}")]
    Kube {
        /// What was being done.
        action: &'static str,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// The object does not match its kind's schema.
    #[error("failed to read the object: {message}")]
    Malformed {
        /// What did not deserialize.
        message: String,
    },
    /// AWS refused a new credential of a requested rotation.
    #[error("failed to rotate the credentials")]
    Rotation(#[source] AwsError),
    /// A password or token could not be generated.
    #[error("failed to generate a credential")]
    Password(#[source] RandomError),
    /// The finalizer could not be handled (wraps the others).
    #[error("failed to run the finalizer")]
    Finalizer(#[source] Box<finalizer::Error<Error>>),
    /// The connection Secret was there when its create failed, and gone when read again.
    #[error("failed to create the connection Secret {name}: it exists, then did not")]
    SecretVanished {
        /// The Secret's name.
        name: String,
    },
    /// An AWS call of the finalizer failed (denied, a quota, an error AWS returned);
    /// the finalizer stays and the cleanup is tried again after `requeue`.
    #[error("failed to clean up in AWS")]
    CleanupFailed {
        /// The cause, which gives the category.
        #[source]
        source: ConvergeError,
        /// When to try again.
        requeue: Duration,
    },
    /// Deletion is not finished yet; the finalizer stays.
    #[error("failed to finish deletion yet: {message}")]
    DeletionPending {
        /// What is holding it.
        message: String,
        /// When to look again.
        requeue: Duration,
    },
}

impl ReconcileError for Error {
    fn category(&self) -> Category {
        match self {
            Self::MissingMetadata | Self::Malformed { .. } => Category::InvalidObject,
            Self::Rotation(error) => Category::from_aws(error.kind),
            Self::Kube { .. } | Self::SecretVanished { .. } => Category::Kubernetes,
            Self::Password(_) => Category::Internal,
            Self::Finalizer(inner) => match &**inner {
                finalizer::Error::ApplyFailed(error) | finalizer::Error::CleanupFailed(error) => {
                    error.category()
                }
                _ => Category::Kubernetes,
            },
            Self::CleanupFailed { source, .. } => source.category(),
            Self::DeletionPending { .. } => Category::DeletionPending,
        }
    }
}

impl Error {
    /// The requeue a pending deletion asks for, if this is one (also inside the
    /// finalizer's wrapping).
    pub fn deletion_requeue(&self) -> Option<Duration> {
        match self {
            Self::DeletionPending { requeue, .. } | Self::CleanupFailed { requeue, .. } => {
                Some(*requeue)
            }
            Self::Finalizer(inner) => match &**inner {
                finalizer::Error::CleanupFailed(error) => error.deletion_requeue(),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Maps a `kube::Error` to [`Error::Kube`] for `action`.
pub fn kube_error(action: &'static str) -> impl FnOnce(kube::Error) -> Error {
    move |source| Error::Kube { action, source }
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

/// A change the service cannot make in place, as each kind's diff words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} ({field})")]
pub struct Unsupported {
    /// Path of the spec field to change.
    pub field: &'static str,
    /// What cannot change and what to do instead.
    pub message: String,
}

/// A change one kind's diff finds it cannot make in place, in the kind's own words
/// (`Display`); each becomes [`ConvergeError::Unsupported`].
pub trait UnsupportedChange: std::fmt::Display {
    /// Path of the spec field to change.
    fn field(&self) -> &'static str;
}

impl<C: UnsupportedChange> From<C> for ConvergeError {
    fn from(change: C) -> Self {
        Self::Unsupported(Unsupported {
            field: change.field(),
            message: change.to_string(),
        })
    }
}

/// Why one pass against AWS stopped.
#[derive(Debug, thiserror::Error)]
pub enum ConvergeError {
    /// An AWS call failed.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// The spec asks for something AWS cannot do.
    #[error(transparent)]
    InvalidSpec(#[from] InvalidSpec),
    /// The change cannot be made in place.
    #[error(transparent)]
    Unsupported(#[from] Unsupported),
    /// The resource at this object's own id is tagged for another object (which one is
    /// not said: that would reveal another tenant's names).
    #[error(
        "failed to claim {} {id}: it is owned by another tiered object; choose another name for this object",
        .nouns.resource
    )]
    OwnedElsewhere {
        /// The kind's nouns.
        nouns: &'static Nouns,
        /// The resource.
        id: String,
    },
    /// The status names a resource (`known`) other than the one this installation
    /// derives for the object (`derived`) and the spec adopts none: another tiered
    /// installation with another `--cluster-name` manages the object, or this one's
    /// cluster name changed since `known` was created. Nothing is created under
    /// `derived` (a second, empty resource the tiers would switch to) and nothing is
    /// deleted.
    #[error(
        "failed to claim {} {derived}: status.identifier names {known}, which tiered created under another cluster name than this installation's {cluster:?} (a second installation watches this namespace, or --cluster-name changed since); nothing is created or deleted: let only the installation whose --cluster-name (Helm value clusterName) made {known} manage this object",
        .nouns.resource
    )]
    OtherInstallation {
        /// The kind's nouns.
        nouns: &'static Nouns,
        /// The resource the status names.
        known: String,
        /// The resource this installation derives.
        derived: String,
        /// This installation's cluster name.
        cluster: String,
    },
    /// An untagged resource sits at this object's id.
    #[error(
        "failed to claim {} {id}: it exists without tiered's tags; set {}: {id} to take it over",
        .nouns.resource, .nouns.adopt_field
    )]
    NotOwned {
        /// The kind's nouns.
        nouns: &'static Nouns,
        /// The resource.
        id: String,
    },
    /// The adoption is refused: the namespace is not listed, the resource carries no
    /// opt-in tag for this object, or it is owned elsewhere.
    #[error(transparent)]
    Adoption(#[from] AdoptionRefused),
    /// The restore source (`spec.restoreFrom`) is not this namespace's and carries no
    /// opt-in tag for this object, or does not exist.
    #[error(transparent)]
    RestoreSource(#[from] RestoreRefused),
    /// An adopted resource's generated credential is unknown and nobody asked for a new
    /// one: tiered does not replace it on its own.
    #[error(
        "failed to adopt {} {id}: tiered does not know its {} and does not replace it on adoption; request a new one explicitly ({reset}) or use credentials that tiered does not generate",
        .nouns.resource, .nouns.credential
    )]
    CredentialUnknown {
        /// The kind's nouns.
        nouns: &'static Nouns,
        /// The resource.
        id: String,
        /// How to ask for a new credential.
        reset: &'static str,
    },
    /// The resource to adopt does not exist.
    #[error("failed to adopt {id}: no such {}; fix {}", .nouns.resource, .nouns.adopt_field)]
    AdoptTargetMissing {
        /// The kind's nouns.
        nouns: &'static Nouns,
        /// The resource.
        id: String,
    },
    /// A generated credential is needed and none was given (a caller bug).
    #[error("failed to create {id}: no {} was provided", .nouns.credential)]
    MissingCredential {
        /// The kind's nouns.
        nouns: &'static Nouns,
        /// The resource.
        id: String,
    },
}

impl ConvergeError {
    /// A fixed label for metrics and Event reasons.
    pub const fn category(&self) -> Category {
        match self {
            Self::Aws(error) => Category::from_aws(error.kind),
            Self::InvalidSpec(_)
            | Self::AdoptTargetMissing { .. }
            | Self::RestoreSource(RestoreRefused::NotFound { .. }) => Category::InvalidSpec,
            Self::Unsupported(_) => Category::UnsupportedChange,
            Self::OwnedElsewhere { .. }
            | Self::NotOwned { .. }
            | Self::OtherInstallation { .. }
            | Self::Adoption(AdoptionRefused::OwnedElsewhere { .. }) => Category::OwnedElsewhere,
            Self::Adoption(_) | Self::CredentialUnknown { .. } | Self::RestoreSource(_) => {
                Category::AdoptionNotAllowed
            }
            Self::MissingCredential { .. } => Category::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOUNS: &Nouns = &Nouns {
        resource: "DB instance",
        resources: "instances",
        adopt_field: "spec.adopt.identifier",
        credential: "master password",
        credential_reset: "annotate tiered.io/rotate-password",
    };

    #[test]
    fn messages_name_the_kinds_resource_and_fields() {
        let not_owned = ConvergeError::NotOwned {
            nouns: NOUNS,
            id: "db-1".into(),
        };
        assert_eq!(
            not_owned.to_string(),
            "failed to claim DB instance db-1: it exists without tiered's tags; set spec.adopt.identifier: db-1 to take it over"
        );
        let elsewhere = ConvergeError::OwnedElsewhere {
            nouns: NOUNS,
            id: "db-1".into(),
        };
        assert_eq!(
            elsewhere.to_string(),
            "failed to claim DB instance db-1: it is owned by another tiered object; choose another name for this object"
        );
    }

    #[test]
    fn a_pending_deletion_inside_the_finalizer_keeps_its_requeue() {
        let pending = Error::DeletionPending {
            message: "deleting".into(),
            requeue: Duration::from_secs(30),
        };
        let wrapped = Error::Finalizer(Box::new(finalizer::Error::CleanupFailed(pending)));
        assert_eq!(wrapped.deletion_requeue(), Some(Duration::from_secs(30)));
        assert_eq!(Error::MissingMetadata.deletion_requeue(), None);
    }

    #[test]
    fn a_failed_cleanup_keeps_its_requeue_and_counts_in_its_own_category() {
        let denied = Error::CleanupFailed {
            source: ConvergeError::OwnedElsewhere {
                nouns: NOUNS,
                id: "db-1".into(),
            },
            requeue: Duration::from_secs(4),
        };
        assert_eq!(denied.category(), Category::OwnedElsewhere);
        let wrapped = Error::Finalizer(Box::new(finalizer::Error::CleanupFailed(denied)));
        assert_eq!(wrapped.deletion_requeue(), Some(Duration::from_secs(4)));
        assert_eq!(wrapped.category(), Category::OwnedElsewhere);
    }
}
