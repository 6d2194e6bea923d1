//! The finalizer of both data-tier kinds, written once. On AWS ([`cleanup`]):
//! `deletionProtection` holds it; a resource already gone, or not tagged as the
//! object's, counts as done (nothing the operator did not create or adopt is ever
//! deleted); `Retain` removes only tiered's tags (from what belongs to it too);
//! `Snapshot` and `Delete` hand over to the kind's delete, with a final snapshot named
//! `<id>-final-<yyyymmddhhmmss>` from the deletion timestamp or without one. On
//! Kubernetes ([`finalize`]): the held state in the status, a `FinalSnapshot` Event,
//! and the finalizer kept until AWS is done.

use k8s_openapi::jiff::Timestamp;
use kube::Resource;
use kube::core::object::{HasSpec, HasStatus};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;

use crate::api::shared::DeletionPolicy;
use crate::aws::errors::{AwsError, ErrorKind};
use crate::aws::tags::OWNERSHIP_KEYS;
use crate::runtime::backoff::{IN_PROGRESS, STALLED};
use crate::runtime::kstatus::now;

use crate::controllers::data_tier::apply::{
    deletion_time, owner_of, write_conditions, write_status,
};
use crate::controllers::data_tier::error::{ConvergeError, Error, Nouns};
use crate::controllers::data_tier::inspect::{check_installation, owned_by};
use crate::controllers::data_tier::kind::{DataTier, Deletion, Key, Shared, Spec, Status, Target};
use crate::controllers::data_tier::parameter_groups::{Retirement, retire_parameter_groups};
use crate::controllers::data_tier::progress::Progress;
use crate::controllers::data_tier::spec::{SharedSpec, SharedStatus};
use crate::controllers::data_tier::status::{deleting, deletion_held};

/// Where the cleanup stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cleanup {
    /// Nothing is left to do; the finalizer can go.
    Done {
        /// What happened, for the log.
        message: String,
        /// The final snapshot AWS lists when a deletion under `Snapshot` ends
        /// (`<id>-final-<time>`), for an Event: a deletion whose request the
        /// [`Cleanup::Waiting`] step announced is told again, one whose answer was lost
        /// (or whose operator restarted after the call) is told for the first time.
        final_snapshot: Option<String>,
    },
    /// The resource is not tagged as this object's: left in AWS as it is (not deleted,
    /// no final snapshot); the finalizer ends.
    LeftAlone {
        /// The resource, e.g. `DB instance prod-shop-db-1a2b3c4d`.
        resource: String,
    },
    /// `spec.deletionProtection` is true.
    Held,
    /// The resource is not this installation's to delete
    /// ([`ConvergeError::OtherInstallation`]); the finalizer stays for the one that made
    /// it. The status says why (`progress`), `message` the log.
    Refused {
        /// Where the object stands.
        progress: Progress,
        /// Why, for the log.
        message: String,
    },
    /// AWS is deleting; look again later.
    Waiting {
        /// What is happening.
        message: String,
        /// The final snapshot requested by this call, for an Event.
        snapshot: Option<String>,
    },
}

/// The deletion policy in force: the spec's, else `Retain` for an adopted resource
/// and `Snapshot` for one tiered created.
pub fn effective_policy(spec_policy: Option<DeletionPolicy>, adopted: bool) -> DeletionPolicy {
    spec_policy.unwrap_or(if adopted {
        DeletionPolicy::Retain
    } else {
        DeletionPolicy::Snapshot
    })
}

/// `<id>-final-<yyyymmddhhmmss>` (UTC) of the deletion time, so every retry of a
/// cleanup names the same snapshot.
pub fn final_snapshot_name(id: &str, deleted_at: Timestamp) -> String {
    format!("{id}-final-{}", deleted_at.strftime("%Y%m%d%H%M%S"))
}

