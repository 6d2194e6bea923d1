//! One reconcile of a TieredApp, a pipeline read top to bottom: validate → resolve
//! the data-tier dependencies → build the desired children → apply those that differ
//! and prune the rest → compute the status and write it once, only if it changed.
//! Only the dependency lookup, the apply and the status write touch the API.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::networking::v1::Ingress;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};
use tracing::instrument;

use crate::api::conditions::reasons;
use crate::api::tiered_app::{TierStatus, TieredApp, TieredAppStatus};
use crate::controllers::tiered_app::apply::{
    Applied, ApplyReport, Destination, IN_FLIGHT_WINDOW, InFlight, apply_all, publish_report,
    write_status,
};
use crate::controllers::tiered_app::build::labels::prune_labels;
use crate::controllers::tiered_app::build::{LiveReplicas, desired_children};
use crate::controllers::tiered_app::dependencies::{self, Frozen, TierDependencies};
use crate::controllers::tiered_app::error::{Error, Result};
use crate::controllers::tiered_app::status;
use crate::controllers::tiered_app::validate::{Scaling, validate};
use crate::runtime::backoff::{Backoff, STALLED};
use crate::runtime::context::Context;
use crate::runtime::error::ReconcileError;
use crate::runtime::kstatus::now;
use crate::runtime::panic::contained;
use crate::runtime::status::{apply_unreadable_status, unreadable};
use crate::runtime::stores::ChildStores;

/// Name of this controller in metrics and logs.
pub const CONTROLLER: &str = "tieredapp";

/// How soon an app held by a name conflict looks again. The conflict message asks the
/// user to remove or rename the other object, and that object's removal triggers no
/// reconcile of this app: without tiered's label it is not watched, and another app's
/// child triggers only its own app. Each look costs one metadata GET per conflicting
/// name and writes nothing while the conflict lasts.
pub const CONFLICT_RECHECK: std::time::Duration = std::time::Duration::from_secs(30);

/// The key of a TieredApp in the backoff.
pub type AppKey = ObjectRef<DeserializeGuard<TieredApp>>;

/// What the reconcile of one controller instance needs.
pub struct AppContext {
    /// Shared process context.
    pub ctx: Context,
    /// Live children.
    pub stores: ChildStores,
    /// TieredApps (for the dependency mapper).
    pub apps: Store<DeserializeGuard<TieredApp>>,
    /// Requeue interval of a healthy app.
    pub resync: std::time::Duration,
    /// Consecutive failures per app.
    pub backoff: Backoff<AppKey>,
    /// Applies the child stores have not shown yet.
    pub in_flight: InFlight,
}

