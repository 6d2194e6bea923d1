//! The two data-tier kinds as the shared tests drive them. [`Kind`], implemented for
//! the product's `Rds` and `ElastiCache`, says what differs between a ManagedDatabase
//! and a CacheCluster (a base spec, a client on moto or on mocked SDK rules, how to
//! list resources or create one an administrator made, the statuses on the way to
//! `available`, …); the generic tests in `data_tier_{mocks,moto,controller}.rs` are
//! written once against it, and [`both_kinds!`] runs each once per kind, as a test
//! named after it in a `database` and a `cache` module.

use std::collections::BTreeMap;

use aws_smithy_mocks::Rule;
use k8s_openapi::jiff::Timestamp;
use kube::Resource;
use serde_json::{Value, json};
use tiered::controllers::data_tier::cleanup::{Cleanup, cleanup};
use tiered::controllers::data_tier::kind::{Credential, Report, Target};
use tiered::controllers::data_tier::reconcile::sync;
use tiered::controllers::data_tier::secret::Password;
use tiered::controllers::data_tier::status::Progress;
use tiered::controllers::data_tier::{DataTier, Spec, Status};

use super::fixtures::{deletion_time, owner};
use super::moto::MotoServer;

pub mod cache;
pub mod database;
pub mod on_moto;
pub mod operator;

pub use on_moto::{OnMoto, assert_waited_on_final_snapshot, ready_on_moto};

/// Runs each generic test `name::<K>()` once per kind: `database::name` for
/// ManagedDatabase, `cache::name` for CacheCluster.
macro_rules! both_kinds {
    ($($test:ident),* $(,)?) => {
        mod database {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test::<tiered::controllers::managed_database::Rds>().await;
                }
            )*
        }
        mod cache {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test::<tiered::controllers::cache_cluster::ElastiCache>().await;
                }
            )*
        }
    };
}
pub(crate) use both_kinds;

/// A mocked SDK call `operation` answering HTTP `status` with the AWS error document
/// `body`, every time (the `describe_fails` and `create_fails` of both kinds).
macro_rules! failing {
    ($operation:path, $status:expr, $body:expr) => {
        aws_smithy_mocks::mock!($operation)
            .sequence()
            .http_status($status, Some($body))
            .repeatedly()
            .build()
    };
}
pub(crate) use failing;

/// A mocked SDK call `operation` answering `answer(status)` for each of `statuses`, in
/// order (the `described_in` of both kinds).
macro_rules! answering_in {
    ($operation:path, $statuses:expr, $answer:expr) => {{
        let mut rule = aws_smithy_mocks::mock!($operation).sequence();
        for &status in $statuses {
            rule = rule.output(move || $answer(status));
        }
        rule.build()
    }};
}
pub(crate) use answering_in;

/// One data-tier kind in the tests.
pub trait Kind: DataTier + Sized {
    /// Name of the object of the moto tests (`db`, `cache`).
    const NAME: &'static str;
    /// Name of the object of the operator tests (`shop-db`, `shop-cache`).
    const OBJECT: &'static str;
    /// The key of a tier that uses the kind (`database`, `cache`).
    const TIER_KEY: &'static str;
    /// The variable a tier gets the Secret's `url` in.
    const URL_ENV: &'static str;
    /// The TieredApp's `Ready` reason while a tier waits for the kind.
    const WAITING_REASON: &'static str;
    /// The IAM action of the create call.
    const CREATE_ACTION: &'static str;
    /// The IAM action of the delete call.
    const DELETE_ACTION: &'static str;
    /// A metric series of an AWS call a converged controller has made, and how often
    /// at least.
    const COUNTED_CALL: (&'static str, f64);
    /// The port of the resource in moto.
    const PORT: i32;
    /// The scheme of the connection Secret's `url`.
    const URL_SCHEME: &'static str;
    /// The statuses the resource passes on the way to `available` in the mock tests.
    const ON_THE_WAY: &'static [&'static str];

