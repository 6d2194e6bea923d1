//! The Kubernetes side that the data-tier controllers share, kept thin: the field
//! manager, requeue intervals, the controller error and its retry policy, the
//! connection Secret and status writes (server-side apply, skipped when nothing
//! changed), Events, and the Kubernetes side of a cleanup step. Decisions come from
//! the pure parts of each controller.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use crate::runtime::error::{Category, ReconcileError};
use crate::runtime::events::{EventType, Publisher};
use crate::runtime::status::apply_status;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::finalizer;
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::conditions::{READY, reasons};

use crate::controllers::data_tier::conditions::{WithConditions, same_ignoring_transition_times};
use crate::controllers::data_tier::credentials::RandomError;
use crate::controllers::data_tier::progress::Progress;

pub use crate::runtime::context::FIELD_MANAGER;
/// Requeue while AWS works.
pub const IN_PROGRESS_REQUEUE: Duration = Duration::from_secs(30);
/// Requeue after a transient error.
pub const TRANSIENT_REQUEUE: Duration = Duration::from_secs(15);
/// Re-check of a stalled object (spec changes requeue at once through the watch).
pub const STALLED_REQUEUE: Duration = Duration::from_mins(10);

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
    Rotation(#[source] crate::aws::errors::AwsError),
    /// A password or token could not be generated.
    #[error("failed to generate a credential")]
    Password(#[source] RandomError),
    /// The finalizer could not be handled (wraps the others).
    #[error("failed to run the finalizer")]
    Finalizer(#[source] Box<finalizer::Error<Error>>),
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
            Self::Kube { .. } => Category::Kubernetes,
            Self::Password(_) => Category::Internal,
            Self::Finalizer(inner) => match &**inner {
                finalizer::Error::ApplyFailed(error) | finalizer::Error::CleanupFailed(error) => {
                    error.category()
                }
                _ => Category::Kubernetes,
            },
            Self::DeletionPending { .. } => Category::DeletionPending,
        }
    }
}

/// Maps a `kube::Error` to [`Error::Kube`] for `action`.
pub fn kube_error(action: &'static str) -> impl FnOnce(kube::Error) -> Error {
    move |source| Error::Kube { action, source }
}

/// Requeue policy for failed reconciles: pending deletions at their own pace, the
/// rest after [`TRANSIENT_REQUEUE`].
pub fn error_policy<K, C>(_object: Arc<K>, error: &Error, _ctx: Arc<C>) -> Action {
    if let Error::Finalizer(inner) = error
        && let finalizer::Error::CleanupFailed(Error::DeletionPending { requeue, .. }) = &**inner
    {
        return Action::requeue(*requeue);
    }
    Action::requeue(TRANSIENT_REQUEUE)
}

/// When to look at an object again after a reconcile that ended in `progress`.
pub fn requeue_for(progress: &Progress, resync: Duration) -> Action {
    Action::requeue(match progress {
        Progress::Ready { .. } => resync,
        // Never later than a resync.
        Progress::InProgress { .. } => IN_PROGRESS_REQUEUE.min(resync),
        Progress::Transient { .. } => TRANSIENT_REQUEUE,
        Progress::Stalled { .. } => STALLED_REQUEUE,
    })
}

/// Now, to the second (the precision of `metav1.Time`).
pub fn now() -> Time {
    let now = Timestamp::now();
    Time(Timestamp::from_second(now.as_second()).unwrap_or(now))
}

/// Applies the connection Secret `desired`, unless `existing` already has its data
/// and owner.
pub async fn apply_secret(
    secrets: &Api<Secret>,
    desired: &Secret,
    existing: Option<&Secret>,
) -> Result<(), Error> {
    let unchanged = existing.is_some_and(|existing| {
        existing.data == desired.data
            && existing.metadata.owner_references == desired.metadata.owner_references
    });
    if unchanged {
        return Ok(());
    }
    let name = desired.metadata.name.clone().unwrap_or_default();
    secrets
        .patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(desired),
        )
        .await
        .map_err(kube_error("apply the connection Secret"))?;
    Ok(())
}

/// Writes `status` of `object` once, unless it equals `current` (transition times
/// aside), and records a Warning Event when `Ready` is False for a reason other than
/// AWS being at work.
pub async fn write_status<K, S>(
    client: &Client,
    events: &Publisher,
    object: &K,
    current: Option<&S>,
    status: &S,
    conditions: &[Condition],
) -> Result<(), Error>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug,
    S: WithConditions + Serialize,
{
    if current.is_some_and(|current| same_ignoring_transition_times(current, status)) {
        return Ok(());
    }
    let namespace = object.namespace().ok_or(Error::MissingMetadata)?;
    let api: Api<K> = Api::namespaced(client.clone(), &namespace);
    apply_status(&api, &(), &object.name_any(), status)
        .await
        .map_err(kube_error("write the status"))?;
    if let Some(ready) = conditions.iter().find(|c| c.type_ == READY)
        && ready.status == "False"
        && ready.reason != reasons::AWS_IN_PROGRESS
    {
        publish(
            events,
            object,
            EventType::Warning,
            &ready.reason,
            &ready.message,
        )
        .await;
    }
    Ok(())
}

/// When `object`'s deletion began (now, if the API server has not stamped it), so
/// every retry of a cleanup names the same final snapshot.
pub fn deletion_time<K: Resource>(object: &K) -> Timestamp {
    object
        .meta()
        .deletion_timestamp
        .as_ref()
        .map_or_else(Timestamp::now, |time| time.0)
}

/// A cleanup step that left AWS deleting `resource` (`DB instance`, `replication
/// group`): a `FinalSnapshot` Event when the step requested one, then the error
/// that looks again after [`IN_PROGRESS_REQUEUE`], never later than a resync.
pub async fn deletion_under_way<K>(
    events: &Publisher,
    object: &K,
    resource: &str,
    message: String,
    snapshot: Option<String>,
    resync: Duration,
) -> Error
where
    K: Resource<DynamicType = ()>,
{
    if let Some(snapshot) = snapshot {
        let note = format!("final snapshot {snapshot} requested; the {resource} is being deleted");
        publish(events, object, EventType::Normal, "FinalSnapshot", &note).await;
    }
    Error::DeletionPending {
        message,
        requeue: IN_PROGRESS_REQUEUE.min(resync),
    }
}

/// Publishes an Event about `object` through the shared [`Publisher::emit`].
pub async fn publish<K>(events: &Publisher, object: &K, type_: EventType, reason: &str, note: &str)
where
    K: Resource<DynamicType = ()>,
{
    events
        .emit(&object.object_ref(&()), type_, reason, "Reconcile", note)
        .await;
}