/// The reconcile entry point of the Controller.
#[allow(clippy::needless_pass_by_value)]
// the signature kube-runtime calls
// `object`, not `name`: the JSON log writes the span's own name under `name` (see
// data_tier::reconcile_object).
#[instrument(skip_all, fields(controller = CONTROLLER, namespace = object.namespace().unwrap_or_default(), object = %object.name_any()))]
pub async fn reconcile(
    object: Arc<DeserializeGuard<TieredApp>>,
    ctx: Arc<AppContext>,
) -> Result<Action> {
    let _measure = ctx.ctx.metrics.reconcile_started(CONTROLLER);
    let app = match &object.0 {
        Ok(app) => app,
        Err(invalid) => {
            stall_unreadable(&ctx.ctx, &object, &invalid.error).await;
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
    // A panic stays with this app (crate::runtime::panic): Stalled, InternalError.
    let result = match contained(reconcile_app(app, &ctx)).await {
        Ok(result) => result,
        Err(panicked) => Err(Error::Panicked(panicked)),
    };
    match result {
        Ok(action) => {
            ctx.backoff.succeeded(&ObjectRef::from_obj(object.as_ref()));
            Ok(action)
        }
        Err(error) => {
            report_failure(&ctx.ctx, app, &error).await;
            Err(error)
        }
    }
}

/// The error policy of the Controller: the shared exponential backoff per app.
#[allow(clippy::needless_pass_by_value)] // the signature kube-runtime calls
pub fn error_policy(
    object: Arc<DeserializeGuard<TieredApp>>,
    _error: &Error,
    ctx: Arc<AppContext>,
) -> Action {
    Action::requeue(ctx.backoff.failed(ObjectRef::from_obj(object.as_ref())))
}

/// A TieredApp the API server stored but the operator cannot read: a `Stalled` status
/// naming the field and a Warning Event; nothing is built for it.
async fn stall_unreadable(ctx: &Context, object: &DeserializeGuard<TieredApp>, error: &str) {
    let namespace = object.namespace().unwrap_or_default();
    let problem = unreadable::<TieredApp>(&ctx.client, &namespace, &object.name_any(), error).await;
    tracing::warn!(error = %problem, "skipping a malformed TieredApp");
    let next = status::build(
        None,
        object.meta().generation,
        status::stalled(problem.clone()),
        Vec::new(),
        None,
        &now(),
    );
    if let Err(error) =
        apply_unreadable_status::<TieredApp, _>(&ctx.client, &namespace, &object.name_any(), &next)
            .await
    {
        tracing::debug!(%error, "could not write the Stalled status");
    }
    ctx.events
        .emit_reconcile(object, EventType::Warning, "InvalidObject", problem)
        .await;
}

/// A failed reconcile: counted, logged, a Warning Event, and (unless the status write is
/// what failed) `Reconciling` with the error in the status. Children that failed
/// ([`Error::Children`]) are counted and logged only: their Events and status are
/// written by the pass that found them.
async fn report_failure(ctx: &Context, app: &TieredApp, error: &Error) {
    ctx.metrics.reconcile_failed(CONTROLLER, error.category());
    tracing::warn!(error = %error.chain(), category = %error.category(), "reconcile failed");
    if matches!(error, Error::Children { .. }) {
        return;
    }
    ctx.events
        .emit_reconcile(
            app,
            EventType::Warning,
            error.category().reason(),
            error.chain(),
        )
        .await;
    if !matches!(error, Error::Status { .. }) {
        let current = app.status.as_ref();
        let summary = if matches!(error, Error::Panicked(_)) {
            status::internal_error(error.chain())
        } else {
            status::retrying(status::current_ready(current), &error.chain())
        };
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
        let _ = write_status(ctx, app, next).await;
    }
}

async fn reconcile_app(app: &TieredApp, ctx: &AppContext) -> Result<Action> {
    let namespace = app
        .namespace()
        .ok_or(Error::MissingMetadata("metadata.namespace"))?;
    let owner = app
        .controller_owner_ref(&())
        .ok_or(Error::MissingMetadata("metadata.uid"))?;
    let regarding = app.object_ref(&());
    let current = app.status.as_ref();

    let validated = match validate(app) {
        Ok(validated) => validated,
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
                ctx.ctx
                    .events
                    .emit(
                        &regarding,
                        EventType::Warning,
                        reasons::INVALID_SPEC,
                        "Validate",
                        message,
                    )
                    .await;
            }
            return Ok(Action::requeue(STALLED));
        }
    };
    let tiers = dependencies::tiers(&validated);

    let live_hash = |tier: &TierDependencies| {
        let live = ctx.stores.deployments.get(&namespace, &tier.deployment)?;
        dependencies::live_secret_hash(&live.value().ok()?)
    };
    let frozen =
        dependencies::resolve(ctx.ctx.client.clone(), &namespace, &tiers, live_hash).await?;
    let children = desired(ctx, &namespace, &validated, &tiers, &frozen);

    let destination = Destination {
        namespace: &namespace,
        owner: &owner,
        labels: &prune_labels(&app.name_any()),
        frozen: &frozen.tiers,
        claim_retention: validated.claim_retention,
    };
    let Applied {
        report,
        deployments,
    } = apply_all(
        &ctx.ctx.client,
        &ctx.stores,
        &ctx.in_flight,
        &destination,
        children,
    )
    .await?;
    for child in report.created.iter().chain(&report.updated) {
        ctx.ctx.metrics.child_applied(CONTROLLER, &child.kind);
    }
    publish_report(&ctx.ctx, &regarding, &report).await;
    if report.behind && report.failures.is_empty() {
        // Our own earlier writes are not in the stores yet: their watch events trigger
        // the next reconcile, which judges the rollout from a current view.
        return Ok(Action::requeue(IN_FLIGHT_WINDOW));
    }

    let (mut tier_statuses, paused) =
        observed_tiers(ctx, &namespace, &validated, &tiers, &deployments);
    let url = add_urls(ctx, &owner.uid, &validated, &mut tier_statuses);
    let Frozen { waiting, .. } = frozen;
    let conflict = conflict_message(&report);
    let summary = summary(&report, conflict.clone(), waiting, &tier_statuses, &paused);
    let next = status::build(
        current,
        app.metadata.generation,
        summary,
        tier_statuses,
        url,
        &now(),
    );
    let action = finish(ctx, app, next, conflict).await?;
    match report.failures.split_first() {
        // The status names them; failing makes the controller retry with backoff, so the
        // app recovers by itself when the refusal goes (nothing watched changes then).
        Some((first, _)) => Err(Error::Children {
            count: report.failures.len(),
            first: first.message.clone(),
            category: first.category,
        }),
        None => Ok(action),
    }
}