    /// The spec of the moto tests, with `extra`'s fields over it.
    fn spec(extra: &Value) -> Spec<Self>;
    /// The spec of the operator tests, as JSON.
    fn manifest_spec() -> Value;
    /// `{"adopt": …}` naming the resource `id`.
    fn adopt(id: &str) -> Value;
    /// A change the service cannot make in place: the spec before, after, and the
    /// field the condition names.
    fn unsupported_change() -> (Value, Value, &'static str);
    /// An owned setting changed in a spec (to show a resource is not modified), and
    /// how to read it from the resource.
    fn changed_setting() -> Value;
    /// The setting [`Kind::changed_setting`] changes, as the resource has it.
    fn setting(resource: &Self::Resource) -> Option<String>;
    /// That setting in [`Kind::spec`].
    fn setting_of_spec() -> Option<String>;
    /// Spec fields that make [`Kind::spec`] match a resource made by
    /// [`Kind::create_untagged`], so adopting it changes nothing.
    fn adoptable() -> Value;
    /// Checks that `resource` has the settings of [`Kind::spec`].
    fn assert_created_as_specified(resource: &Self::Resource);
    /// Checks the keys of the connection Secret (as text) that only this kind has,
    /// with its parsed `url`.
    fn assert_connection_data(data: &BTreeMap<String, String>, url: &url::Url);
    /// Allows adoption in `namespaces` only.
    fn allow_adoption_in(&mut self, namespaces: std::collections::BTreeSet<String>);
    /// The kind on `server`.
    fn on(server: &MotoServer) -> Self;
    /// The kind on `server`, its shared reads (if any) taken before a create.
    async fn with_stale_reads(server: &MotoServer) -> Self {
        Self::on(server)
    }
    /// The credential the moto reconciles pass.
    fn credential() -> Password;
    /// How many resources of the kind the account holds.
    async fn count(&self) -> usize;
    /// Creates `id` without tiered's tags, as an administrator would, with `tags` (e.g.
    /// the opt-in tag `tiered.io/adoptable`).
    async fn create_untagged(&self, id: &str, tags: &[(&str, &str)]);

    /// The status of `report`, after `previous`.
    fn status_of(report: &Report<Self::Observed>, previous: Option<&Status<Self>>) -> Status<Self>;
    /// The status' `awsStatus`.
    fn aws_status_in(status: &Status<Self>) -> Option<&str>;
    /// The primary and the first reader endpoint address in the status.
    fn endpoints_in(status: &Status<Self>) -> (Option<String>, Option<String>);

    /// The id the mock tests adopt.
    const MOCK_ID: &'static str;
    /// The AWS error code of a describe of a resource that does not exist.
    const NOT_FOUND_CODE: &'static str;
    /// The spec of the mock tests (adopting [`Kind::MOCK_ID`]).
    fn mock_spec() -> Spec<Self>;
    /// Drops `spec.adopt`.
    fn forget_adoption(spec: &mut Spec<Self>);
    /// The kind over mocked SDK rules.
    fn mocked(rules: &[&Rule]) -> Self;
    /// Describe answering [`Kind::MOCK_ID`] in each of `statuses`, in order, matching
    /// the mock spec.
    fn described_in(statuses: &[&'static str]) -> Rule;
    /// The other reads a reconcile makes of an existing resource (tags, members).
    fn reads() -> Vec<Rule>;
    /// Describe failing with HTTP `status` and AWS error `code`, every time.
    fn describe_fails(status: u16, code: &str, message: &str) -> Rule;
    /// Create failing with HTTP `status` and AWS error `code`, every time.
    fn create_fails(status: u16, code: &str, message: &str) -> Rule;
    /// A modify call that succeeds (to count that none is made).
    fn modify() -> Rule;
    /// The primary and reader endpoint addresses of the described resource.
    fn mock_endpoints() -> (Option<String>, Option<String>);
}

/// The owner the mock tests use.
pub fn mock_owner() -> tiered::aws::tags::Owner {
    tiered::aws::tags::Owner {
        cluster: "test".into(),
        namespace: "shop".into(),
        name: "obj".into(),
        uid: "uid-1".into(),
    }
}

/// One pass of `K` for the object `name` with `spec`.
pub async fn reconcile_once<K: Kind>(ctx: &K, name: &str, spec: &Spec<K>) -> Report<K::Observed> {
    reconcile_as(ctx, owner(name), spec).await
}

/// One pass of `K`, over mocked SDK `rules`, for the mock owner with `spec`.
pub async fn reconcile_mocked<K: Kind>(rules: &[&Rule], spec: &Spec<K>) -> Report<K::Observed> {
    reconcile_as(&K::mocked(rules), mock_owner(), spec).await
}

/// One pass of `K` for `owner` with `spec`.
pub async fn reconcile_as<K: Kind>(
    ctx: &K,
    owner: tiered::aws::tags::Owner,
    spec: &Spec<K>,
) -> Report<K::Observed> {
    let credential = K::credential();
    sync_with(ctx, &Target { owner, spec }, &credential, false).await
}

/// One pass of `K` for `target` with `credential` in the connection Secret (`is_new`:
/// the Secret was just made, so the resource's credential is to change to it).
pub async fn sync_with<K: DataTier>(
    ctx: &K,
    target: &Target<'_, Spec<K>>,
    credential: &Password,
    is_new: bool,
) -> Report<K::Observed> {
    sync(
        ctx,
        target,
        Credential {
            value: Some(credential),
            is_new,
            pending: false,
        },
    )
    .await
}

/// The message of `progress`, which must be `Stalled` with `reason`.
pub fn stalled_message<'a>(progress: &'a Progress, reason: &str) -> &'a str {
    match progress {
        Progress::Stalled {
            reason: got,
            message,
            ..
        } => {
            assert_eq!(*got, reason, "{message}");
            message
        }
        other => panic!("expected Stalled {reason}, got {other:?}"),
    }
}

/// The message of `progress`, which must be `InProgress`.
pub fn in_progress_message(progress: &Progress) -> &str {
    match progress {
        Progress::InProgress { message, .. } => message,
        other => panic!("expected InProgress, got {other:?}"),
    }
}

/// Checks that a pass which listed `listed` shows the one snapshot `taken` as another
/// resource's (`of-another-resource`) and says so in a Ready message.
pub fn assert_shows_another_resources_snapshot<S>(progress: &Progress, listed: &[S], taken: &str)
where
    S: tiered::controllers::data_tier::snapshots::ListedSnapshot + std::fmt::Debug,
{
    assert!(
        matches!(progress, Progress::Ready { message }
            if message.contains(taken) && message.contains("another resource")),
        "{progress:?}"
    );
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].state(), Some("of-another-resource"));
}

