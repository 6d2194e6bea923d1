//! One reconcile of a TieredApp: fetch dependencies → validate and build → apply the
//! children that differ → prune → compute status and write it once, only if it changed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Resource, ResourceExt};
use tracing::instrument;

use crate::api::conditions::reasons;
use crate::api::tiered_app::{TieredApp, TieredAppStatus};
use crate::controllers::tiered_app::apply::{
    ApplyReport, IN_FLIGHT_WINDOW, InFlight, KindPass, apply_kind,
};
use crate::controllers::tiered_app::build::{LiveReplicas, TierWiring, Wiring, desired_children};
use crate::controllers::tiered_app::children::{
    ChildSet, Plan, TierDependencies, plan, prune_labels,
};
use crate::controllers::tiered_app::dependencies::{DependencyKind, Readiness, Resolver};
use crate::controllers::tiered_app::error::{Error, Result};
use crate::controllers::tiered_app::status;
use crate::runtime::context::Context;
use crate::runtime::error::ReconcileError;
use crate::runtime::events::{Event, EventType};
use crate::runtime::status::apply_status;
use crate::runtime::stores::ChildStores;

/// Name of this controller in metrics and logs.
pub const CONTROLLER: &str = "tieredapp";
/// Pod-template annotation with the hash of the connection Secrets a tier uses.
pub const CONNECTION_HASH: &str =
    crate::controllers::tiered_app::build::deployment::SECRET_HASH_ANNOTATION;
/// Re-check interval of a Stalled TieredApp (a referenced object may appear).
pub const STALLED_RECHECK: Duration = Duration::from_mins(5);

/// What the reconcile of one controller instance needs.
pub struct AppContext {
    /// Shared process context.
    pub ctx: Context,
    /// Live children.
    pub stores: ChildStores,
    /// TieredApps (for the dependency mapper).
    pub apps: Store<DeserializeGuard<TieredApp>>,
    /// Requeue interval of a healthy app.
    pub resync: Duration,
    /// Consecutive failures per app, for exponential backoff.
    pub failures: Mutex<HashMap<ObjectRef<DeserializeGuard<TieredApp>>, u32>>,
    /// Applies the child stores have not shown yet.
    pub in_flight: InFlight,
}

/// Backoff after `failures` consecutive failures: 1 s, 2 s, 4 s, … capped at 2 min.
pub fn backoff(failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(7);
    Duration::from_secs(1u64 << exponent).min(Duration::from_mins(2))
}

/// The reconcile entry point of the Controller.
#[allow(clippy::needless_pass_by_value)] // the signature kube-runtime calls
#[instrument(skip_all, fields(name = %object.name_any(), namespace = object.namespace().unwrap_or_default()))]
pub async fn reconcile(
    object: Arc<DeserializeGuard<TieredApp>>,
    ctx: Arc<AppContext>,
) -> Result<Action> {
    let _measure = ctx.ctx.metrics.reconcile_started(CONTROLLER);
    let app = match &object.0 {
        Ok(app) => app,
        Err(invalid) => {
            let problem = crate::controllers::tiered_app::unreadable::problem(
                &ctx.ctx,
                &object,
                &invalid.error,
            )
            .await;
            tracing::warn!(error = %problem, "skipping a malformed TieredApp");
            if let Err(error) = crate::controllers::tiered_app::unreadable::write_stalled(
                &ctx.ctx,
                &object,
                problem.clone(),
            )
            .await
            {
                tracing::debug!(%error, "could not write the Stalled status");
            }
            let reference = object.object_ref(&());
            publish(
                &ctx.ctx,
                &reference,
                EventType::Warning,
                "InvalidObject",
                "Reconcile",
                problem,
            )
            .await;
            return Ok(Action::await_change());
        }
    };
    if app.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    // The Controller waits for the TieredApp cache only; diffing against child caches
    // that have not listed yet would re-apply every child after a restart (writes,
    // Events, and a Ready flap), so wait for them too.
    ctx.stores
        .wait_until_ready()
        .await
        .map_err(|_| Error::CacheClosed)?;
    let key = ObjectRef::from_obj(object.as_ref());
    match reconcile_app(app, &ctx).await {
        Ok(action) => {
            ctx.failures
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&key);
            Ok(action)
        }
        Err(error) => {
            ctx.ctx
                .metrics
                .reconcile_failed(CONTROLLER, error.category());
            tracing::warn!(error = %error.chain(), category = %error.category(), "reconcile failed");
            publish(
                &ctx.ctx,
                &app.object_ref(&()),
                EventType::Warning,
                error.category().reason(),
                "Reconcile",
                error.chain(),
            )
            .await;
            if !matches!(error, Error::Status { .. }) {
                let current = app.status.as_ref();
                let summary = status::retrying(status::current_ready(current), &error.chain());
                let tiers = current.map(|s| s.tiers.clone()).unwrap_or_default();
                let url = current.and_then(|s| s.url.clone());
                let next = status::build(
                    current,
                    app.metadata.generation,
                    summary,
                    tiers,
                    url,
                    &now(),
                );
                // Best effort: the error itself is what the controller retries.
                let _ = write_status(&ctx.ctx, app, next).await;
            }
            Err(error)
        }
    }
}

