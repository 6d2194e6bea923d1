//! Rollouts of a TieredApp against the in-process emulator: a Deployment whose rollout
//! failed (`ProgressDeadlineExceeded`, `ReplicaFailure`) stalls the app with the tier
//! and the Deployment's message and one Warning Event, and a fix of the spec clears it;
//! the objects that let a presentation tier drain behind the ALB (pre-stop sleep, grace
//! period, deregistration delay, ALB attributes) and a Service port apart from the
//! container port, as the API server stores them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::operator_tiered_app::{names, set_tiers};
use crate::support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};
use support::operator::{
    Running, condition, events, eventually, eventually_ready_not_stalled, eventually_stalled,
    start, start_with_app, two_tier_app,
};
use tiered::api::TieredApp;
use tiered::api::tiered_app::RolloutState;

const NS: &str = "shop";

/// Writes `conditions` into the status of Deployment `name` as the Deployment controller
/// would, for its current generation, with `ready` of its replicas ready.
async fn report_rollout(client: &kube::Client, name: &str, ready: i32, conditions: Value) {
    let api: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let deployment = api.get(name).await.unwrap();
    let replicas = deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    let status = json!({"status": {"observedGeneration": deployment.metadata.generation,
        "replicas": replicas, "readyReplicas": ready, "updatedReplicas": ready,
        "availableReplicas": ready, "conditions": conditions}});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
}

