//! The kind as the shared outline sees it, apart from the steps so that every step can
//! import it and none imports another back: the [`DataTier`] trait each AWS-backed
//! kind implements, the types its signatures use ([`Target`], [`Credential`],
//! [`Report`], [`Deletion`]), and what the reconciles of one controller share
//! ([`Shared`]: the process context, the kind, the resync, the backoff and the budgets
//! of mutating AWS calls).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Debug;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::{ByteString, NamespaceResourceScope};
use kube::core::DeserializeGuard;
use kube::core::object::{HasSpec, HasStatus};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::shared::RECONCILE_REQUESTED_AT_ANNOTATION;
use crate::aws::errors::AwsError;
use crate::aws::naming::stored_identifier;
use crate::aws::tags::{Owner, resource_tags};
use crate::runtime::backoff::{Backoff, IN_PROGRESS, STALLED};
use crate::runtime::context::Context;
use crate::runtime::events::Publisher;
use crate::runtime::kstatus::WithConditions;
use crate::runtime::mutations::Budgets;
use crate::runtime::own_writes::OwnWrites;

use crate::controllers::data_tier::error::{ConvergeError, Error, InvalidSpec, Nouns};
use crate::controllers::data_tier::parameter_groups::{
    GroupCalls, Retirement, retire_parameter_groups,
};
use crate::controllers::data_tier::secret::{Password, RandomError};
use crate::controllers::data_tier::snapshot_calls::{SnapshotCalls, delete_taken_snapshots};
use crate::controllers::data_tier::snapshots::requested_names;
use crate::controllers::data_tier::spec::{SharedSpec, SharedStatus};
use crate::controllers::data_tier::status::{Phase, Progress};
use crate::controllers::data_tier::tags::TagCalls;

