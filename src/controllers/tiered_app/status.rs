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

/// Rollout state from the tiers: Stalled when a tier's rollout failed, Ready when every
/// tier is ready.
pub fn rollout(tiers: &[TierStatus]) -> Summary {
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
        return Summary {
            ready: Computed::new(false, reasons::ROLLOUT_FAILED, message.clone()),
            reconciling: Computed::new(
                false,
                reasons::ROLLOUT_FAILED,
                "waiting for a change to the failed tier's spec",
            ),
            stalled: Computed::new(true, reasons::ROLLOUT_FAILED, message),
        };
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
        rollout: rollout_of(observed, &status.conditions.unwrap_or_default()),
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
        "RolloutFailed" => reasons::ROLLOUT_FAILED,
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
            rollout: None,
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

    fn deployment_with(
        generation: i64,
        observed: i64,
        conditions: &serde_json::Value,
    ) -> Deployment {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "shop-web", "generation": generation},
            "spec": {"replicas": 2, "selector": {}, "template": {}},
            "status": {"observedGeneration": observed, "replicas": 2, "readyReplicas": 1,
                       "updatedReplicas": 1, "availableReplicas": 1, "conditions": conditions},
        }))
        .unwrap()
    }

    #[test]
    fn the_rollout_state_follows_the_deployment_conditions() {
        let progressing = |status: &str, reason: &str| {
            serde_json::json!([{"type": "Progressing", "status": status, "reason": reason,
                "message": format!("ReplicaSet \"shop-web-1\" {reason}")}])
        };
        let cases = [
            (
                progressing("True", "ReplicaSetUpdated"),
                2,
                Some(RolloutState::Progressing),
            ),
            (
                progressing("True", "NewReplicaSetAvailable"),
                2,
                Some(RolloutState::Complete),
            ),
            (
                progressing("False", "ProgressDeadlineExceeded"),
                2,
                Some(RolloutState::Failed),
            ),
            // The fix of a failed rollout: a generation the controller has not seen.
            (
                progressing("False", "ProgressDeadlineExceeded"),
                1,
                Some(RolloutState::Progressing),
            ),
            (
                serde_json::json!([
                    {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"},
                    {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                     "message": "pods \"shop-web-1-x\" is forbidden: exceeded quota"}]),
                2,
                Some(RolloutState::Failed),
            ),
            (serde_json::json!([]), 2, None),
        ];
        for (conditions, observed, expected) in cases {
            let status = tier_status("web", Some(&deployment_with(2, observed, &conditions)));
            assert_eq!(
                status.rollout.as_ref().map(|r| r.state),
                expected,
                "{conditions}"
            );
        }
        let quota = tier_status(
            "web",
            Some(&deployment_with(
                2,
                2,
                &serde_json::json!([{"type": "ReplicaFailure", "status": "True",
                "reason": "FailedCreate", "message": "exceeded quota"}]),
            )),
        );
        let rollout = quota.rollout.unwrap();
        assert_eq!(rollout.reason.as_deref(), Some("FailedCreate"));
        assert_eq!(rollout.message.as_deref(), Some("exceeded quota"));
    }

    #[test]
    fn a_failed_rollout_stalls_the_app_naming_the_tier_and_the_deployment_message() {
        let mut failed = ready_tier();
        failed.ready = false;
        failed.rollout = Some(TierRollout {
            state: RolloutState::Failed,
            reason: Some("ProgressDeadlineExceeded".to_owned()),
            message: Some("ReplicaSet \"shop-web-2\" has timed out progressing.".to_owned()),
        });
        let summary = rollout(&[ready_tier(), failed.clone()]);
        assert!(summary.stalled.status && !summary.ready.status && !summary.reconciling.status);
        assert_eq!(summary.stalled.reason, reasons::ROLLOUT_FAILED);
        assert!(summary.stalled.message.starts_with("tier web: rollout failed (ProgressDeadlineExceeded): ReplicaSet \"shop-web-2\" has timed out"), "{}", summary.stalled.message);
        let before = build(
            None,
            Some(1),
            rollout(&[ready_tier()]),
            vec![ready_tier()],
            None,
            &at(1),
        );
        let after = build(
            Some(&before),
            Some(1),
            summary,
            vec![failed.clone()],
            None,
            &at(2),
        );
        let (reason, message) = newly_stalled(Some(&before), &after).unwrap();
        assert_eq!(reason, reasons::ROLLOUT_FAILED);
        assert!(message.contains("tier web"));
        assert_eq!(
            newly_stalled(Some(&after), &after),
            None,
            "one Event per failure"
        );
        let mut fixed = failed;
        fixed.rollout = Some(TierRollout {
            state: RolloutState::Progressing,
            reason: None,
            message: None,
        });
        assert!(
            !rollout(&[fixed]).stalled.status,
            "a new generation clears Stalled"
        );
    }
}