/// The error policy of the Controller: exponential backoff per app.
#[allow(clippy::needless_pass_by_value)] // the signature kube-runtime calls
pub fn error_policy(
    object: Arc<DeserializeGuard<TieredApp>>,
    _error: &Error,
    ctx: Arc<AppContext>,
) -> Action {
    let key = ObjectRef::from_obj(object.as_ref());
    let mut failures = ctx.failures.lock().unwrap_or_else(PoisonError::into_inner);
    let count = failures.entry(key).or_insert(0);
    *count = count.saturating_add(1);
    Action::requeue(backoff(*count))
}

fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

async fn publish(
    ctx: &Context,
    reference: &k8s_openapi::api::core::v1::ObjectReference,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    let event = Event {
        type_,
        reason: reason.to_owned(),
        note: Some(note),
        action: action.to_owned(),
        secondary: None,
    };
    if let Err(error) = ctx.events.publish(&event, reference).await {
        tracing::debug!(%error, "failed to publish an Event");
    }
}

async fn reconcile_app(app: &TieredApp, ctx: &AppContext) -> Result<Action> {
    let name = app.name_any();
    let namespace = app
        .namespace()
        .ok_or(Error::MissingMetadata("metadata.namespace"))?;
    let owner = app
        .controller_owner_ref(&())
        .ok_or(Error::MissingMetadata("metadata.uid"))?;
    let reference = app.object_ref(&());
    let current = app.status.as_ref();

    let Plan {
        app: validated,
        tiers,
        https,
    } = match plan(app) {
        Ok(plan) => plan,
        Err(problems) => {
            let message = problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            let next = status::build(
                current,
                app.metadata.generation,
                status::stalled(message.clone()),
                Vec::new(),
                None,
                &now(),
            );
            if write_status(&ctx.ctx, app, next).await? {
                publish(
                    &ctx.ctx,
                    &reference,
                    EventType::Warning,
                    reasons::INVALID_SPEC,
                    "Validate",
                    message,
                )
                .await;
            }
            return Ok(Action::requeue(STALLED_RECHECK));
        }
    };

    let Frozen {
        tiers: frozen,
        waiting,
        hashes,
    } = resolve_dependencies(ctx.ctx.client.clone(), &namespace, &tiers).await?;
    // The live replica counts: a switch to or from autoscaling must not drop them.
    let live_replicas = tiers.iter().filter_map(|t| {
        let live = ctx.stores.deployments.get(&namespace, &t.deployment)?;
        Some((t.tier.clone(), LiveReplicas::from_json(&live.value().ok()?)))
    });
    let children = desired_children(
        &validated,
        &wiring(hashes).with_live_replicas(live_replicas),
    );

    let Applied {
        report,
        deployments,
    } = apply_all(
        ctx,
        &namespace,
        &owner,
        &prune_labels(&name),
        &frozen,
        children,
    )
    .await?;
    publish_report(&ctx.ctx, &reference, &report).await;
    if report.behind {
        // Our own earlier writes are not in the stores yet: their watch events trigger
        // the next reconcile, which judges the rollout from a current view.
        return Ok(Action::requeue(IN_FLIGHT_WINDOW));
    }

    let (tier_statuses, url) = observed(ctx, &namespace, &owner.uid, &tiers, &deployments, https);
    let summary = match waiting {
        Some((reason, message)) => status::waiting(reason, message),
        None => status::rollout(&tier_statuses),
    };
    let next = status::build(
        current,
        app.metadata.generation,
        summary,
        tier_statuses,
        url,
        &now(),
    );
    write_status(&ctx.ctx, app, next).await?;
    Ok(Action::requeue(ctx.resync))
}

