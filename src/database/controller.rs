//! The Kubernetes side of the ManagedDatabase controller, kept thin: the finalizer
//! wiring, the connection Secret and the status, both by server-side apply under the
//! field manager `tiered`, and Events. Everything it decides comes from the pure parts
//! and from `reconcile` / `delete`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{EventType, Recorder, Reporter};
use kube::runtime::finalizer::{self, finalizer};
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};

use crate::api::ManagedDatabase;
use crate::api::managed_database::CredentialSource;
use crate::aws::tags::Owner;
pub use crate::data_tier::controller::{Error, FIELD_MANAGER, error_policy};
use crate::data_tier::controller::{
    IN_PROGRESS_REQUEUE, STALLED_REQUEUE, TRANSIENT_REQUEUE, apply_secret, kube_error, now,
    publish, requeue_for, write_status,
};

use super::delete::{Cleanup, cleanup};
use super::reconcile::{MasterPassword, Observed, RdsContext, Target, reconcile};
use super::secret::{
    Credential, Password, connection_details, connection_secret_name, desired_connection_secret,
    generate_password, password_from_secret,
};
use super::status::{compute_status, deletion_protected};

/// The finalizer that guards the DB instance.
pub const FINALIZER: &str = "tiered.io/database";

/// What the controller shares between reconciles.
pub struct Context {
    /// Kubernetes client.
    pub client: Client,
    /// RDS client and settings.
    pub rds: RdsContext,
    /// Event recorder.
    pub recorder: Recorder,
    /// Resync period of converged objects (also the fleet read window).
    pub resync: Duration,
}

impl Context {
    /// A context; `reporter` names the controller in Events (e.g. the pod name).
    pub fn new(client: Client, rds: RdsContext, reporter: &str, resync: Duration) -> Self {
        let reporter = Reporter {
            controller: "tiered".into(),
            instance: Some(reporter.to_owned()),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            rds,
            resync,
        }
    }
}

/// Runs the ManagedDatabase controller (all namespaces the client may see) until
/// `shutdown` resolves, then lets running reconciles finish.
pub async fn run(ctx: Arc<Context>, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let databases: Api<ManagedDatabase> = Api::all(ctx.client.clone());
    let secrets: Api<Secret> = Api::all(ctx.client.clone());
    Controller::new(databases, watcher::Config::default())
        .owns(
            secrets,
            watcher::Config::default().labels("app.kubernetes.io/component=database"),
        )
        .graceful_shutdown_on(shutdown)
        .run(
            reconcile_object,
            error_policy::<ManagedDatabase, Context>,
            ctx,
        )
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::warn!(error = %error, "ManagedDatabase reconcile failed");
            }
        })
        .await;
}

/// Reconciles one ManagedDatabase: the finalizer, then apply or cleanup.
#[tracing::instrument(skip_all, fields(namespace = database.namespace(), name = database.name_any()))]
pub async fn reconcile_object(
    database: Arc<ManagedDatabase>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let namespace = database.namespace().ok_or(Error::MissingMetadata)?;
    let api: Api<ManagedDatabase> = Api::namespaced(ctx.client.clone(), &namespace);
    Box::pin(finalizer(&api, FINALIZER, database, |event| async {
        match event {
            finalizer::Event::Apply(database) => Box::pin(apply(&database, &ctx)).await,
            finalizer::Event::Cleanup(database) => Box::pin(delete(&database, &ctx)).await,
        }
    }))
    .await
    .map_err(|error| Error::Finalizer(Box::new(error)))
}

fn owner(database: &ManagedDatabase, ctx: &Context) -> Result<Owner, Error> {
    Ok(Owner {
        cluster: ctx.rds.cluster.clone(),
        namespace: database.namespace().ok_or(Error::MissingMetadata)?,
        name: database.name_any(),
        uid: database.uid().ok_or(Error::MissingMetadata)?,
    })
}

async fn apply(database: &ManagedDatabase, ctx: &Context) -> Result<Action, Error> {
    let owner = owner(database, ctx)?;
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &owner.namespace);
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

    let status = compute_status(
        database.meta().generation,
        &report,
        Some(secret_name),
        database.status.as_ref(),
        &now(),
    );
    write_status(
        &ctx.client,
        &ctx.recorder,
        database,
        database.status.as_ref(),
        &status,
        &status.conditions,
    )
    .await?;
    Ok(requeue_for(&report.progress, ctx.resync))
}

async fn delete(database: &ManagedDatabase, ctx: &Context) -> Result<Action, Error> {
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
            write_status(
                &ctx.client,
                &ctx.recorder,
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
        Cleanup::Waiting { message, snapshot } => {
            if let Some(snapshot) = snapshot {
                let note = format!(
                    "final snapshot {snapshot} requested; the DB instance is being deleted"
                );
                publish(
                    &ctx.recorder,
                    database,
                    EventType::Normal,
                    "FinalSnapshot",
                    &note,
                )
                .await;
            }
            Err(Error::DeletionPending {
                message,
                requeue: IN_PROGRESS_REQUEUE,
            })
        }
    }
}
