//! Tests of the TieredApp status computation (pure).
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
use crate::runtime::kstatus::test_support::{at, find};

fn ready_tier() -> TierStatus {
    TierStatus {
        name: "web".to_owned(),
        desired_replicas: 2,
        ready_replicas: 2,
        updated_replicas: 2,
        ready: true,
        rollout: None,
        url: None,
    }
}

/// The status of generation `generation` at second `now` after `previous`, for
/// `tiers` alone (no URL).
fn of_tiers(
    previous: Option<&TieredAppStatus>,
    generation: i64,
    tiers: Vec<TierStatus>,
    now: i64,
) -> TieredAppStatus {
    build(
        previous,
        Some(generation),
        rollout(&tiers, &[]),
        tiers,
        None,
        &at(now),
    )
}

#[test]
fn a_status_that_differs_only_in_timestamps_is_not_rewritten() {
    let first = of_tiers(None, 1, vec![ready_tier()], 10);
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
    let ready = of_tiers(None, 1, vec![ready_tier()], 10);
    let again = of_tiers(Some(&ready), 2, vec![ready_tier()], 20);
    let time = |s: &TieredAppStatus, t: &str| find(&s.conditions, t).last_transition_time.clone();
    assert_eq!(time(&again, READY), at(10), "still True: time kept");
    let mut slow = ready_tier();
    slow.ready = false;
    slow.ready_replicas = 1;
    let flipped = of_tiers(Some(&again), 3, vec![slow], 30);
    assert_eq!(time(&flipped, READY), at(30), "True → False: time moves");
    assert_eq!(time(&flipped, STALLED), at(10), "Stalled stayed False");
    let ready_condition = find(&flipped.conditions, READY);
    assert_eq!(
        (
            ready_condition.status.as_str(),
            ready_condition.reason.as_str()
        ),
        ("False", reasons::REPLICAS_NOT_READY)
    );
    assert_eq!(ready_condition.observed_generation, Some(3));
}

fn deployment_with(generation: i64, observed: i64, conditions: &serde_json::Value) -> Deployment {
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
        let status = tier_status(
            "web",
            Some(&deployment_with(2, observed, &conditions)),
            false,
        );
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
        false,
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
    let summary = rollout(&[ready_tier(), failed.clone()], &[]);
    assert!(summary.stalled.status && !summary.ready.status && !summary.reconciling.status);
    assert_eq!(summary.stalled.reason, reasons::ROLLOUT_FAILED);
    assert!(summary.stalled.message.starts_with("tier web: rollout failed (ProgressDeadlineExceeded): ReplicaSet \"shop-web-2\" has timed out"), "{}", summary.stalled.message);
    let before = of_tiers(None, 1, vec![ready_tier()], 1);
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
        !rollout(&[fixed], &[]).stalled.status,
        "a new generation clears Stalled"
    );
}

/// A Deployment `shop-web` at `replicas` whose status reports them all ready.
fn scaled_deployment(replicas: i32) -> Deployment {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": "shop-web", "generation": 3},
        "spec": {"replicas": replicas, "selector": {}, "template": {}},
        "status": {"observedGeneration": 3, "replicas": replicas, "readyReplicas": replicas,
                   "updatedReplicas": replicas, "availableReplicas": replicas},
    }))
    .unwrap()
}

// The HPA pauses on a target at 0 (ScalingActive=False, ScalingDisabled) and the operator
// leaves an autoscaled count alone: such a tier serves nothing and must not read as ready.
#[test]
fn an_autoscaled_tier_scaled_to_zero_is_not_ready_and_stalls_the_app_saying_how_to_resume() {
    let zero = scaled_deployment(0);
    let autoscaled = tier_status("web", Some(&zero), true);
    assert!(!autoscaled.ready, "{autoscaled:?}");
    assert!(
        tier_status("web", Some(&zero), false).ready,
        "a fixed count of 0 is what the tier asks for"
    );
    assert!(tier_status("web", Some(&scaled_deployment(2)), true).ready);

    let paused = paused_autoscaling("web", "shop", Some(&zero), Some(3)).unwrap();
    assert_eq!(
        paused,
        PausedTier {
            tier: "web".to_owned(),
            deployment: "shop-web".to_owned(),
            namespace: "shop".to_owned(),
            min_replicas: 3,
        }
    );
    assert_eq!(paused_autoscaling("web", "shop", Some(&zero), None), None);
    assert_eq!(
        paused_autoscaling("web", "shop", Some(&scaled_deployment(1)), Some(3)),
        None
    );
    assert_eq!(paused_autoscaling("web", "shop", None, Some(3)), None);

    let summary = rollout(&[autoscaled], &[paused]);
    assert!(!summary.ready.status && summary.stalled.status && !summary.reconciling.status);
    assert_eq!(summary.ready.reason, reasons::AUTOSCALING_PAUSED);
    let message = &summary.ready.message;
    assert!(
        message.starts_with(
            "tier web: its Deployment shop-web was scaled to 0 by hand, so its autoscaler is paused"
        ) && message.contains("`kubectl scale deployment/shop-web -n shop --replicas=3`"),
        "{message}"
    );
    assert_eq!(
        current_ready(Some(&build(
            None,
            Some(1),
            summary,
            Vec::new(),
            None,
            &at(1)
        )))
        .map(|c| c.reason)
        .as_deref(),
        Some(reasons::AUTOSCALING_PAUSED)
    );
}