fn complete() -> Value {
    json!([{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
           {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
            "message": "ReplicaSet \"newsread-api-5c9\" has successfully progressed."}])
}

async fn warning_events(client: &kube::Client, reason: &str) -> Vec<String> {
    events(client, NS)
        .await
        .into_iter()
        .filter(|e| e.type_.as_deref() == Some("Warning") && e.reason.as_deref() == Some(reason))
        .filter_map(|e| e.note)
        .collect()
}

fn rollout_state(app: &TieredApp, tier: &str) -> Option<RolloutState> {
    let status = app.status.as_ref()?;
    let tier = status.tiers.iter().find(|t| t.name == tier)?;
    tier.rollout.as_ref().map(|r| r.state)
}

/// The operator running with the two-tier app created and both its Deployments there.
async fn start_with_two_tiers() -> (Running, Api<TieredApp>) {
    let (op, apps) = start_with_app(NS, &two_tier_app(NS)).await;
    eventually("both Deployments exist", || async {
        names::<Deployment>(&op.client).await.len() == 2
    })
    .await;
    (op, apps)
}

#[tokio::test]
async fn a_rollout_past_its_deadline_stalls_the_app_until_the_spec_is_fixed() {
    let (op, apps) = start_with_two_tiers().await;
    report_rollout(&op.client, "newsread-api", 2, complete()).await;
    let timed_out = "ReplicaSet \"newsread-web-7d4\" has timed out progressing.";
    report_rollout(
        &op.client,
        "newsread-web",
        1,
        json!([{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                "message": timed_out}]),
    )
    .await;
    eventually_stalled(
        "the app is Stalled by the web tier's rollout",
        &apps,
        "RolloutFailed",
        &[],
    )
    .await;
    let app = apps.get("newsread").await.unwrap();
    let (_, _, message) = condition(&app, "Stalled").unwrap();
    assert!(
        message.starts_with("tier web: rollout failed (ProgressDeadlineExceeded): ReplicaSet \"newsread-web-7d4\" has timed out progressing."),
        "{message}"
    );
    let ready = condition(&app, "Ready").unwrap();
    assert_eq!(
        (ready.0.as_str(), ready.1.as_str()),
        ("False", "RolloutFailed")
    );
    assert_eq!(condition(&app, "Reconciling").unwrap().0, "False");
    assert_eq!(rollout_state(&app, "web"), Some(RolloutState::Failed));
    assert_eq!(rollout_state(&app, "api"), Some(RolloutState::Complete));
    eventually("one Warning Event names the tier", || async {
        warning_events(&op.client, "RolloutFailed")
            .await
            .iter()
            .any(|note| note.contains("tier web") && note.contains("timed out progressing"))
    })
    .await;

    // The fix: a new image. The Deployment gets a new generation that its controller has
    // not observed, so the old ProgressDeadlineExceeded no longer counts.
    let mut tiers = apps.get("newsread").await.unwrap().spec.tiers;
    tiers[0].image = "ghcr.io/acme/web:1.0.1".to_owned();
    set_tiers(&apps, &tiers).await;
    eventually("the fixed spec clears Stalled", || async {
        let app = apps.get("newsread").await.unwrap();
        condition(&app, "Stalled").is_some_and(|c| c.0 == "False")
            && condition(&app, "Reconciling").is_some_and(|c| c.0 == "True")
            && rollout_state(&app, "web") == Some(RolloutState::Progressing)
    })
    .await;
    report_rollout(&op.client, "newsread-web", 2, complete()).await;
    eventually("the finished rollout makes the app Ready", || async {
        let app = apps.get("newsread").await.unwrap();
        condition(&app, "Ready").is_some_and(|c| c.0 == "True")
            && rollout_state(&app, "web") == Some(RolloutState::Complete)
    })
    .await;
    assert_eq!(
        warning_events(&op.client, "RolloutFailed").await.len(),
        1,
        "one Event for one failure"
    );
    op.stop().await;
}

#[tokio::test]
async fn pods_that_cannot_be_created_stall_the_app_and_recover_without_a_spec_change() {
    let (op, apps) = start_with_two_tiers().await;
    report_rollout(&op.client, "newsread-web", 2, complete()).await;
    let quota =
        "pods \"newsread-api-5c9-x2\" is forbidden: exceeded quota: compute, requested: cpu=100m";
    report_rollout(
        &op.client,
        "newsread-api",
        0,
        json!([{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"},
               {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": quota}]),
    )
    .await;
    eventually("the api tier's ReplicaFailure stalls the app", || async {
        let app = apps.get("newsread").await.unwrap();
        condition(&app, "Stalled").is_some_and(|c| {
            c.0 == "True"
                && c.2.contains("tier api")
                && c.2.contains("FailedCreate")
                && c.2.contains("exceeded quota")
        })
    })
    .await;
    // The quota is raised: the Deployment controller clears ReplicaFailure.
    report_rollout(&op.client, "newsread-api", 2, complete()).await;
    eventually_ready_not_stalled("the app is Ready again", &apps).await;
    op.stop().await;
}

#[tokio::test]
async fn a_presentation_tier_drains_behind_the_alb_and_maps_its_service_port() {
    let mut app = two_tier_app(NS);
    let web = &mut app.spec.tiers[0];
    web.port = Some(3000);
    web.service_port = Some(80);
    web.ingress = Some(
        serde_norway::from_str(
            "{host: news.example.com, certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/abc-1', \
             deregistrationDelaySeconds: 40, idleTimeoutSeconds: 60, http2: true, \
             wafv2AclArn: 'arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/news/0a1b', \
             externalDNSHostnames: [www.news.example.com]}",
        )
        .unwrap(),
    );
    let op = start(&[NS]).await;
    let apps: Api<TieredApp> = Api::namespaced(op.client.clone(), NS);
    apps.create(&PostParams::default(), &app).await.unwrap();
    eventually("the web tier's children exist", || async {
        names::<Ingress>(&op.client).await == ["newsread-web"]
            && names::<Service>(&op.client).await.len() == 2
    })
    .await;
    let deployment: Deployment = Api::namespaced(op.client.clone(), NS)
        .get("newsread-web")
        .await
        .unwrap();
    let pod = deployment.spec.unwrap().template.spec.unwrap();
    let sleep = pod.containers[0]
        .lifecycle
        .as_ref()
        .and_then(|l| l.pre_stop.as_ref())
        .and_then(|h| h.sleep.as_ref())
        .map(|s| s.seconds);
    assert_eq!(
        sleep,
        Some(40),
        "the pods serve through the deregistration delay"
    );
    assert_eq!(pod.termination_grace_period_seconds, Some(55));
    assert_eq!(
        pod.containers[0].ports.as_ref().unwrap()[0].container_port,
        3000
    );
    let service: Service = Api::namespaced(op.client.clone(), NS)
        .get("newsread-web")
        .await
        .unwrap();
    let port = &service.spec.unwrap().ports.unwrap()[0];
    assert_eq!(port.port, 80);
    let ingress: Ingress = Api::namespaced(op.client.clone(), NS)
        .get("newsread-web")
        .await
        .unwrap();
    let annotations = ingress.annotations();
    for (key, value) in [
        (
            "alb.ingress.kubernetes.io/target-group-attributes",
            "deregistration_delay.timeout_seconds=40",
        ),
        (
            "alb.ingress.kubernetes.io/load-balancer-attributes",
            "idle_timeout.timeout_seconds=60,routing.http2.enabled=true",
        ),
        (
            "alb.ingress.kubernetes.io/ssl-policy",
            "ELBSecurityPolicy-TLS13-1-2-2021-06",
        ),
        (
            "alb.ingress.kubernetes.io/wafv2-acl-arn",
            "arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/news/0a1b",
        ),
        (
            "external-dns.alpha.kubernetes.io/hostname",
            "www.news.example.com",
        ),
    ] {
        assert_eq!(
            annotations.get(key).map(String::as_str),
            Some(value),
            "{key}"
        );
    }
    op.stop().await;
}

#[tokio::test]
async fn the_api_server_refuses_a_grace_period_shorter_than_the_pre_stop_sleep() {
    let op = start(&[NS]).await;
    let apps: Api<TieredApp> = Api::namespaced(op.client.clone(), NS);
    let mut app = two_tier_app(NS);
    app.spec.tiers[1].pre_stop_sleep_seconds = Some(20);
    app.spec.tiers[1].termination_grace_period_seconds = Some(10);
    let refused = apps.create(&PostParams::default(), &app).await.unwrap_err();
    let message = refused.to_string();
    assert!(
        message.contains("terminationGracePeriodSeconds"),
        "{message}"
    );
    let mut app = two_tier_app(NS);
    app.spec.tiers[1].ingress = None;
    app.spec.tiers[0].ingress =
        Some(serde_norway::from_str("{sslPolicy: ELBSecurityPolicy-TLS13-1-2-2021-06}").unwrap());
    let refused = apps.create(&PostParams::default(), &app).await.unwrap_err();
    assert!(refused.to_string().contains("sslPolicy"), "{refused}");
    op.stop().await;
}
