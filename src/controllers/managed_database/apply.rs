//! The Kubernetes side of one ManagedDatabase reconcile: the connection Secret and the
//! status, both by server-side apply under the field manager `tiered` and only when
//! they change, Events, and password rotation on request. Everything it decides comes
//! from the pure parts and from `reconcile` / `delete`. Password values go only into
//! the Secret and the RDS request, never into logs, Events or status.

use k8s_openapi::api::core::v1::Secret;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, Resource, ResourceExt};

use crate::api::ManagedDatabase;
use crate::api::managed_database::{CredentialSource, ROTATE_PASSWORD_ANNOTATION};
use crate::aws::errors::AwsError;
use crate::aws::rds_actions::MODIFY_DB_INSTANCE;
use crate::aws::tags::Owner;

use crate::controllers::data_tier::apply::{
    Error, STALLED_REQUEUE, TRANSIENT_REQUEUE, apply_secret, deletion_time, deletion_under_way,
    kube_error, now, publish, requeue_for, write_status,
};

use crate::controllers::managed_database::cleanup::{Cleanup, cleanup};
use crate::controllers::managed_database::controller::{CONTROLLER, DatabaseContext};
use crate::controllers::managed_database::reconcile::{
    MasterPassword, Observed, Progress, Target, reconcile,
};
use crate::controllers::managed_database::secret::{
    Credential, Password, connection_details, connection_secret_name, desired_connection_secret,
    generate_password, password_from_secret,
};
use crate::controllers::managed_database::status::{compute_status, deletion_protected};

fn owner(database: &ManagedDatabase, ctx: &DatabaseContext) -> Result<Owner, Error> {
    Ok(Owner {
        cluster: ctx.rds.cluster.clone(),
        namespace: database.namespace().ok_or(Error::MissingMetadata)?,
        name: database.name_any(),
        uid: database.uid().ok_or(Error::MissingMetadata)?,
    })
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
            apply_secret(
                &secrets,
                &desired_connection_secret(database, &details).0,
                existing.as_ref(),
            )
            .await?;
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
        ctx.ctx.metrics.reconcile_failed(CONTROLLER, *category);
    }

    let handled_rotation =
        handle_rotation(database, ctx, &report, generated, &mut password).await?;

    let credential = password.map_or(Credential::AwsManaged(None), Credential::Generated);
    let details = connection_details(spec, &report.observed, credential);
    let existing = if is_new {
        secrets.get_opt(&secret_name).await.ok().flatten()
    } else {
        existing
    };
    apply_secret(
        &secrets,
        &desired_connection_secret(database, &details).0,
        existing.as_ref(),
    )
    .await?;

    let mut status = compute_status(
        database.meta().generation,
        &report,
        Some(secret_name),
        database.status.as_ref(),
        &now(),
    );
    status.password_rotation = handled_rotation;
    write_status(
        &ctx.ctx.client,
        &ctx.ctx.events,
        database,
        database.status.as_ref(),
        &status,
        &status.conditions,
    )
    .await?;
    Ok(requeue_for(&report.progress, ctx.resync))
}

/// Handles a pending `tiered.io/rotate-password` request once the instance is Ready:
/// a new generated password (into `password`), or an Event saying that RDS rotates
/// AWS-managed ones. Returns the rotation value to record in status.
async fn handle_rotation(
    database: &ManagedDatabase,
    ctx: &DatabaseContext,
    report: &crate::controllers::managed_database::reconcile::Report,
    generated: bool,
    password: &mut Option<Password>,
) -> Result<Option<String>, Error> {
    let handled = database
        .status
        .as_ref()
        .and_then(|status| status.password_rotation.clone());
    let (Some(requested), Progress::Ready { .. }) =
        (rotation_requested(database), &report.progress)
    else {
        return Ok(handled);
    };
    if generated {
        *password = Some(rotate_password(database, ctx, &report.identifier, &requested).await?);
    } else {
        let note = format!(
            "{ROTATE_PASSWORD_ANNOTATION}={requested} noted; with credentials.source AWSManaged, RDS keeps the master password in Secrets Manager and rotation is RDS' job: use its rotation schedule or `aws rds modify-db-instance --rotate-master-user-password`"
        );
        publish(
            &ctx.ctx.events,
            database,
            EventType::Normal,
            "RotationByAws",
            &note,
        )
        .await;
    }
    Ok(Some(requested))
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
    publish(
        &ctx.ctx.events,
        database,
        EventType::Normal,
        "PasswordRotated",
        &note,
    )
    .await;
    Ok(fresh)
}

/// Finalizer cleanup: one step of [`cleanup`], with the held and waiting states
/// reported in status and Events.
pub async fn delete(database: &ManagedDatabase, ctx: &DatabaseContext) -> Result<Action, Error> {
    let owner = owner(database, ctx)?;
    let deleted_at = deletion_time(database);
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
            write_status(
                &ctx.ctx.client,
                &ctx.ctx.events,
                database,
                database.status.as_ref(),
                &status,
                &status.conditions,
            )
            .await?;
            Err(Error::DeletionPending {
                message: "spec.deletionProtection is true".into(),
                requeue: STALLED_REQUEUE,
            })
        }
        Cleanup::Waiting { message, snapshot } => Err(deletion_under_way(
            &ctx.ctx.events,
            database,
            "DB instance",
            message,
            snapshot,
            ctx.resync,
        )
        .await),
    }
}
