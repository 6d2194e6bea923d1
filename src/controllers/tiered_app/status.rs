//! Pure status computation of a TieredApp: per-tier rollout from Deployments, the URL
//! from the Ingress, and the [`Summary`] of the kstatus conditions `Ready`,
//! `Reconciling`, `Stalled` (turned into conditions by [`crate::runtime::kstatus`]). No
//! client here; the reconcile writes what this returns, and only when it changed.

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::api::conditions::STALLED;
use crate::api::conditions::reasons;
use crate::api::tiered_app::{RolloutState, TierRollout, TierStatus, TieredAppStatus};
use crate::controllers::tiered_app::validated::ValidatedIngress;
pub use crate::runtime::kstatus::{Computed, Summary};
use crate::runtime::kstatus::{conditions, ready};

/// The spec is invalid: stalled until it changes.
pub fn stalled(message: String) -> Summary {
    Summary::stalled(
        reasons::INVALID_SPEC,
        message,
        "waiting for a change to the spec",
    )
}

/// The reconcile panicked (a bug of the operator): stalled with the panic's message until
/// a spec change or the slow re-check tries again; the other apps carry on.
pub fn internal_error(message: String) -> Summary {
    Summary::stalled(
        reasons::INTERNAL_ERROR,
        message,
        "stopped by an internal error",
    )
}

/// A child name is taken by an object this app does not control: stalled until the
/// object or the app's names change. `message` names each such child and its owner.
pub fn name_conflict(message: String) -> Summary {
    Summary::stalled(
        reasons::NAME_CONFLICT,
        message,
        "waiting for the conflicting object to be removed or renamed",
    )
}

/// Children the API server refused or failed to write; `message` names each with the
/// API server's answer. With a refusal retrying cannot overcome among them (`refusal`:
/// its category's reason, e.g. `ApplyFailed` for a 403 from an admission webhook),
/// the app is Stalled until the app, the policy or the quota changes (it is still
/// retried with backoff, so it recovers by itself when the refusal goes); otherwise it
/// is Reconciling with `TransientError`. `Ready` is False either way: the app is not at
/// its spec.
pub fn children_failed(refusal: Option<&'static str>, message: String) -> Summary {
    match refusal {
        Some(reason) => Summary::stalled(
            reason,
            message,
            "waiting for the API server to accept the refused children (retried with backoff)",
        ),
        None => Summary {
            ready: Computed::new(false, reasons::TRANSIENT_ERROR, message.clone()),
            reconciling: Computed::new(
                true,
                reasons::TRANSIENT_ERROR,
                format!("retrying: {message}"),
            ),
            stalled: Computed::new(false, reasons::NO_BLOCKERS, "nothing blocks progress"),
        },
    }
}

/// A tier waits for its database or cache.
pub fn waiting(reason: &'static str, message: String) -> Summary {
    Summary {
        ready: Computed::new(false, reason, message.clone()),
        reconciling: Computed::new(true, reason, message),
        stalled: Computed::new(false, reasons::NO_BLOCKERS, "nothing blocks progress"),
    }
}

/// A transient error: retrying with backoff.
pub fn retrying(previous_ready: Option<Computed>, message: &str) -> Summary {
    Summary {
        ready: previous_ready
            .unwrap_or_else(|| Computed::new(false, reasons::TRANSIENT_ERROR, message)),
        reconciling: Computed::new(
            true,
            reasons::TRANSIENT_ERROR,
            format!("retrying: {message}"),
        ),
        stalled: Computed::new(false, reasons::NO_BLOCKERS, "nothing blocks progress"),
    }
}

/// An autoscaled tier whose Deployment someone scaled to 0 by hand (`kubectl scale
/// --replicas=0`, a write of its `/scale`).
///
/// Kubernetes treats 0 replicas as "autoscaling paused": the HPA stops scaling a target
/// at 0 (`ScalingActive=False`, reason `ScalingDisabled`) and resumes once it has pods
/// again. The operator leaves an autoscaled tier's count to the HPA
/// ([`crate::controllers::tiered_app::build::replicas`]), so nothing brings the pods back.
/// It does not put `minReplicas` back itself: scaling to 0 is how an engineer stops a
/// tier during an incident or maintenance on any Kubernetes (EKS included), and an
/// operator that undid it within a second would take that control away, fight whoever
/// wrote it, and break the HPA convention. The pause is honoured and made visible
/// instead: the tier is not ready and the app is `Ready=False`, `Stalled=True` (reason
/// `AutoscalingPaused`), with a message naming the tier and the command that resumes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PausedTier {
    /// Tier name.
    pub tier: String,
    /// Name of the tier's Deployment.
    pub deployment: String,
    /// Namespace of the app.
    pub namespace: String,
    /// The tier's `autoscaling.minReplicas`: the count to scale back to.
    pub min_replicas: i32,
}

