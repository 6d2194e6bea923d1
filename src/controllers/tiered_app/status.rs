//! Pure status computation of a TieredApp: per-tier rollout from Deployments, the URL
//! from the Ingress, and the [`Summary`] of the kstatus conditions `Ready`,
//! `Reconciling`, `Stalled` (turned into conditions by [`crate::runtime::kstatus`]). No
//! client here; the reconcile writes what this returns, and only when it changed.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::api::conditions::reasons;
use crate::api::tiered_app::{TierStatus, TieredAppStatus};
use crate::controllers::tiered_app::validated::ValidatedApp;
pub use crate::runtime::kstatus::{Computed, Summary};
use crate::runtime::kstatus::{conditions, ready};

/// The spec is invalid: stalled until it changes.
pub fn stalled(message: String) -> Summary {
    Summary {
        ready: Computed::new(false, reasons::INVALID_SPEC, message.clone()),
        reconciling: Computed::new(
            false,
            reasons::INVALID_SPEC,
            "waiting for a change to the spec",
        ),
        stalled: Computed::new(true, reasons::INVALID_SPEC, message),
    }
}

/// The reconcile panicked (a bug of the operator): stalled with the panic's message until
/// a spec change or the slow re-check tries again; the other apps carry on.
pub fn internal_error(message: String) -> Summary {
    Summary {
        ready: Computed::new(false, reasons::INTERNAL_ERROR, message.clone()),
        reconciling: Computed::new(
            false,
            reasons::INTERNAL_ERROR,
            "stopped by an internal error",
        ),
        stalled: Computed::new(true, reasons::INTERNAL_ERROR, message),
    }
}

/// A child name is taken by an object this app does not control: stalled until the
/// object or the app's names change. `message` names each such child and its owner.
pub fn name_conflict(message: String) -> Summary {
    Summary {
        ready: Computed::new(false, reasons::NAME_CONFLICT, message.clone()),
        reconciling: Computed::new(
            false,
            reasons::NAME_CONFLICT,
            "waiting for the conflicting object to be removed or renamed",
        ),
        stalled: Computed::new(true, reasons::NAME_CONFLICT, message),
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

/// Rollout state from the tiers: Ready when every tier is.
pub fn rollout(tiers: &[TierStatus]) -> Summary {
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

/// Rollout state of one tier from its Deployment (`None`: not created yet).
pub fn tier_status(name: &str, deployment: Option<&Deployment>) -> TierStatus {
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
        ready: observed && updated >= desired && ready_replicas >= desired && available >= desired,
    }
}

/// Whether the app is served over HTTPS: its presentation ingress has a certificate.
pub fn uses_https(app: &ValidatedApp) -> bool {
    app.tiers.iter().any(|tier| {
        tier.ingress
            .as_ref()
            .is_some_and(|ingress| ingress.certificate_arn.is_some())
    })
}

/// Public URL of the app from the Ingress load balancer hostname, once it has one.
pub fn url(ingress: Option<&Ingress>, https: bool) -> Option<String> {
    let lb = ingress?
        .status
        .as_ref()?
        .load_balancer
        .as_ref()?
        .ingress
        .as_ref()?;
    let first = lb.first()?;
    let address = first.hostname.clone().or_else(|| first.ip.clone())?;
    let scheme = if https { "https" } else { "http" };
    Some(format!("{scheme}://{address}"))
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

/// The current `Ready` condition as a [`Computed`] (to keep it while retrying).
pub fn current_ready(status: Option<&TieredAppStatus>) -> Option<Computed> {
    let c = ready(&status?.conditions)?;
    let reason = match c.reason.as_str() {
        "Ready" => reasons::READY,
        "ReplicasNotReady" => reasons::REPLICAS_NOT_READY,
        "WaitingForDatabase" => reasons::WAITING_FOR_DATABASE,
        "WaitingForCache" => reasons::WAITING_FOR_CACHE,
        "InvalidSpec" => reasons::INVALID_SPEC,
        _ => reasons::TRANSIENT_ERROR,
    };
    Some(Computed::new(c.status == "True", reason, c.message.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicked_reconcile_is_stalled_with_internal_error() {
        let summary = internal_error("failed to reconcile the TieredApp: boom".to_owned());
        assert!(summary.stalled.status && !summary.ready.status);
        assert_eq!(summary.stalled.reason, reasons::INTERNAL_ERROR);
        assert_eq!(summary.ready.reason, reasons::INTERNAL_ERROR);
        assert!(summary.stalled.message.contains("boom"));
    }
    use crate::api::conditions::{READY, STALLED};
    use crate::runtime::kstatus::changed;

    fn at(seconds: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(seconds).unwrap())
    }

    fn ready_tier() -> TierStatus {
        TierStatus {
            name: "web".to_owned(),
            desired_replicas: 2,
            ready_replicas: 2,
            updated_replicas: 2,
            ready: true,
        }
    }

    #[test]
    fn a_status_that_differs_only_in_timestamps_is_not_rewritten() {
        let first = build(
            None,
            Some(1),
            rollout(&[ready_tier()]),
            vec![ready_tier()],
            None,
            &at(10),
        );
        let mut later = first.clone();
        for condition in &mut later.conditions {
            condition.last_transition_time = at(99);
        }
        later.conditions.reverse();
        assert!(!changed(Some(&first), &later));
        assert!(changed(None, &first), "no status yet: write");
        let mut other_url = first.clone();
        other_url.url = Some("http://example.invalid".to_owned());
        assert!(changed(Some(&first), &other_url));
    }

    #[test]
    fn last_transition_time_is_kept_unless_the_status_flips() {
        let ready = build(
            None,
            Some(1),
            rollout(&[ready_tier()]),
            vec![ready_tier()],
            None,
            &at(10),
        );
        let again = build(
            Some(&ready),
            Some(2),
            rollout(&[ready_tier()]),
            vec![ready_tier()],
            None,
            &at(20),
        );
        let time = |s: &TieredAppStatus, t: &str| {
            s.conditions
                .iter()
                .find(|c| c.type_ == t)
                .map(|c| c.last_transition_time.clone())
        };
        assert_eq!(time(&again, READY), Some(at(10)), "still True: time kept");
        let mut slow = ready_tier();
        slow.ready = false;
        slow.ready_replicas = 1;
        let flipped = build(
            Some(&again),
            Some(3),
            rollout(&[slow.clone()]),
            vec![slow],
            None,
            &at(30),
        );
        assert_eq!(
            time(&flipped, READY),
            Some(at(30)),
            "True → False: time moves"
        );
        assert_eq!(
            time(&flipped, STALLED),
            Some(at(10)),
            "Stalled stayed False"
        );
        let ready_condition = flipped
            .conditions
            .iter()
            .find(|c| c.type_ == READY)
            .unwrap();
        assert_eq!(
            (
                ready_condition.status.as_str(),
                ready_condition.reason.as_str()
            ),
            ("False", reasons::REPLICAS_NOT_READY)
        );
        assert_eq!(ready_condition.observed_generation, Some(3));
    }
}
