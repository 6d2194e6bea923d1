//! The shared AWS outline of the two data-tier controllers (ManagedDatabase on RDS,
//! CacheCluster on ElastiCache), written once: the [`DataTier`] trait each kind
//! implements (describe, ownership tags, create, the credential, delete with a final
//! snapshot, and its own convergence), one generic reconcile ([`reconcile`]), one
//! generic finalizer ([`cleanup`]), and the kube-runtime wiring ([`run`]). What differs
//! per kind (modify, replicas, shards, rotation) stays in the kind's folder, behind
//! the trait.
//!
//! Step files as in every controller: [`reconcile`] (the pipeline), [`desired`] and
//! [`diff`] (pure, what both kinds' desired state and tags share),
//! [`apply`] (Kubernetes writes), [`status`] (pure), [`cleanup`] (the finalizer),
//! [`error`]; plus [`secret`], the connection Secret and its generated credential,
//! which both kinds write the same way, and [`tags`], the tag calls both SDKs spell
//! alike.

pub mod apply;
pub mod cleanup;
pub mod desired;
pub mod diff;
pub mod error;
pub mod reconcile;
pub mod secret;
pub mod status;
pub mod tags;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::future::Future;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::{ByteString, NamespaceResourceScope};
use kube::core::DeserializeGuard;
use kube::core::object::{HasSpec, HasStatus};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::finalizer::{self, finalizer};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{PredicateConfig, WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::shared::DeletionPolicy;
use crate::aws::errors::AwsError;
use crate::aws::tags::{Owner, resource_tags};
use crate::runtime::backoff::{Backoff, IN_PROGRESS, STALLED};
use crate::runtime::context::Context;
use crate::runtime::error::ReconcileError;
use crate::runtime::events::Publisher;
use crate::runtime::kstatus::WithConditions;
use crate::runtime::scope::{ControllerConfig, scoped};
use crate::runtime::stores::{reflected, wait_until_ready};

use crate::controllers::data_tier::cleanup::Deletion;
use crate::controllers::data_tier::error::{ConvergeError, Error, InvalidSpec, Nouns};
use crate::controllers::data_tier::reconcile::{Report, Target};
use crate::controllers::data_tier::secret::{Password, RandomError};
use crate::controllers::data_tier::status::{Phase, Progress};

/// One AWS-backed kind as the shared outline sees it: its Kubernetes object, the spec
/// fields the outline reads, its connection Secret, and its AWS resource with the calls
/// the outline makes on it. The value holds the kind's AWS client and settings.
pub trait DataTier: Send + Sync + Sized + 'static {
    /// The primary kind (ManagedDatabase, CacheCluster), with its spec and status.
    type Object: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + HasSpec<Spec: Send + Sync>
        + HasStatus<Status: WithConditions + Default + Serialize + Send + Sync>
        + Clone
        + Debug
        + DeserializeOwned
        + Serialize
        + Send
        + Sync
        + 'static;
    /// The AWS resource (a DB instance, a replication group).
    type Resource: Clone + Debug + Send + Sync;
    /// The owned settings of the resource, from the spec.
    type Desired: Send + Sync;
    /// What AWS reports for the object: the resource and what belongs to it.
    type Observed: Clone + Debug + Default + PartialEq + Send + Sync;
    /// What the kind's own step after the AWS pass ([`DataTier::rotate`]) hands to its
    /// status; `()` for a kind without one.
    type Rotation: Default + Send;

    /// The `controller` label of the metrics.
    const CONTROLLER: &'static str;
    /// The finalizer that guards the AWS resource.
    const FINALIZER: &'static str;
    /// The `app.kubernetes.io/component` label of the connection Secrets.
    const COMPONENT: &'static str;
    /// Annotations whose changes need a reconcile (e.g. a rotation request).
    const TRIGGER_ANNOTATIONS: &'static [&'static str];
    /// The key of the generated credential in the connection Secret.
    const CREDENTIAL_KEY: &'static str;
    /// How messages name the resource.
    const NOUNS: &'static Nouns;

    /// The resource the spec asks to adopt, if any.
    fn adopt_id(spec: &Spec<Self>) -> Option<&str>;
    /// The user's tags.
    fn user_tags(spec: &Spec<Self>) -> &BTreeMap<String, String>;
    /// The deletion policy the spec sets.
    fn deletion_policy(spec: &Spec<Self>) -> Option<DeletionPolicy>;
    /// Whether the spec holds deletion (`deletionProtection`).
    fn deletion_protected(_spec: &Spec<Self>) -> bool {
        false
    }
    /// Whether the object has a credential tiered generates and keeps in its Secret.
    fn generates_credential(spec: &Spec<Self>) -> bool;
    /// A new credential.
    ///
    /// # Errors
    /// When the OS CSPRNG cannot be read.
    fn generate_credential() -> Result<Password, RandomError>;
    /// The data of the connection Secret.
    fn connection_data(
        spec: &Spec<Self>,
        observed: &Self::Observed,
        credential: Option<&Password>,
    ) -> BTreeMap<String, ByteString>;
    /// The status for `report` (`previous` is `object`'s).
    fn compute_status(
        object: &Self::Object,
        report: &Report<Self::Observed>,
        connection_secret: String,
        rotation: Self::Rotation,
        now: &Time,
    ) -> Status<Self>;

    /// The deterministic id of the owner's resource.
    fn deterministic_id(owner: &Owner) -> String;
    /// The id of `target`'s resource: the adopted one, else the deterministic one.
    fn resource_id(target: &Target<'_, Spec<Self>>) -> String {
        Self::adopt_id(target.spec)
            .map_or_else(|| Self::deterministic_id(&target.owner), str::to_owned)
    }
    /// The tags `target`'s resource carries: the user's plus the ownership tags.
    fn resource_tags(target: &Target<'_, Spec<Self>>) -> BTreeMap<String, String> {
        resource_tags(&target.owner, Self::user_tags(target.spec))
    }
    /// The owned settings for `spec`, named `id`, carrying `tags`.
    ///
    /// # Errors
    /// When the spec asks for what only the operator can see AWS refuses.
    fn desired(
        spec: &Spec<Self>,
        id: String,
        tags: BTreeMap<String, String>,
    ) -> Result<Self::Desired, InvalidSpec>;
    /// Whether the resource is created with (and keeps) the generated credential.
    fn uses_credential(desired: &Self::Desired) -> bool;
    /// The ARN of the resource, for the tag calls.
    fn arn(resource: &Self::Resource) -> Option<&str>;
    /// The status AWS reports (`available`, `creating`, …).
    fn aws_status(resource: &Self::Resource) -> Option<&str>;
    /// What that status means.
    fn phase(status: &str) -> Phase;
    /// What a person can do about a stalled status.
    fn stalled_hint(status: &str) -> &'static str;
    /// A resource AWS created without describing it in the answer: `id`, `creating`.
    fn creating(id: &str) -> Self::Resource;
    /// The ids of the resources that belong to `resource` and go before it on deletion
    /// (read replicas).
    fn related_ids(_resource: &Self::Resource) -> Vec<String> {
        Vec::new()
    }

    /// Namespaces allowed to adopt existing resources; `None` allows all.
    fn adoption_namespaces(&self) -> Option<&BTreeSet<String>>;
    /// The resource `id` as AWS describes it now; `None` when it does not exist.
    fn describe(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<Self::Resource>, AwsError>> + Send;
    /// The resource `id` for a reconcile; a kind may answer from a shared read.
    fn find(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<Self::Resource>, AwsError>> + Send {
        self.describe(id)
    }
    /// The tags of `resource`, as key and value.
    fn tags(
        &self,
        resource: &Self::Resource,
    ) -> impl Future<Output = Result<Vec<(String, String)>, AwsError>> + Send;
    /// Adds (or overwrites) `tags` on the resource `arn`.
    fn add_tags(
        &self,
        arn: &str,
        tags: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Removes the tags `keys` from the resource `arn`.
    fn remove_tags(
        &self,
        arn: &str,
        keys: &[&str],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Creates the resource; `Ok(None)` when AWS did not describe it in the answer.
    fn create(
        &self,
        target: &Target<'_, Spec<Self>>,
        desired: &Self::Desired,
        credential: Option<&Password>,
    ) -> impl Future<Output = Result<Option<Self::Resource>, AwsError>> + Send;
    /// Gives the existing resource `id` the credential just generated (the Secret had
    /// none: adopted, or lost).
    fn set_credential(
        &self,
        id: &str,
        credential: &Password,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Fills `observed` from `resource` and what belongs to it (replicas, members).
    fn observe(
        &self,
        target: &Target<'_, Spec<Self>>,
        resource: &Self::Resource,
        observed: &mut Self::Observed,
    ) -> impl Future<Output = Result<(), ConvergeError>> + Send;
    /// The kind's own convergence of an available, claimed resource: sends the change
    /// that brings it closer to `desired`, counting mutations in `report`; `Ready` when
    /// nothing differs.
    fn converge(
        &self,
        desired: &Self::Desired,
        resource: &Self::Resource,
        report: &mut Report<Self::Observed>,
    ) -> impl Future<Output = Result<Progress, ConvergeError>> + Send;
    /// Called after a pass that changed something in AWS (a shared read goes stale).
    fn mutated(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
    /// Deletes `resource` (`related` first), with the final snapshot `snapshot`.
    fn delete(
        &self,
        resource: &Self::Resource,
        related: &[Self::Resource],
        snapshot: Option<&str>,
    ) -> impl Future<Output = Result<Deletion, AwsError>> + Send;
    /// The kind's own step after the AWS pass, e.g. a rotation the object asks for:
    /// may replace `credential` before the Secret is written.
    ///
    /// # Errors
    /// When the step's AWS call fails.
    fn rotate(
        &self,
        _events: &Publisher,
        _object: &Self::Object,
        _report: &Report<Self::Observed>,
        _credential: &mut Option<Password>,
    ) -> impl Future<Output = Result<Self::Rotation, Error>> + Send {
        async { Ok(Self::Rotation::default()) }
    }
}

/// The spec of `K`'s objects.
pub type Spec<K> = <<K as DataTier>::Object as HasSpec>::Spec;
/// The status of `K`'s objects.
pub type Status<K> = <<K as DataTier>::Object as HasStatus>::Status;

/// The key of an object in the backoff.
pub type Key<K> = ObjectRef<DeserializeGuard<<K as DataTier>::Object>>;

/// What the reconciles of one data-tier controller share.
pub struct Shared<K: DataTier> {
    /// The process-wide context (client, metrics, Event publisher, cluster name).
    pub ctx: Context,
    /// The kind, with its AWS client and settings.
    pub kind: K,
    /// Resync period of converged objects.
    pub resync: Duration,
    /// Consecutive failures per object.
    pub backoff: Backoff<Key<K>>,
}

impl<K: DataTier> Shared<K> {
    /// The context of a controller of `kind` in `ctx`'s process.
    pub fn new(ctx: Context, kind: K, resync: Duration) -> Self {
        Self {
            ctx,
            kind,
            resync,
            backoff: Backoff::default(),
        }
    }

    /// When to look at `key` again after a reconcile that ended in `progress`: a
    /// transient failure backs off, anything else starts the backoff over.
    pub fn requeue(&self, key: &Key<K>, progress: &Progress) -> Action {
        if let Progress::Transient { .. } = progress {
            return Action::requeue(self.backoff.failed(key.clone()));
        }
        self.backoff.succeeded(key);
        Action::requeue(match progress {
            Progress::InProgress { .. } => IN_PROGRESS.min(self.resync),
            Progress::Stalled { .. } => STALLED,
            Progress::Ready { .. } | Progress::Transient { .. } => self.resync,
        })
    }
}

/// Label selector of the connection Secrets of `K`.
pub fn secret_selector<K: DataTier>() -> String {
    format!(
        "app.kubernetes.io/managed-by=tiered,app.kubernetes.io/component={}",
        K::COMPONENT
    )
}

/// What of an object, when it changes, needs a reconcile: the spec (generation), the
/// kind's trigger annotations, deletion and the finalizers. Status writes and other
/// metadata changes do not.
pub fn reconcile_trigger<K>(object: &DeserializeGuard<K>, annotations: &[&str]) -> Option<u64>
where
    K: Resource<DynamicType = ()>,
{
    let meta = object.meta();
    let mut hasher = DefaultHasher::new();
    meta.generation.hash(&mut hasher);
    for annotation in annotations {
        meta.annotations
            .as_ref()
            .and_then(|all| all.get(*annotation))
            .hash(&mut hasher);
    }
    meta.deletion_timestamp.is_some().hash(&mut hasher);
    meta.finalizers.hash(&mut hasher);
    Some(hasher.finish())
}

/// Runs one controller of `kind` until `shutdown` resolves: one kube-runtime
/// `Controller` over a reflector of the primary kind (read through
/// `DeserializeGuard`, so one malformed object cannot stop the watch, and filtered to
/// changes that need work) and of the connection Secrets it owns. `synced` fires once
/// both caches have their first full list.
pub async fn run<K: DataTier>(
    ctx: Context,
    kind: K,
    config: ControllerConfig,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
    synced: tokio::sync::oneshot::Sender<()>,
) {
    let client = ctx.client.clone();
    let shared = Arc::new(Shared::new(ctx, kind, config.resync));
    let ns = config.namespace.as_deref();
    let (reader, writer) = reflector::store::<DeserializeGuard<K::Object>>();
    let objects = watcher(
        scoped::<DeserializeGuard<K::Object>>(client.clone(), ns),
        watcher::Config::default(),
    )
    .default_backoff()
    .reflect(writer)
    .applied_objects()
    .predicate_filter(
        |object: &DeserializeGuard<K::Object>| reconcile_trigger(object, K::TRIGGER_ANNOTATIONS),
        PredicateConfig::default(),
    );
    let (secrets, secret_events) = reflected::<Secret>(
        scoped(client, ns),
        watcher::Config::default().labels(&secret_selector::<K>()),
    );

    let sync_objects = reader.clone();
    tokio::spawn(async move {
        if wait_until_ready(&sync_objects).await.is_ok()
            && wait_until_ready(&secrets.store).await.is_ok()
        {
            let _ = synced.send(());
        }
    });

    Controller::for_stream(objects, reader)
        .owns_stream(secret_events)
        .with_config(controller::Config::default().concurrency(config.concurrency))
        .graceful_shutdown_on(shutdown)
        .run(reconcile::<K>, error_policy::<K>, shared)
        .for_each(|result| async move {
            match result {
                Ok((object, _)) => tracing::debug!(object = %object, "reconciled"),
                Err(controller::Error::ReconcilerFailed(error, object)) => {
                    tracing::warn!(controller = K::CONTROLLER, object = %object, error = %error, category = %error.category(), "reconcile failed; requeued");
                }
                Err(error) => tracing::warn!(controller = K::CONTROLLER, %error, "controller stream error"),
            }
        })
        .await;
}

/// Reconciles one object, measured in the metrics of `K::CONTROLLER`.
pub async fn reconcile<K: DataTier>(
    guard: Arc<DeserializeGuard<K::Object>>,
    shared: Arc<Shared<K>>,
) -> Result<Action, Error> {
    let metrics = Arc::clone(&shared.ctx.metrics);
    let _measure = metrics.reconcile_started(K::CONTROLLER);
    let result = match &guard.0 {
        Ok(object) => {
            let key = ObjectRef::from_obj(guard.as_ref());
            Box::pin(reconcile_object(Arc::new(object.clone()), key, &shared)).await
        }
        Err(error) => Err(Error::Malformed {
            message: error.to_string(),
        }),
    };
    if let Err(error) = &result {
        metrics.reconcile_failed(K::CONTROLLER, error.category());
    }
    result
}

/// Reconciles one object: the finalizer, then the pipeline or the cleanup.
#[tracing::instrument(skip_all, fields(controller = K::CONTROLLER, namespace = object.namespace(), name = object.name_any()))]
async fn reconcile_object<K: DataTier>(
    object: Arc<K::Object>,
    key: Key<K>,
    shared: &Shared<K>,
) -> Result<Action, Error> {
    let namespace = object.namespace().ok_or(Error::MissingMetadata)?;
    let api: Api<K::Object> = Api::namespaced(shared.ctx.client.clone(), &namespace);
    Box::pin(finalizer(&api, K::FINALIZER, object, |event| async {
        match event {
            finalizer::Event::Apply(object) => {
                let progress = Box::pin(reconcile::apply(shared, &object)).await?;
                Ok(shared.requeue(&key, &progress))
            }
            finalizer::Event::Cleanup(object) => {
                Box::pin(cleanup::finalize(shared, &key, &object)).await
            }
        }
    }))
    .await
    .map_err(|error| Error::Finalizer(Box::new(error)))
}

/// Requeue policy for failed reconciles: a pending deletion at its own pace, a
/// malformed object rarely (a fix arrives through the watch), the rest with the
/// shared backoff.
#[allow(clippy::needless_pass_by_value)] // the signature kube-runtime calls
pub fn error_policy<K: DataTier>(
    object: Arc<DeserializeGuard<K::Object>>,
    error: &Error,
    shared: Arc<Shared<K>>,
) -> Action {
    if let Some(requeue) = error.deletion_requeue() {
        return Action::requeue(requeue);
    }
    match error {
        Error::Malformed { .. } => Action::requeue(STALLED),
        _ => Action::requeue(shared.backoff.failed(ObjectRef::from_obj(object.as_ref()))),
    }
}