/// The paused autoscaling of tier `tier` (see [`PausedTier`]): `Some` when the tier is
/// autoscaled (`min_replicas` is its `minReplicas`) and its Deployment exists and asks
/// for 0 pods.
pub fn paused_autoscaling(
    tier: &str,
    namespace: &str,
    deployment: Option<&Deployment>,
    min_replicas: Option<i32>,
) -> Option<PausedTier> {
    let min_replicas = min_replicas?;
    let deployment = deployment?;
    let replicas = deployment.spec.as_ref()?.replicas?;
    (replicas == 0).then(|| PausedTier {
        tier: tier.to_owned(),
        deployment: deployment.metadata.name.clone().unwrap_or_default(),
        namespace: namespace.to_owned(),
        min_replicas,
    })
}

/// `tier api: its Deployment … was scaled to 0 by hand …; to resume, run `kubectl scale …``.
fn paused_message(paused: &[PausedTier]) -> String {
    paused
        .iter()
        .map(|p| {
            format!(
                "tier {}: its Deployment {} was scaled to 0 by hand, so its autoscaler is paused \
                 (a HorizontalPodAutoscaler does not scale a Deployment at 0 replicas) and the \
                 tier has no pods; tiered leaves a deliberate scale to 0 alone: to resume, run \
                 `kubectl scale deployment/{} -n {} --replicas={}` (the tier's minReplicas)",
                p.tier, p.deployment, p.deployment, p.namespace, p.min_replicas
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Rollout state from the tiers: Stalled when a tier's rollout failed or its
/// autoscaling is `paused` (see [`PausedTier`]), Ready when every tier is ready.
pub fn rollout(tiers: &[TierStatus], paused: &[PausedTier]) -> Summary {
    let failed: Vec<String> = tiers
        .iter()
        .filter_map(|t| {
            let rollout = t.rollout.as_ref()?;
            (rollout.state == RolloutState::Failed).then(|| {
                format!(
                    "tier {}: rollout failed ({}): {}",
                    t.name,
                    rollout.reason.as_deref().unwrap_or("unknown reason"),
                    rollout.message.as_deref().unwrap_or("no message")
                )
            })
        })
        .collect();
    if !failed.is_empty() {
        let message = format!(
            "{}; fix the tier's spec (image, command, resources, probes, quota) and the rollout starts again",
            failed.join("; ")
        );
        return Summary::stalled(
            reasons::ROLLOUT_FAILED,
            message,
            "waiting for a change to the failed tier's spec",
        );
    }
    if !paused.is_empty() {
        let message = paused_message(paused);
        return Summary::stalled(
            reasons::AUTOSCALING_PAUSED,
            message,
            "waiting for the tier's Deployment to be scaled back up",
        );
    }
    let pending: Vec<String> = tiers
        .iter()
        .filter(|t| !t.ready)
        .map(|t| {
            format!(
                "tier {}: {}/{} replicas ready, {} updated",
                t.name, t.ready_replicas, t.desired_replicas, t.updated_replicas
            )
        })
        .collect();
    let stalled = Computed::new(false, reasons::NO_BLOCKERS, "nothing blocks progress");
    if pending.is_empty() {
        Summary {
            ready: Computed::new(true, reasons::READY, "every tier is rolled out and ready"),
            reconciling: Computed::new(false, reasons::CONVERGED, "nothing in progress"),
            stalled,
        }
    } else {
        let message = pending.join("; ");
        Summary {
            ready: Computed::new(false, reasons::REPLICAS_NOT_READY, message.clone()),
            reconciling: Computed::new(true, reasons::PROGRESSING, message),
            stalled,
        }
    }
}

/// Rollout state of one tier from its Deployment (`None`: not created yet). An
/// `autoscaled` tier whose Deployment asks for 0 pods is not ready: its autoscaler is
/// paused and it serves nothing ([`PausedTier`]); a tier with a fixed count never stays
/// at 0, the operator applies its count.
pub fn tier_status(name: &str, deployment: Option<&Deployment>, autoscaled: bool) -> TierStatus {
    let Some(deployment) = deployment else {
        return TierStatus {
            name: name.to_owned(),
            ..TierStatus::default()
        };
    };
    let desired = deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    let status = deployment.status.clone().unwrap_or_default();
    let ready_replicas = status.ready_replicas.unwrap_or(0);
    let updated = status.updated_replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    let observed =
        status.observed_generation.unwrap_or(0) >= deployment.metadata.generation.unwrap_or(0);
    TierStatus {
        name: name.to_owned(),
        desired_replicas: desired,
        ready_replicas,
        updated_replicas: updated,
        ready: observed
            && !(autoscaled && desired == 0)
            && updated >= desired
            && ready_replicas >= desired
            && available >= desired,
        rollout: rollout_of(observed, &status.conditions.unwrap_or_default()),
        url: None,
    }
}

/// The rollout from a Deployment's conditions. A rollout the Deployment controller has
/// not observed yet (a new generation, e.g. the fix of a failed one) is `Progressing`:
/// its old conditions describe the previous template.
fn rollout_of(observed: bool, conditions: &[DeploymentCondition]) -> Option<TierRollout> {
    let find = |type_: &str| conditions.iter().find(|c| c.type_ == type_);
    if !observed {
        return Some(TierRollout {
            state: RolloutState::Progressing,
            reason: None,
            message: Some(
                "the Deployment controller has not observed the latest spec yet".to_owned(),
            ),
        });
    }
    let from = |state, condition: &DeploymentCondition| TierRollout {
        state,
        reason: condition.reason.clone(),
        message: condition.message.clone(),
    };
    if let Some(failure) = find("ReplicaFailure").filter(|c| c.status == "True") {
        return Some(from(RolloutState::Failed, failure));
    }
    let progressing = find("Progressing")?;
    let state = match (progressing.status.as_str(), progressing.reason.as_deref()) {
        ("False", _) => RolloutState::Failed,
        ("True", Some("NewReplicaSetAvailable")) => RolloutState::Complete,
        _ => RolloutState::Progressing,
    };
    Some(from(state, progressing))
}

/// The reason and message of `next`'s `Stalled=True` condition when `previous` was not
/// stalled for that reason: what deserves one Warning Event (not one per status write).
pub fn newly_stalled(
    previous: Option<&TieredAppStatus>,
    next: &TieredAppStatus,
) -> Option<(String, String)> {
    let stalled = |status: &TieredAppStatus| {
        status
            .conditions
            .iter()
            .find(|c| c.type_ == STALLED && c.status == "True")
            .map(|c| (c.reason.clone(), c.message.clone()))
    };
    let now = stalled(next)?;
    let before = previous.and_then(stalled);
    (before.as_ref().map(|(reason, _)| reason) != Some(&now.0)).then_some(now)
}

/// Public URL of a tier with `ingress`, once its ALB has an address: `https` when the
/// ingress has a certificate (the HTTP listener redirects), the rule's `host` when one is
/// set and is not a wildcard (the ALB answers other hosts with 404) or else the ALB's
/// DNS name (or IP), and the path
/// when it is not `/`. `None` without an address.
pub fn tier_url(ingress: Option<&Ingress>, settings: &ValidatedIngress) -> Option<String> {
    let lb = ingress?
        .status
        .as_ref()?
        .load_balancer
        .as_ref()?
        .ingress
        .as_ref()?;
    let first = lb.first()?;
    let address = first.hostname.as_ref().or(first.ip.as_ref())?;
    // A wildcard host (`*.example.com`) names no one address to give.
    let host = (settings.host.as_ref())
        .filter(|host| !host.starts_with('*'))
        .unwrap_or(address);
    let scheme = if settings.certificate_arn.is_some() {
        "https"
    } else {
        "http"
    };
    let path = settings.path.trim_end_matches('/');
    Some(format!("{scheme}://{host}{path}"))
}

/// The full status: conditions carry `lastTransitionTime` over from `previous` unless
/// their status flipped.
pub fn build(
    previous: Option<&TieredAppStatus>,
    generation: Option<i64>,
    summary: Summary,
    tiers: Vec<TierStatus>,
    url: Option<String>,
    now: &Time,
) -> TieredAppStatus {
    let old = previous
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    TieredAppStatus {
        observed_generation: generation,
        conditions: conditions(old, generation, summary, now),
        tiers,
        url,
    }
}

/// The current `Ready` condition as a [`Computed`] (to keep it while retrying): status,
/// reason and message as stored, whatever the reason (`NameConflict`, `ApplyFailed`, …),
/// so that a retry changes only `Reconciling`.
pub fn current_ready(status: Option<&TieredAppStatus>) -> Option<Computed> {
    let c = ready(&status?.conditions)?;
    Some(Computed::new(
        c.status == "True",
        c.reason.clone(),
        c.message.clone(),
    ))
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