/// One AWS-backed kind as the shared outline sees it: its Kubernetes object, the spec
/// fields the outline reads, its connection Secret, and its AWS resource with the calls
/// the outline makes on it, its tags ([`TagCalls`]), its snapshots on demand
/// ([`SnapshotCalls`]) and the parameter group of `spec.parameters` ([`GroupCalls`])
/// among them. The value holds
/// the kind's AWS client and settings.
pub trait DataTier: TagCalls + SnapshotCalls + GroupCalls + Send + Sync + Sized + 'static {
    /// The primary kind (ManagedDatabase, CacheCluster), with its spec (the fields both
    /// kinds spell alike read through [`SharedSpec`]) and status.
    type Object: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + HasSpec<Spec: SharedSpec + Send + Sync>
        + HasStatus<Status: WithConditions + SharedStatus + Default + Serialize + Send + Sync>
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
    /// The key that keeps a generated credential the resource does not have yet
    /// ([`Credential::pending`]), so the Secret never claims it before AWS accepted it.
    const PENDING_CREDENTIAL_KEY: &'static str = "pendingCredential";
    /// How messages name the resource.
    const NOUNS: &'static Nouns;

    /// The resource the spec asks to adopt, if any.
    fn adopt_id(spec: &Spec<Self>) -> Option<&str>;
    /// Whether the spec holds deletion (`deletionProtection`).
    fn deletion_protected(_spec: &Spec<Self>) -> bool {
        false
    }
    /// Whether the object has a credential tiered generates and keeps in its Secret.
    fn generates_credential(spec: &Spec<Self>) -> bool;
    /// Whether `object` explicitly asks for a new credential (a rotation request): only
    /// then is an adopted resource's credential replaced.
    fn credential_reset_requested(_object: &Self::Object) -> bool {
        false
    }
    /// Whether a credential generated for `spec` only becomes the resource's once
    /// [`DataTier::set_credential`] gave it to the available resource (a restore: the
    /// snapshot's credential is unknown); until then it is kept as pending.
    fn credential_pending(_spec: &Spec<Self>) -> bool {
        false
    }
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
            .map_or_else(|| Self::deterministic_id(&target.owner), stored_identifier)
    }
    /// The tags `target`'s resource carries: the user's plus the ownership tags.
    fn resource_tags(target: &Target<'_, Spec<Self>>) -> BTreeMap<String, String> {
        resource_tags(&target.owner, target.spec.user_tags())
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
    /// Checks that the existing resource `resource` is what `spec` describes, before an
    /// adoption tags it as ours (issue 9: every check before the first mutating call);
    /// the default accepts.
    ///
    /// # Errors
    /// [`InvalidSpec`] naming the spec field that does not match the resource.
    fn check_adoption(_spec: &Spec<Self>, _resource: &Self::Resource) -> Result<(), InvalidSpec> {
        Ok(())
    }
    /// Checks that what `desired` asks of the existing `resource` can be done in place:
    /// a setting AWS fixes at creation that differs stalls the object before any
    /// credential is generated, any Secret written or any AWS call changes anything
    /// (issue 10); the default accepts.
    ///
    /// # Errors
    /// [`ConvergeError::Unsupported`] naming the spec field and what to do.
    fn check_in_place(
        _desired: &Self::Desired,
        _resource: &Self::Resource,
    ) -> Result<(), ConvergeError> {
        Ok(())
    }
    /// Checks, while the resource does not exist yet, that this object may use what its
    /// creation reads: a restore's source must be its namespace's or opted in for it
    /// (`crate::aws::restore_source`). Runs before the first write of the pass; the
    /// default accepts.
    fn check_create(
        &self,
        _target: &Target<'_, Spec<Self>>,
    ) -> impl Future<Output = Result<(), ConvergeError>> + Send {
        async { Ok(()) }
    }
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

    /// The kind as it serves `spec` when that differs from `self`: an object in another
    /// AWS region gets that region's client (RDS `spec.region`). `None`: `self`.
    fn for_spec(&self, _spec: &Spec<Self>) -> Option<Self> {
        None
    }
    /// Whether `resource` of `spec` can be given the pending credential now
    /// ([`Credential::pending`]); a read replica cannot until it is promoted.
    fn accepts_credential(_spec: &Spec<Self>, _resource: &Self::Resource) -> bool {
        true
    }
    /// Namespaces allowed to adopt existing resources; empty allows none.
    fn adoption_namespaces(&self) -> &BTreeSet<String>;
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
    /// Called after a pass that sent a mutating call for the resource `id` (answered or
    /// not): a shared read no longer shows it, nor what belongs to it, as it is.
    fn mutated(&self, _id: &str) -> impl Future<Output = ()> + Send {
        async {}
    }
    /// The claim of `id`'s pass was remembered and the pass is about to change
    /// something: forget what was remembered, so that the pass run again reads it
    /// ([`crate::runtime::claims`]).
    fn forget_claim(&self, _id: &str) {}
    /// Under `deletionPolicy: Delete`, once AWS accepted the deletion (the resource
    /// deleting or gone): deletes the snapshots `spec.snapshots` took (issue 13: they
    /// follow the deletion policy, kept with `Snapshot` and `Retain`). Repeatable: a
    /// snapshot already gone is fine.
    fn delete_requested_snapshots(
        &self,
        target: &Target<'_, Spec<Self>>,
    ) -> impl Future<Output = Result<(), AwsError>> + Send {
        async move {
            let names = requested_names(target.spec.snapshot_requests());
            delete_taken_snapshots(self, &Self::resource_id(target), &names, &target.owner).await
        }
    }
    /// Once the resource is gone under a policy that deletes it: removes what tiered
    /// made for it besides, the parameter groups of `spec.parameters` (not before: a
    /// group in use cannot be deleted).
    fn gone(
        &self,
        target: &Target<'_, Spec<Self>>,
    ) -> impl Future<Output = Result<(), AwsError>> + Send {
        async move {
            let id = Self::resource_id(target);
            retire_parameter_groups(self, &id, &target.owner, Retirement::Delete).await
        }
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
    /// Recent mutating AWS calls per object ([`crate::runtime::mutations`]).
    pub budgets: Budgets<Key<K>>,
    /// The connection Secrets this controller is writing or wrote last, so their watch
    /// events do not trigger a reconcile ([`crate::runtime::own_writes`]).
    pub own_secrets: Arc<OwnWrites>,
    /// The controller's cache of its objects: those its watch selects (the process's
    /// namespaces and `--watch-label-selector`).
    pub objects: Store<DeserializeGuard<K::Object>>,
    /// The last value of [`RECONCILE_REQUESTED_AT_ANNOTATION`] handled per object uid
    /// ([`Shared::read_afresh_if_requested`]). In memory: after a restart every request counts as
    /// new once, when the shared AWS reads are fresh anyway.
    requests: Mutex<HashMap<String, String>>,
}

impl<K: DataTier> Shared<K> {
    /// The context of a controller of `kind` in `ctx`'s process.
    pub fn new(
        ctx: Context,
        kind: K,
        resync: Duration,
        objects: Store<DeserializeGuard<K::Object>>,
    ) -> Self {
        Self {
            ctx,
            kind,
            resync,
            backoff: Backoff::default(),
            budgets: Budgets::default(),
            own_secrets: Arc::default(),
            objects,
            requests: Mutex::default(),
        }
    }

    /// Publishes an Event of `type_` and `reason` about `object`, best effort
    /// ([`Publisher::emit_reconcile`]).
    pub async fn emit(&self, object: &K::Object, type_: EventType, reason: &str, note: String) {
        self.ctx
            .events
            .emit_reconcile(object, type_, reason, note)
            .await;
    }

    /// When `object` carries a value of [`RECONCILE_REQUESTED_AT_ANNOTATION`] this
    /// controller has not handled yet (as Flux's `reconcile.fluxcd.io/requestedAt`),
    /// makes `kind` read its resource `id` and its claim from AWS afresh in this pass,
    /// rather than from the shared reads of the resync window; the value counts as
    /// handled from now on. Found from outside: an instance deleted by hand stayed Ready
    /// for minutes through a dozen requests.
    pub async fn read_afresh_if_requested(&self, kind: &K, object: &K::Object, id: &str) {
        let (Some(uid), Some(value)) = (
            object.meta().uid.as_ref(),
            object.annotations().get(RECONCILE_REQUESTED_AT_ANNOTATION),
        ) else {
            return;
        };
        let newly = {
            let mut handled = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
            handled.insert(uid.clone(), value.clone()).as_ref() != Some(value)
        };
        if newly {
            kind.forget_claim(id);
            kind.mutated(id).await;
        }
    }

    /// Whether `object` is still this controller's to write: its cache holds the object
    /// (same uid). A pass can outlive that: the object relabelled into another shard's
    /// selector, or deleted and made anew under its name, while an AWS call of the pass
    /// was slow or retried; the process now in charge has written a newer status, which
    /// this pass must not overwrite (the shard that lost it would never correct it).
    pub fn holds(&self, object: &K::Object) -> bool {
        let Some(namespace) = object.meta().namespace.as_deref() else {
            return false;
        };
        let key = ObjectRef::new(&object.name_any()).within(namespace);
        self.objects
            .get(&key)
            .is_some_and(|held| held.meta().uid == object.meta().uid)
    }

    /// When to look at `key` again after a reconcile that ended in `progress`: a
    /// transient failure, or the held repeat of a call AWS did not accept (most often
    /// the SDK's retry of a throttled call, which should slow down), backs off; another
    /// held call comes back when it may go; anything else starts the backoff over.
    pub fn requeue(&self, key: &Key<K>, progress: &Progress) -> Action {
        if let Progress::Transient { .. }
        | Progress::Paced {
            after_failure: true,
            ..
        } = progress
        {
            return Action::requeue(self.backoff.failed(key.clone()));
        }
        // A call held by the window or after a restart: back when it may go (a second
        // late, so that the window has moved on). Backing off instead made the first
        // try after a restart's minute come up to a minute late, doubling the wait.
        if let Progress::Paced { retry_after, .. } = progress {
            return Action::requeue((*retry_after + Duration::from_secs(1)).min(self.resync));
        }
        self.backoff.succeeded(key);
        Action::requeue(match progress {
            Progress::InProgress { .. } => IN_PROGRESS.min(self.resync),
            Progress::Stalled { .. } => STALLED,
            Progress::Ready { .. } | Progress::Transient { .. } | Progress::Paced { .. } => {
                self.resync
            }
        })
    }
}

/// The object being reconciled: who claims the resource, and the spec.
#[derive(Clone, Debug)]
pub struct Target<'a, S> {
    /// Who claims the resource.
    pub owner: Owner,
    /// The spec.
    pub spec: &'a S,
}

