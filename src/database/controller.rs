//! The Kubernetes side of the ManagedDatabase controller, kept thin: the finalizer
//! wiring, the connection Secret and the status, both by server-side apply under the
//! field manager `tiered`, and Events. Everything it decides comes from the pure parts
//! and from `reconcile` / `delete`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{self, finalizer};
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};

use crate::api::managed_database::CredentialSource;
use crate::api::{ManagedDatabase, ManagedDatabaseStatus};
use crate::aws::tags::Owner;

use super::delete::{Cleanup, cleanup};
use super::reconcile::{MasterPassword, Observed, Progress, RdsContext, Report, Target, reconcile};
use super::secret::{
    Credential, Password, RandomError, connection_details, connection_secret_name,
    desired_connection_secret, generate_password, password_from_secret,
};
use super::status::{compute_status, deletion_protected, same_ignoring_transition_times};

/// The one field manager of every tiered write.
pub const FIELD_MANAGER: &str = "tiered";
/// The finalizer that guards the DB instance.
pub const FINALIZER: &str = "tiered.io/database";
/// Requeue while AWS works.
const IN_PROGRESS_REQUEUE: Duration = Duration::from_secs(30);
/// Requeue after a transient error.
const TRANSIENT_REQUEUE: Duration = Duration::from_secs(15);
/// Re-check of a stalled object (spec changes requeue at once through the watch).
const STALLED_REQUEUE: Duration = Duration::from_mins(10);

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

/// Why a reconcile of a ManagedDatabase failed (the controller retries it).
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
    /// The password could not be generated.
    #[error("failed to generate a master password")]
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

impl Error {
    /// A fixed label for metrics.
    pub fn category(&self) -> &'static str {
        match self {
            Self::MissingMetadata => "invalid_object",
            Self::Kube { .. } => "kubernetes",
            Self::Password(_) => "internal",
            Self::Finalizer(inner) => match &**inner {
                finalizer::Error::ApplyFailed(error) | finalizer::Error::CleanupFailed(error) => {
                    error.category()
                }
                _ => "kubernetes",
            },
            Self::DeletionPending { .. } => "deletion_pending",
        }
    }
}

fn kube_error(action: &'static str) -> impl FnOnce(kube::Error) -> Error {
    move |source| Error::Kube { action, source }
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
        .run(reconcile_object, error_policy, ctx)
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

/// Requeue policy for failed reconciles.
pub fn error_policy(_database: Arc<ManagedDatabase>, error: &Error, _ctx: Arc<Context>) -> Action {
    if let Error::Finalizer(inner) = error
        && let finalizer::Error::CleanupFailed(Error::DeletionPending { requeue, .. }) = &**inner
    {
        return Action::requeue(*requeue);
    }
    Action::requeue(TRANSIENT_REQUEUE)
}

fn owner(database: &ManagedDatabase, ctx: &Context) -> Result<Owner, Error> {
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

    let credential = password.map_or(Credential::AwsManaged(None), Credential::Generated);
    let details = connection_details(spec, &report.observed, credential);
    let existing = if is_new {
        secrets.get_opt(&secret_name).await.ok().flatten()
    } else {
        existing
    };
    apply_secret(&secrets, database, &details, existing.as_ref()).await?;

    let status = compute_status(
        database.meta().generation,
        &report,
        Some(secret_name),
        database.status.as_ref(),
        &now(),
    );
    write_status(database, ctx, status).await?;
    Ok(requeue_for(&report, ctx.resync))
}

fn requeue_for(report: &Report, resync: Duration) -> Action {
    Action::requeue(match report.progress {
        Progress::Ready { .. } => resync,
        Progress::InProgress { .. } => IN_PROGRESS_REQUEUE,
        Progress::Transient { .. } => TRANSIENT_REQUEUE,
        Progress::Stalled { .. } => STALLED_REQUEUE,
    })
}

async fn apply_secret(
    secrets: &Api<Secret>,
    database: &ManagedDatabase,
    details: &super::secret::ConnectionDetails,
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
/// and records an Event when the Ready condition's reason or message changes for
/// the worse.
async fn write_status(
    database: &ManagedDatabase,
    ctx: &Context,
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
    let api: Api<ManagedDatabase> = Api::namespaced(ctx.client.clone(), &namespace);
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
    if let Some(ready) = status
        .conditions
        .iter()
        .find(|c| c.type_ == crate::api::conditions::READY)
        && ready.status == "False"
        && ready.reason != crate::api::conditions::reasons::AWS_IN_PROGRESS
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
    ctx: &Context,
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
        .recorder
        .publish(&event, &database.object_ref(&()))
        .await
    {
        tracing::warn!(error = %error, "failed to publish an Event");
    }
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
                requeue: IN_PROGRESS_REQUEUE,
            })
        }
    }
}