/// The refusal of a deletion whose final snapshot name `snapshot` a snapshot this
/// deletion did not take already holds (someone else's, or a leftover): AWS keeps the
/// `nouns` resource, so the object says what to do (a Stalled condition and a Warning
/// Event, retried with backoff). Found from outside: RDS's object said "is deleting"
/// and sent DeleteDBInstance again every pass, forever, while the instance ran.
#[must_use]
pub fn final_snapshot_name_held(
    mut error: AwsError,
    nouns: &Nouns,
    snapshot: Option<&str>,
) -> AwsError {
    if let Some(snapshot) = snapshot {
        let said = error.message.take().unwrap_or_default();
        let resource = nouns.resource;
        error.message = Some(format!(
            "the final snapshot name {snapshot} is held by a snapshot that this deletion did not take ({said}), so AWS keeps the {resource}: delete or rename that snapshot, or set deletionPolicy: Retain or Delete"
        ));
    }
    error
}

/// One step of cleanup; call again until [`Cleanup::Done`]. `status` is the object's
/// (what it last reported), `deleted_at` its deletion timestamp, so every retry names
/// the same snapshot.
///
/// # Errors
/// An AWS call failed.
pub async fn cleanup<K: DataTier>(
    kind: &K,
    target: &Target<'_, Spec<K>>,
    status: Option<&Status<K>>,
    deleted_at: Timestamp,
) -> Result<Cleanup, ConvergeError> {
    let done = |message: String| Cleanup::Done {
        message,
        final_snapshot: None,
    };
    // Before anything else: the resource the status names is not the one this
    // installation would look for, and finding nothing there must not end the
    // finalizer while the other installation's resource stands.
    if let Err(refused) = check_installation::<K>(target, status) {
        return Ok(Cleanup::Refused {
            progress: Progress::from(&refused),
            message: refused.to_string(),
        });
    }
    if K::deletion_protected(target.spec) {
        return Ok(Cleanup::Held);
    }
    let id = K::resource_id(target);
    let named = format!("{} {id}", K::NOUNS.resource);
    let Some(resource) = kind.describe(&id).await? else {
        let adopted = K::adopt_id(target.spec).is_some();
        let policy = effective_policy(target.spec.deletion_policy(), adopted);
        if policy == DeletionPolicy::Delete {
            kind.delete_requested_snapshots(target).await?;
        }
        if policy != DeletionPolicy::Retain {
            kind.gone(target).await?;
        }
        let snapshot =
            (policy == DeletionPolicy::Snapshot).then(|| final_snapshot_name(&id, deleted_at));
        return Ok(Cleanup::Done {
            message: format!("{named} is already gone"),
            final_snapshot: listed(kind, snapshot).await?,
        });
    };
    if !owned_by(kind, &resource, &target.owner).await? {
        return Ok(Cleanup::LeftAlone { resource: named });
    }
    let mut related = Vec::new();
    for related_id in K::related_ids(&resource) {
        if let Some(other) = kind.describe(&related_id).await?
            && owned_by(kind, &other, &target.owner).await?
        {
            related.push(other);
        }
    }

    let adopted = K::adopt_id(target.spec).is_some();
    let policy = effective_policy(target.spec.deletion_policy(), adopted);
    // Whether tiered may have made parameter groups for the resource: the spec asks for
    // parameters, or the status reports a group (still attached after they emptied).
    let has_groups = target.spec.parameters_requested()
        || status.and_then(SharedStatus::parameter_group).is_some();
    if policy == DeletionPolicy::Retain {
        // The parameter groups first: once the resource's tags are gone, a retry
        // finds it not ours and ends before reaching them.
        if has_groups {
            retire_parameter_groups(kind, &id, &target.owner, Retirement::Release).await?;
        }
        for arn in related.iter().chain([&resource]).filter_map(K::arn) {
            kind.remove_tags(arn, &OWNERSHIP_KEYS).await?;
        }
        return Ok(done(format!("{named} retained; tiered's tags removed")));
    }

    let snapshot =
        (policy == DeletionPolicy::Snapshot).then(|| final_snapshot_name(&id, deleted_at));
    let deletion = kind.delete(&resource, &related, snapshot.as_deref()).await;
    // With Delete, the snapshots spec.snapshots took go once AWS has the deletion (an
    // ElastiCache group `deleting` ends the finalizer before it is gone, so not later).
    let accepted = match &deletion {
        Ok(_) => true,
        Err(error) => error.kind == ErrorKind::NotFound,
    };
    if policy == DeletionPolicy::Delete && accepted {
        kind.delete_requested_snapshots(target).await?;
    }
    match deletion {
        Ok(Deletion::Requested) => {
            tracing::info!(id = %id, snapshot = snapshot.as_deref(), resource = K::NOUNS.resource, "deleting");
            Ok(Cleanup::Waiting {
                message: format!("deleting {named}"),
                snapshot,
            })
        }
        // A deletion AWS has taken but not finished (an ElastiCache group `deleting`)
        // ends the finalizer only when nothing of ours waits for the resource to be
        // gone: the parameter group goes in the "already gone" step above, and would
        // leak if the finalizer went now. The spec asking for parameters is not enough
        // to know: a group made for them stays attached after they are emptied, and the
        // status still reports it.
        Ok(Deletion::Done(message)) if has_groups => Ok(Cleanup::Waiting {
            message: format!(
                "{message}; its parameter group is deleted once the {} is gone",
                K::NOUNS.resource
            ),
            snapshot: None,
        }),
        Ok(Deletion::Done(message)) => Ok(Cleanup::Done {
            message,
            final_snapshot: listed(kind, snapshot).await?,
        }),
        Ok(Deletion::Waiting(message)) => Ok(Cleanup::Waiting {
            message,
            snapshot: None,
        }),
        Err(error) if error.kind == ErrorKind::NotFound => Ok(Cleanup::Done {
            message: format!("{named} is already gone"),
            final_snapshot: listed(kind, snapshot).await?,
        }),
        Err(error) => Err(error.into()),
    }
}