/// Per-tier rollout and the URL from the live children, or from the API server's
/// answers for the Deployments this pass applied (the stores show those a moment later).
fn observed(
    ctx: &AppContext,
    namespace: &str,
    owner_uid: &str,
    tiers: &[TierDependencies],
    applied: &[Deployment],
    https: bool,
) -> (Vec<crate::api::tiered_app::TierStatus>, Option<String>) {
    let tier_statuses = tiers
        .iter()
        .map(|t| {
            let answered = applied
                .iter()
                .find(|d| d.metadata.name.as_deref() == Some(t.deployment.as_str()));
            let live = match answered {
                Some(deployment) => Some(deployment.clone()),
                None => ctx
                    .stores
                    .deployments
                    .get(namespace, &t.deployment)
                    .and_then(|cached| cached.object().ok()),
            };
            status::tier_status(&t.tier, live.as_ref())
        })
        .collect();
    let ingress = ctx
        .stores
        .ingresses
        .owned_by(owner_uid)
        .first()
        .and_then(|cached| cached.object().ok());
    (tier_statuses, status::url(ingress.as_ref(), https))
}

/// One Event per kind of change (Created, Updated, Pruned) that lists the children it
/// touched, e.g. `Created 5 objects: Service/shop-web, Deployment/shop-web, …`: one write
/// for a whole app instead of one per child (the operator benchmark's request count).
async fn publish_report(
    ctx: &Context,
    reference: &k8s_openapi::api::core::v1::ObjectReference,
    report: &ApplyReport,
) {
    for (list, reason) in [
        (&report.created, "Created"),
        (&report.updated, "Updated"),
        (&report.pruned, "Pruned"),
    ] {
        for child in list {
            tracing::info!(child = %child, action = reason, "child written");
        }
        let Some(note) = change_note(reason, list) else {
            continue;
        };
        let event = Event {
            type_: EventType::Normal,
            reason: reason.to_owned(),
            note: Some(note),
            action: "Apply".to_owned(),
            secondary: None,
        };
        if let Err(error) = ctx.events.publish(&event, reference).await {
            tracing::debug!(%error, "failed to publish an Event");
        }
    }
}

/// `Created 2 objects: Service/a, Deployment/a`, or `None` for no change. Event notes
/// hold at most 1 kB: a longer list ends with how many more there are.
fn change_note(
    reason: &str,
    children: &[crate::controllers::tiered_app::apply::ChildRef],
) -> Option<String> {
    const LIMIT: usize = 1000;
    let (first, rest) = children.split_first()?;
    let noun = if rest.is_empty() { "object" } else { "objects" };
    let mut note = format!("{reason} {} {noun}: {first}", children.len());
    for (index, child) in rest.iter().enumerate() {
        let item = format!(", {child}");
        let left = rest.len() - index;
        // Room for the item and a possible ", and 9999 more".
        if note.len() + item.len() + 16 > LIMIT {
            let _ = write!(note, ", and {left} more");
            break;
        }
        note.push_str(&item);
    }
    Some(note)
}

