//! The Kubernetes side of one ManagedDatabase reconcile: the connection Secret and the
//! status, both by server-side apply under the field manager `tiered` and only when
//! they change, Events, and password rotation on request. Everything it decides comes
//! from the pure parts and from `reconcile` / `delete`. Password values go only into
//! the Secret and the RDS request, never into logs, Events or status.

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Api, Resource, ResourceExt};

use crate::api::conditions::{READY, reasons};
use crate::api::managed_database::{CredentialSource, ROTATE_PASSWORD_ANNOTATION};
use crate::api::{ManagedDatabase, ManagedDatabaseStatus};
use crate::aws::errors::AwsError;
use crate::aws::rds_actions::MODIFY_DB_INSTANCE;
use crate::aws::tags::Owner;

use super::controller::{
    CONTROLLER, DatabaseContext, Error, FIELD_MANAGER, IN_PROGRESS_REQUEUE, STALLED_REQUEUE,
    TRANSIENT_REQUEUE, kube_error,
};
use super::delete::{Cleanup, cleanup};
use super::reconcile::{MasterPassword, Observed, Progress, Report, Target, reconcile};
use super::secret::{
    ConnectionDetails, Credential, Password, connection_details, connection_secret_name,
    desired_connection_secret, generate_password, password_from_secret,
};
use super::status::{compute_status, deletion_protected, same_ignoring_transition_times};

fn owner(database: &ManagedDatabase, ctx: &DatabaseContext) -> Result<Owner, Error> {
    Ok(Owner {
        cluster: ctx.rds.cluster.clone(),
        namespace: database.namespace().ok_or(Error::MissingMetadata)?,
        name: database.name_any(),
        uid: database.uid().ok_or(Error::MissingMetadata)?,
    })
}

fn now() -> Time {
    let now = Timestamp::now();
    Time(Timestamp::from_second(now.as_second()).unwrap_or(now))
}

/// The value of `tiered.io/rotate-password` when it asks for a rotation not handled yet.
pub fn rotation_requested(database: &ManagedDatabase) -> Option<String> {
    let requested = database.annotations().get(ROTATE_PASSWORD_ANNOTATION)?;
    let handled = database
        .status
        .as_ref()
        .and_then(|status| status.password_rotation.as_deref());
    (handled != Some(requested.as_str())).then(|| requested.clone())
}

/// Brings the instance, the connection Secret and the status in line with the spec.
pub async fn apply(database: &ManagedDatabase, ctx: &DatabaseContext) -> Result<Action, Error> {
    let owner = owner(database, ctx)?;
    let secrets: Api<Secret> = Api::namespaced(ctx.ctx.client.clone(), &owner.namespace);
    let secret_name = connection_secret_name(&owner.name);
    let existing = secrets
        .get_opt(&secret_name)
        .await
        .map_err(kube_error("read the connection Secret"))?;
    let spec = &database.spec;
    let generated = spec
        .credentials
        .as_ref()
        .is_none_or(|c| c.source == CredentialSource::Generated);

    // A generated password is stored before any instance can be created with it, so a
    // crash never leaves an instance whose password nobody knows.
    let mut password: Option<Password> = None;
    let mut is_new = false;
    if generated {
        password = existing.as_ref().and_then(password_from_secret);
        if password.is_none() {
            let fresh = generate_password().map_err(Error::Password)?;
            let details = connection_details(
                spec,
                &Observed::default(),
                Credential::Generated(fresh.clone()),
            );
            apply_secret(&secrets, database, &details, existing.as_ref()).await?;
            password = Some(fresh);
            is_new = true;
        }
    }

    let target = Target { owner, spec };
    let report = Box::pin(reconcile(
        &ctx.rds,
        &target,
        MasterPassword {
            password: password.as_ref(),
            is_new,
        },
    ))
    .await;
    if let Progress::Stalled { category, .. } | Progress::Transient { category, .. } =
        &report.progress
    {
        ctx.ctx.metrics.reconcile_failed(CONTROLLER, category);
    }

    let mut handled_rotation = database
        .status
        .as_ref()
        .and_then(|status| status.password_rotation.clone());
    if let (Some(requested), Progress::Ready { .. }) =
        (rotation_requested(database), &report.progress)
    {
        if generated {
            password = Some(rotate_password(database, ctx, &report.identifier, &requested).await?);
        } else {
            let note = format!(
                "{ROTATE_PASSWORD_ANNOTATION}={requested} noted; with credentials.source AWSManaged, RDS keeps the master password in Secrets Manager and rotation is RDS' job: use its rotation schedule or `aws rds modify-db-instance --rotate-master-user-password`"
            );
            publish(ctx, database, EventType::Normal, "RotationByAws", &note).await;
        }
        handled_rotation = Some(requested);
    }

    let credential = password.map_or(Credential::AwsManaged(None), Credential::Generated);
    let details = connection_details(spec, &report.observed, credential);
    let existing = if is_new {
        secrets.get_opt(&secret_name).await.ok().flatten()
    } else {
        existing
    };
    apply_secret(&secrets, database, &details, existing.as_ref()).await?;

    let mut status = compute_status(
        database.meta().generation,
        &report,
        Some(secret_name),
        database.status.as_ref(),
        &now(),
    );
    status.password_rotation = handled_rotation;
    write_status(database, ctx, status).await?;
    Ok(requeue_for(&report, ctx.resync))
}