/// The final snapshot `snapshot` when AWS lists it; `None` and no call for none. Found
/// from outside: when the answer to the delete call was lost, or the operator
/// restarted after sending it, the finalizer ended on "already gone" and no Event
/// named the snapshot.
///
/// # Errors
/// The describe's.
async fn listed<K: DataTier>(
    kind: &K,
    snapshot: Option<String>,
) -> Result<Option<String>, AwsError> {
    let Some(snapshot) = snapshot else {
        return Ok(None);
    };
    let found = kind.describe_snapshots(vec![snapshot.clone()]).await?;
    Ok((!found.is_empty()).then_some(snapshot))
}

/// The finalizer's cleanup arm: one step of [`cleanup`], with the held state written
/// to the status and a final snapshot announced in an Event; `Ok` once the finalizer
/// may go. While AWS deletes, the error keeps the finalizer and says when to look
/// again; a failed AWS call backs off with the object's backoff.
///
/// # Errors
/// [`Error::DeletionPending`] until the resource is gone, [`Error::CleanupFailed`] when
/// an AWS call failed, or a Kubernetes call failed.
pub async fn finalize<K: DataTier>(
    shared: &Shared<K>,
    key: &Key<K>,
    object: &K::Object,
) -> Result<Action, Error> {
    let target = Target {
        owner: owner_of(object, &shared.ctx.cluster_name)?,
        spec: object.spec(),
    };
    let scoped = shared.kind.for_spec(target.spec);
    let kind = scoped.as_ref().unwrap_or(&shared.kind);
    let step = match cleanup(kind, &target, object.status(), deletion_time(object)).await {
        Ok(step) => step,
        Err(error) => {
            // Said in the status (and a Warning Event, as for any pass): a deletion
            // that AWS refuses (an IAM or SCP deny of the delete, a quota) would
            // otherwise hang with the status of the last pass before it, Ready.
            let progress = Progress::from(&error);
            write_conditions(shared, object, &progress).await?;
            let requeue = shared.backoff.failed(key.clone());
            // A call held for the object's budget is routine (after a restart, every
            // deletion waits a minute); anything else is a failure, logged and counted
            // in its own category (an IAM deny as `access_denied`).
            return Err(if matches!(progress, Progress::Paced { .. }) {
                Error::DeletionPending {
                    message: error.to_string(),
                    requeue,
                }
            } else {
                Error::CleanupFailed {
                    source: error,
                    requeue,
                }
            });
        }
    };
    shared.backoff.succeeded(key);
    match step {
        Cleanup::Done {
            message,
            final_snapshot,
        } => {
            tracing::info!(detail = %message, kind = %K::Object::kind(&()), "cleanup done");
            if let Some(snapshot) = final_snapshot {
                let note = format!("final snapshot {snapshot} exists: {message}");
                emit_final_snapshot(shared, object, note).await;
            }
            Ok(Action::await_change())
        }
        // Found from outside: an instance whose ownership tags were stripped outlived
        // its object with only a log line to say so.
        Cleanup::LeftAlone { resource } => {
            tracing::info!(resource = %resource, kind = %K::Object::kind(&()), "cleanup done: not tagged as ours; left alone");
            let note = format!(
                "{resource} is left in AWS as it is: its tiered.io/ tags do not name this object, so tiered neither deleted it nor took a final snapshot; delete it yourself if it is no longer needed"
            );
            shared
                .emit(object, EventType::Warning, "OwnedElsewhere", note)
                .await;
            Ok(Action::await_change())
        }
        Cleanup::Held => {
            let current = object.status();
            let status = deletion_held(object.meta().generation, current, K::NOUNS, &now());
            write_status(shared, object, current, &status).await?;
            Err(Error::DeletionPending {
                message: "spec.deletionProtection is true".into(),
                requeue: STALLED,
            })
        }
        Cleanup::Refused { progress, message } => {
            write_conditions(shared, object, &progress).await?;
            Err(Error::DeletionPending {
                message,
                requeue: STALLED,
            })
        }
        Cleanup::Waiting { message, snapshot } => {
            let current = object.status();
            let status = deleting(
                object.meta().generation,
                current,
                K::NOUNS,
                message.clone(),
                &now(),
            );
            write_status(shared, object, current, &status).await?;
            if let Some(snapshot) = snapshot {
                let note = format!(
                    "final snapshot {snapshot} requested; the {} is being deleted",
                    K::NOUNS.resource
                );
                emit_final_snapshot(shared, object, note).await;
            }
            Err(Error::DeletionPending {
                message,
                requeue: IN_PROGRESS.min(shared.resync),
            })
        }
    }
}

/// A Normal `FinalSnapshot` Event on `object` with `note`.
async fn emit_final_snapshot<K: DataTier>(shared: &Shared<K>, object: &K::Object, note: String) {
    shared
        .emit(object, EventType::Normal, "FinalSnapshot", note)
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_snapshot_is_named_after_the_resource_and_the_deletion_time() {
        let at: Timestamp = "2025-03-04T05:06:07Z".parse().unwrap();
        assert_eq!(
            final_snapshot_name("prod-db-1234abcd", at),
            "prod-db-1234abcd-final-20250304050607"
        );
    }

    #[test]
    fn adopted_resources_default_to_retain_and_created_ones_to_snapshot() {
        assert_eq!(effective_policy(None, false), DeletionPolicy::Snapshot);
        assert_eq!(effective_policy(None, true), DeletionPolicy::Retain);
        assert_eq!(
            effective_policy(Some(DeletionPolicy::Delete), true),
            DeletionPolicy::Delete
        );
    }
}