/// The kstatus summary of a pass, the first that applies: a name conflict, a child
/// change the API server would refuse, children it refused or failed, a tier waiting for
/// its database or cache, else the rollout of `tiers` (with the autoscaled tiers
/// `paused` at 0).
fn summary(
    report: &ApplyReport,
    conflict: Option<String>,
    waiting: Option<(&'static str, String)>,
    tiers: &[TierStatus],
    paused: &[status::PausedTier],
) -> status::Summary {
    let refused = (!report.problems.is_empty()).then(|| report.problems.join("; "));
    match (conflict, refused, failed_children(report), waiting) {
        (Some(message), _, _, _) => status::name_conflict(message),
        (None, Some(message), _, _) => status::stalled(message),
        (None, None, Some(summary), _) => summary,
        (None, None, None, Some((reason, message))) => status::waiting(reason, message),
        (None, None, None, None) => status::rollout(tiers, paused),
    }
}

/// The status summary of the children `report` could not write, or `None` when there
/// were none: Stalled with the first refusal's reason when one is a refusal retrying
/// cannot overcome, else Reconciling (see [`status::children_failed`]).
fn failed_children(report: &ApplyReport) -> Option<status::Summary> {
    if report.failures.is_empty() {
        return None;
    }
    let refusal = report
        .failures
        .iter()
        .find(|failure| failure.is_refusal())
        .map(|failure| failure.category.reason());
    let messages: Vec<&str> = (report.failures.iter())
        .map(|failure| failure.message.as_str())
        .collect();
    Some(status::children_failed(refusal, messages.join("; ")))
}

/// The children to apply: built from the validated app, the frozen tiers' wiring, the
/// live replica counts (a switch to or from autoscaling must not drop them) and the
/// operator's cluster DNS.
fn desired(
    ctx: &AppContext,
    namespace: &str,
    validated: &crate::controllers::tiered_app::validated::ValidatedApp,
    tiers: &[TierDependencies],
    frozen: &Frozen,
) -> crate::controllers::tiered_app::build::DesiredChildren {
    let live_replicas = tiers.iter().filter_map(|t| {
        let live = ctx.stores.deployments.get(namespace, &t.deployment)?;
        Some((t.tier.clone(), LiveReplicas::from_json(&live.value().ok()?)))
    });
    desired_children(
        validated,
        &frozen
            .wiring()
            .with_live_replicas(live_replicas)
            .with_cluster_dns(ctx.ctx.cluster_dns.clone()),
    )
}

/// Writes the status; a rollout that just failed or a refused child change gets a
/// Warning Event, a name conflict too (when the status changed, so not on every
/// requeue) and a requeue after [`CONFLICT_RECHECK`] (or the resync, if sooner).
async fn finish(
    ctx: &AppContext,
    app: &TieredApp,
    next: TieredAppStatus,
    conflict: Option<String>,
) -> Result<Action> {
    // A rollout that failed, a child change the API server would refuse (a claim's
    // class, access modes or a smaller size: InvalidSpec here, as validation failures
    // return before apply), or an autoscaled tier scaled to 0 by hand, is told once as a
    // Warning Event.
    let newly_stalled = status::newly_stalled(app.status.as_ref(), &next).filter(|(reason, _)| {
        [
            reasons::ROLLOUT_FAILED,
            reasons::INVALID_SPEC,
            reasons::AUTOSCALING_PAUSED,
        ]
        .contains(&reason.as_str())
    });
    let written = write_status(&ctx.ctx, app, next).await?;
    if let Some((reason, message)) = newly_stalled.filter(|_| written) {
        let action = match reason.as_str() {
            reasons::ROLLOUT_FAILED => "Rollout",
            reasons::AUTOSCALING_PAUSED => "Scale",
            _ => "Apply",
        };
        ctx.ctx
            .events
            .emit(
                &app.object_ref(&()),
                EventType::Warning,
                &reason,
                action,
                message,
            )
            .await;
    }
    let Some(message) = conflict else {
        return Ok(Action::requeue(ctx.resync));
    };
    if written {
        ctx.ctx
            .events
            .emit(
                &app.object_ref(&()),
                EventType::Warning,
                reasons::NAME_CONFLICT,
                "Apply",
                message,
            )
            .await;
    }
    Ok(Action::requeue(ctx.resync.min(CONFLICT_RECHECK)))
}

/// `Service/shop-web already exists and is owned by …; …` for the child names this app
/// left alone, or `None` when there were none.
fn conflict_message(report: &ApplyReport) -> Option<String> {
    (!report.conflicts.is_empty()).then(|| {
        let names = report
            .conflicts
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        format!("{names}: tiered does not take over objects it does not control; delete or rename it, or rename the app or tier")
    })
}

/// Sets the `url` of each tier with ingress from its Ingress (owned by `owner_uid`) and
/// returns the app's URL: the first of them in spec order.
fn add_urls(
    ctx: &AppContext,
    owner_uid: &str,
    validated: &crate::controllers::tiered_app::validated::ValidatedApp,
    tier_statuses: &mut [TierStatus],
) -> Option<String> {
    let ingresses: Vec<Ingress> = (ctx.stores.ingresses.owned_by(owner_uid).iter())
        .filter_map(|cached| cached.object().ok())
        .collect();
    for (tier_status, tier) in tier_statuses.iter_mut().zip(&validated.tiers) {
        let Some(settings) = &tier.ingress else {
            continue;
        };
        let ingress = ingresses
            .iter()
            .find(|ingress| ingress.metadata.name.as_deref() == Some(tier.child_name.as_str()));
        tier_status.url = status::tier_url(ingress, settings);
    }
    tier_statuses.iter().find_map(|tier| tier.url.clone())
}

/// Per-tier rollout from the live Deployments, or from the API server's answers for the
/// Deployments this pass applied (the stores show those a moment later), and the
/// autoscaled tiers someone scaled to 0 by hand ([`status::PausedTier`]).
fn observed_tiers(
    ctx: &AppContext,
    namespace: &str,
    validated: &crate::controllers::tiered_app::validated::ValidatedApp,
    tiers: &[TierDependencies],
    applied: &[Deployment],
) -> (Vec<TierStatus>, Vec<status::PausedTier>) {
    let mut paused = Vec::new();
    let statuses = tiers
        .iter()
        .zip(&validated.tiers)
        .map(|(t, tier)| {
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
            let min_replicas = match tier.scaling {
                Scaling::Autoscaled { min_replicas, .. } => Some(min_replicas),
                Scaling::Fixed { .. } => None,
            };
            paused.extend(status::paused_autoscaling(
                &t.tier,
                namespace,
                live.as_ref(),
                min_replicas,
            ));
            status::tier_status(&t.tier, live.as_ref(), min_replicas.is_some())
        })
        .collect();
    (statuses, paused)
}