/// Sets a new master password in RDS, applied immediately; the caller then writes it
/// to the connection Secret. A crash in between is healed by the next reconcile, which
/// still sees the request unhandled and rotates again.
async fn rotate_password(
    database: &ManagedDatabase,
    ctx: &DatabaseContext,
    identifier: &str,
    requested: &str,
) -> Result<Password, Error> {
    let fresh = generate_password().map_err(Error::Password)?;
    let result = ctx
        .rds
        .rds
        .modify_db_instance()
        .db_instance_identifier(identifier)
        .master_user_password(fresh.expose())
        .apply_immediately(true)
        .send()
        .await;
    if let Some(fleet) = &ctx.rds.fleet {
        fleet.invalidate().await;
    }
    result.map_err(|e| Error::Rotation(AwsError::from_sdk(MODIFY_DB_INSTANCE, e)))?;
    tracing::info!(identifier = %identifier, request = %requested, "rotated the master password");
    let note = format!(
        "master password of {identifier} rotated ({ROTATE_PASSWORD_ANNOTATION}={requested}); the connection Secret holds the new one"
    );
    publish(ctx, database, EventType::Normal, "PasswordRotated", &note).await;
    Ok(fresh)
}

/// When to look again: the resync period when converged, sooner while AWS works (but
/// never later than a resync).
fn requeue_for(report: &Report, resync: std::time::Duration) -> Action {
    Action::requeue(match report.progress {
        Progress::Ready { .. } => resync,
        Progress::InProgress { .. } => IN_PROGRESS_REQUEUE.min(resync),
        Progress::Transient { .. } => TRANSIENT_REQUEUE,
        Progress::Stalled { .. } => STALLED_REQUEUE,
    })
}

async fn apply_secret(
    secrets: &Api<Secret>,
    database: &ManagedDatabase,
    details: &ConnectionDetails,
    existing: Option<&Secret>,
) -> Result<(), Error> {
    let desired = desired_connection_secret(database, details).0;
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
            &Patch::Apply(&desired),
        )
        .await
        .map_err(kube_error("apply the connection Secret"))?;
    Ok(())
}

/// Writes `status` once, unless it equals the current one (transition times aside),
/// and records an Event when the Ready condition turns to a problem.
async fn write_status(
    database: &ManagedDatabase,
    ctx: &DatabaseContext,
    status: ManagedDatabaseStatus,
) -> Result<(), Error> {
    if database
        .status
        .as_ref()
        .is_some_and(|current| same_ignoring_transition_times(current, &status))
    {
        return Ok(());
    }
    let namespace = database.namespace().ok_or(Error::MissingMetadata)?;
    let api: Api<ManagedDatabase> = Api::namespaced(ctx.ctx.client.clone(), &namespace);
    let patch = serde_json::json!({
        "apiVersion": "tiered.io/v1alpha1",
        "kind": "ManagedDatabase",
        "status": status,
    });
    api.patch_status(
        &database.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map_err(kube_error("write the ManagedDatabase status"))?;
    let previous_ready = database
        .status
        .as_ref()
        .and_then(|current| current.conditions.iter().find(|c| c.type_ == READY));
    if let Some(ready) = status.conditions.iter().find(|c| c.type_ == READY)
        && ready.status == "False"
        && ready.reason != reasons::AWS_IN_PROGRESS
        && previous_ready.is_none_or(|p| p.reason != ready.reason || p.message != ready.message)
    {
        publish(
            ctx,
            database,
            EventType::Warning,
            &ready.reason,
            &ready.message,
        )
        .await;
    }
    Ok(())
}

async fn publish(
    ctx: &DatabaseContext,
    database: &ManagedDatabase,
    type_: EventType,
    reason: &str,
    note: &str,
) {
    let event = Event {
        type_,
        reason: reason.to_owned(),
        note: Some(note.to_owned()),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(error) = ctx
        .ctx
        .recorder
        .publish(&event, &database.object_ref(&()))
        .await
    {
        tracing::warn!(error = %error, "failed to publish an Event");
    }
}

/// Finalizer cleanup: one step of [`cleanup`], with the held and waiting states
/// reported in status and Events.
pub async fn delete(database: &ManagedDatabase, ctx: &DatabaseContext) -> Result<Action, Error> {
    let owner = owner(database, ctx)?;
    let deleted_at = database
        .meta()
        .deletion_timestamp
        .as_ref()
        .map_or_else(Timestamp::now, |time| time.0);
    let target = Target {
        owner,
        spec: &database.spec,
    };
    let step = match cleanup(&ctx.rds, &target, deleted_at).await {
        Ok(step) => step,
        Err(error) => {
            return Err(Error::DeletionPending {
                message: error.to_string(),
                requeue: TRANSIENT_REQUEUE,
            });
        }
    };
    match step {
        Cleanup::Done { message } => {
            tracing::info!(message = %message, "ManagedDatabase cleanup done");
            Ok(Action::await_change())
        }
        Cleanup::Held => {
            let status =
                deletion_protected(database.meta().generation, database.status.as_ref(), &now());
            write_status(database, ctx, status).await?;
            Err(Error::DeletionPending {
                message: "spec.deletionProtection is true".into(),
                requeue: STALLED_REQUEUE,
            })
        }
        Cleanup::Waiting { message, snapshot } => {
            if let Some(snapshot) = snapshot {
                let note = format!(
                    "final snapshot {snapshot} requested; the DB instance is being deleted"
                );
                publish(ctx, database, EventType::Normal, "FinalSnapshot", &note).await;
            }
            Err(Error::DeletionPending {
                message,
                requeue: IN_PROGRESS_REQUEUE.min(ctx.resync),
            })
        }
    }
}