/// The generated credential for this pass.
#[derive(Clone, Copy, Debug, Default)]
pub struct Credential<'a> {
    /// The credential (from the connection Secret); `None` when there is none.
    pub value: Option<&'a Password>,
    /// It was generated for this reconcile (the Secret had none): a resource that
    /// already exists gets it.
    pub is_new: bool,
    /// The resource does not have it yet (a restored instance): it is given to the
    /// resource once available, and only then stored as the credential.
    pub pending: bool,
}

/// The result of one pass against AWS.
#[derive(Clone, Debug, PartialEq)]
pub struct Report<O> {
    /// The resource id.
    pub id: String,
    /// What AWS reported.
    pub observed: O,
    /// Where the object stands.
    pub progress: Progress,
    /// Number of mutating AWS calls made (zero for a converged object).
    pub mutations: u32,
    /// AWS accepted the pending credential in this pass ([`Credential::pending`]).
    pub credential_accepted: bool,
    /// The pass got as far as observing the resource: `observed` says what AWS has.
    /// Otherwise `observed` is empty for want of a look, not because the resource has no
    /// endpoint, and the Secret and the status keep what they had.
    pub observed_resource: bool,
}

impl<O> Report<O> {
    /// The report of a pass on the resource `id` that has made no mutating call and
    /// had no pending credential accepted (yet).
    pub const fn new(id: String, observed: O, progress: Progress) -> Self {
        Self {
            id,
            observed,
            progress,
            mutations: 0,
            credential_accepted: false,
            observed_resource: false,
        }
    }
}

/// What a kind's delete did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Deletion {
    /// AWS accepted the delete request.
    Requested,
    /// Nothing to wait for any more: what happened.
    Done(String),
    /// AWS is deleting (the resource, or what goes before it): what is happening.
    Waiting(String),
}