fn ingress_settings(host: Option<&str>, path: &str, certificate: bool) -> ValidatedIngress {
    ValidatedIngress {
        host: host.map(str::to_owned),
        path: path.to_owned(),
        certificate_arn: certificate
            .then(|| "arn:aws:acm:eu-west-1:123456789012:certificate/abc".to_owned()),
        scheme: crate::api::tiered_app::IngressScheme::InternetFacing,
        group_name: None,
        ssl_policy: None,
        deregistration_delay_seconds: 30,
        idle_timeout_seconds: None,
        http2: None,
        wafv2_acl_arn: None,
        external_dns_hostnames: Vec::new(),
    }
}

fn ingress_at(hostname: &str) -> Ingress {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": "shop-web"},
        "status": {"loadBalancer": {"ingress": [{"hostname": hostname}]}}
    }))
    .unwrap()
}

/// Found reading the status code (session 10): the URL was the ALB's DNS name with the
/// app-wide scheme, so a tier with a `host` rule (the ALB answers other hosts with 404)
/// or a path was given a URL that does not reach it.
#[test]
fn a_tier_url_uses_its_own_scheme_host_and_path() {
    let alb = ingress_at("k8s-shop-1234.eu-west-1.elb.amazonaws.com");
    for (settings, expected) in [
        (
            ingress_settings(None, "/", false),
            Some("http://k8s-shop-1234.eu-west-1.elb.amazonaws.com"),
        ),
        (
            ingress_settings(Some("shop.example.com"), "/api/", true),
            Some("https://shop.example.com/api"),
        ),
        (
            ingress_settings(Some("*.example.com"), "/admin", false),
            Some("http://k8s-shop-1234.eu-west-1.elb.amazonaws.com/admin"),
        ),
    ] {
        assert_eq!(tier_url(Some(&alb), &settings).as_deref(), expected);
    }
    let no_address: Ingress =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "shop-web"}})).unwrap();
    let settings = ingress_settings(Some("shop.example.com"), "/", true);
    assert_eq!(tier_url(Some(&no_address), &settings), None, "no ALB yet");
    assert_eq!(tier_url(None, &settings), None, "no Ingress yet");
}

/// Found by an outside trial: a child the API server refused left `Ready` at its last
/// value with Reconciling=True forever. A refusal is Stalled; a transient failure is
/// Reconciling; `Ready` is False with the message either way.
#[test]
fn refused_children_stall_and_failing_ones_keep_reconciling_never_ready() {
    let message = "failed to apply NetworkPolicy shop-web: 403 Forbidden: denied".to_owned();
    let refused = children_failed(Some("ApplyFailed"), message.clone());
    assert!(refused.stalled.status && !refused.reconciling.status && !refused.ready.status);
    assert_eq!(
        (&*refused.stalled.reason, &*refused.ready.reason),
        ("ApplyFailed", "ApplyFailed")
    );
    assert_eq!(refused.stalled.message, message);
    let failing = children_failed(None, message.clone());
    assert!(!failing.stalled.status && failing.reconciling.status && !failing.ready.status);
    assert_eq!(failing.reconciling.reason, reasons::TRANSIENT_ERROR);
    assert_eq!(failing.ready.message, message);
}

/// A retry keeps `Ready` as stored, whatever its reason: `NameConflict` and
/// `ApplyFailed` were shown as `TransientError` (with their own message) while the
/// operator retried.
#[test]
fn a_retry_keeps_the_ready_reason_it_found() {
    for reason in [reasons::NAME_CONFLICT, "ApplyFailed", reasons::READY] {
        let stored = build(
            None,
            Some(1),
            Summary::stalled(reason, format!("{reason} message"), "waiting"),
            Vec::new(),
            None,
            &at(1),
        );
        let retried = retrying(current_ready(Some(&stored)), "500: etcd is busy");
        assert_eq!(
            (&*retried.ready.reason, retried.ready.message.as_str()),
            (reason, format!("{reason} message").as_str())
        );
        assert_eq!(retried.reconciling.reason, reasons::TRANSIENT_ERROR);
        assert_eq!(retried.reconciling.message, "retrying: 500: etcd is busy");
    }
}