/// Tiers held back by their dependencies, and the connection hashes of the others.
struct Frozen {
    tiers: BTreeSet<String>,
    waiting: Option<(&'static str, String)>,
    hashes: BTreeMap<String, String>,
}

/// A tier whose database or cache is not Ready is frozen: its children are neither
/// applied nor pruned.
async fn resolve_dependencies(
    client: kube::Client,
    namespace: &str,
    tiers: &[TierDependencies],
) -> Result<Frozen> {
    let mut resolver = Resolver::new(client, namespace.to_owned());
    let mut frozen = Frozen {
        tiers: BTreeSet::new(),
        waiting: None,
        hashes: BTreeMap::new(),
    };
    for tier in tiers {
        let deps = [
            (DependencyKind::Database, &tier.database),
            (DependencyKind::Cache, &tier.cache),
        ];
        let mut hash_parts = Vec::new();
        for (kind, dep) in deps {
            let Some(dep) = dep else { continue };
            match resolver.readiness(kind, dep).await? {
                Readiness::Ready { secret_hash } => hash_parts.push(secret_hash),
                Readiness::Waiting(why) => {
                    frozen.tiers.insert(tier.tier.clone());
                    let reason = match kind {
                        DependencyKind::Database => reasons::WAITING_FOR_DATABASE,
                        DependencyKind::Cache => reasons::WAITING_FOR_CACHE,
                    };
                    frozen.waiting.get_or_insert((
                        reason,
                        format!("tier {} is not rolled out: {why}", tier.tier),
                    ));
                }
            }
        }
        if !hash_parts.is_empty() {
            frozen
                .hashes
                .insert(tier.tier.clone(), hash_parts.join("-"));
        }
    }
    Ok(frozen)
}

/// The builders' input from the connection hashes per tier.
fn wiring(hashes: BTreeMap<String, String>) -> Wiring {
    Wiring {
        tiers: hashes
            .into_iter()
            .map(|(tier, hash)| {
                let tier_wiring = TierWiring {
                    secret_hash: Some(hash),
                    ..TierWiring::default()
                };
                (tier, tier_wiring)
            })
            .collect(),
    }
}

/// What [`apply_all`] did, and the Deployments as the API server answered their applies.
struct Applied {
    report: ApplyReport,
    deployments: Vec<Deployment>,
}

async fn apply_all(
    ctx: &AppContext,
    namespace: &str,
    owner: &OwnerReference,
    labels: &BTreeMap<String, String>,
    frozen: &BTreeSet<String>,
    children: ChildSet,
) -> Result<Applied> {
    let ChildSet {
        deployments,
        services,
        hpas,
        pdbs,
        network_policies,
        ingresses,
    } = children;
    let client = &ctx.ctx.client;
    let stores = &ctx.stores;
    let mut report = ApplyReport::default();
    macro_rules! pass {
        ($desired:expr, $store:expr) => {
            pass!($desired, $store, false)
        };
        ($desired:expr, $store:expr, $keep_answers:expr) => {
            apply_kind(
                KindPass {
                    api: Api::namespaced(client.clone(), namespace),
                    store: $store,
                    in_flight: &ctx.in_flight,
                    desired: $desired,
                    keep_answers: $keep_answers,
                },
                owner,
                labels,
                frozen,
                &mut report,
            )
            .await?
        };
    }
    pass!(services, &stores.services);
    let deployments = pass!(deployments, &stores.deployments, true);
    pass!(hpas, &stores.hpas);
    pass!(pdbs, &stores.pdbs);
    pass!(network_policies, &stores.network_policies);
    pass!(ingresses, &stores.ingresses);
    for child in report.created.iter().chain(&report.updated) {
        ctx.ctx.metrics.child_applied(CONTROLLER, &child.kind);
    }
    Ok(Applied {
        report,
        deployments,
    })
}

/// Writes `next` with server-side apply on `/status` when it differs from the current
/// status (timestamps aside). Returns whether it wrote.
async fn write_status(ctx: &Context, app: &TieredApp, next: TieredAppStatus) -> Result<bool> {
    if !status::differs(app.status.as_ref(), &next) {
        return Ok(false);
    }
    let name = app.name_any();
    let api: Api<TieredApp> =
        Api::namespaced(ctx.client.clone(), &app.namespace().unwrap_or_default());
    apply_status(&api, &(), &name, &next)
        .await
        .map_err(|source| Error::Status { name, source })?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn child(kind: &str, name: &str) -> crate::controllers::tiered_app::apply::ChildRef {
        crate::controllers::tiered_app::apply::ChildRef {
            api_version: "v1".into(),
            kind: kind.into(),
            name: name.into(),
        }
    }

    #[test]
    fn a_change_note_lists_every_child_it_touched() {
        assert_eq!(change_note("Created", &[]), None);
        assert_eq!(
            change_note("Pruned", &[child("Service", "shop-api")]).as_deref(),
            Some("Pruned 1 object: Service/shop-api")
        );
        assert_eq!(
            change_note(
                "Created",
                &[
                    child("Service", "shop-web"),
                    child("Deployment", "shop-web")
                ]
            )
            .as_deref(),
            Some("Created 2 objects: Service/shop-web, Deployment/shop-web")
        );
    }

    #[test]
    fn a_long_change_note_stays_under_the_event_limit_and_says_how_many_it_left_out() {
        let children: Vec<_> = (0..200)
            .map(|i| child("Deployment", &format!("a-rather-long-tier-name-{i}")))
            .collect();
        let note = change_note("Updated", &children).unwrap_or_default();
        assert!(note.len() <= 1000, "{} bytes", note.len());
        assert!(note.starts_with("Updated 200 objects: Deployment/a-rather-long-tier-name-0,"));
        assert!(note.ends_with(" more"), "{note}");
    }

    #[test]
    fn the_error_backoff_doubles_from_one_second_and_is_capped_at_two_minutes() {
        let waits: Vec<u64> = (1..=10).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 120, 120, 120]);
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert_eq!(backoff(u32::MAX), Duration::from_mins(2));
    }
}