/// Passes until Ready (at most 6), returning the last report.
pub async fn reconcile_until_ready<K: Kind>(
    ctx: &K,
    name: &str,
    spec: &Spec<K>,
) -> Report<K::Observed> {
    let mut report = reconcile_once(ctx, name, spec).await;
    for _ in 0..5 {
        if matches!(report.progress, Progress::Ready { .. }) {
            return report;
        }
        report = reconcile_once(ctx, name, spec).await;
    }
    panic!("not ready after 6 rounds: {:?}", report.progress);
}

/// One finalizer step of `K` for `target` with no status yet, deleted at
/// [`deletion_time`].
pub async fn cleanup_once<K: DataTier>(ctx: &K, target: &Target<'_, Spec<K>>) -> Cleanup {
    cleanup(ctx, target, None, deletion_time())
        .await
        .expect("cleanup failed")
}

/// One finalizer step of `K` for `target`, which must be refused, saying what to do,
/// because a snapshot the deletion did not take holds the final snapshot's name
/// `final_name`.
pub async fn assert_final_snapshot_name_held<K: DataTier>(
    ctx: &K,
    target: &Target<'_, Spec<K>>,
    final_name: &str,
) {
    let refused = cleanup(ctx, target, None, deletion_time())
        .await
        .expect_err("the deletion is refused, not waited for");
    let said = format!("{:?}", Progress::from(&refused));
    assert!(
        said.contains(final_name) && said.contains("deletionPolicy: Retain or Delete"),
        "{said}"
    );
}

/// The message of `step`, which must be `Waiting`.
pub fn waiting_message(step: &Cleanup) -> &str {
    match step {
        Cleanup::Waiting { message, .. } => message,
        other => panic!("expected Waiting, got {other:?}"),
    }
}

/// Cleanup steps of the object `name` until done or held (at most 6).
pub async fn delete_until_done<K: Kind>(ctx: &K, name: &str, spec: &Spec<K>) -> Vec<Cleanup> {
    let target = Target {
        owner: owner(name),
        spec,
    };
    let mut steps = Vec::new();
    for _ in 0..6 {
        let step = cleanup_once(ctx, &target).await;
        let done = matches!(
            step,
            Cleanup::Done { .. } | Cleanup::LeftAlone { .. } | Cleanup::Held
        );
        steps.push(step);
        if done {
            return steps;
        }
    }
    panic!("cleanup did not finish: {steps:?}");
}

/// The resource `id` as AWS describes it now.
pub async fn resource<K: Kind>(ctx: &K, id: &str) -> Option<K::Resource> {
    ctx.describe(id).await.expect("describe failed")
}

/// The tags of the resource `id`.
pub async fn tags<K: Kind>(ctx: &K, id: &str) -> BTreeMap<String, String> {
    let Some(found) = resource(ctx, id).await else {
        return BTreeMap::new();
    };
    ctx.tags(&found).await.expect("tags").into_iter().collect()
}

/// The object `name` of kind `K` in `namespace` with `spec`.
pub fn object<K: Kind>(namespace: &str, name: &str, spec: &Value) -> K::Object {
    serde_json::from_value(json!({
        "apiVersion": K::Object::api_version(&()),
        "kind": K::Object::kind(&()),
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }))
    .expect("a valid object")
}

/// `base` with `extra`'s top-level fields over it.
pub fn merged(mut base: Value, extra: &Value) -> Value {
    if let (Some(base), Some(extra)) = (base.as_object_mut(), extra.as_object()) {
        for (key, value) in extra {
            base.insert(key.clone(), value.clone());
        }
    }
    base
}

/// The time the statuses of the mock tests are computed at.
pub fn time() -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Time {
    k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Timestamp::UNIX_EPOCH)
}

/// `status.parameterGroup` reporting the group `name` of `family`, as AWS applies it
/// (`apply_status`: `in-sync`, `pending-reboot`, …).
pub fn reported_group(
    name: &str,
    family: &str,
    apply_status: &str,
) -> tiered::api::parameters::ParameterGroupStatus {
    tiered::api::parameters::ParameterGroupStatus {
        name: name.into(),
        family: family.into(),
        apply_status: Some(apply_status.into()),
        pending_reboot: apply_status == "pending-reboot",
        reboot: None,
    }
}
