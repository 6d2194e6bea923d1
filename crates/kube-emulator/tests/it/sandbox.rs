//! Sandbox mode (the local demo only): with no kubelet and no load-balancer controller,
//! the emulator itself marks Deployments available and gives Ingresses an address.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::networking::v1::Ingress;
use kube::Api;
use kube_emulator::{Emulator, EmulatorOptions};

use crate::support::create;

async fn eventually<T, F, Fut>(mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn sandbox_marks_deployments_available_and_addresses_ingresses() {
    let options = EmulatorOptions {
        sandbox: true,
        sandbox_delay: Duration::from_millis(50),
        ..EmulatorOptions::default()
    };
    let emulator = Emulator::start(options).await.unwrap();
    let deployments = Api::<Deployment>::namespaced(emulator.client(), "default");
    let deployment: Deployment = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "web:1"}]}}}
    }))
    .unwrap();
    create(&deployments, &deployment).await;
    let status = eventually(|| async {
        deployments
            .get("web")
            .await
            .unwrap()
            .status
            .filter(|s| s.ready_replicas == Some(3))
    })
    .await;
    assert_eq!(status.observed_generation, Some(1));
    assert_eq!(status.available_replicas, Some(3));

    let ingresses = Api::<Ingress>::namespaced(emulator.client(), "default");
    let ingress: Ingress = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "web"},
        "spec": {"ingressClassName": "alb", "defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}}
    }))
    .unwrap();
    create(&ingresses, &ingress).await;
    let host = eventually(|| async {
        let live = ingresses.get("web").await.unwrap();
        live.status?
            .load_balancer?
            .ingress?
            .first()?
            .hostname
            .clone()
    })
    .await;
    assert_eq!(host, "web.default.alb.sandbox.invalid");
}

#[tokio::test]
async fn outside_sandbox_mode_nothing_touches_status() {
    let emulator = Emulator::start(EmulatorOptions {
        sandbox_delay: Duration::from_millis(10),
        ..EmulatorOptions::default()
    })
    .await
    .unwrap();
    let deployments = Api::<Deployment>::namespaced(emulator.client(), "default");
    let deployment: Deployment = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "web:1"}]}}}
    }))
    .unwrap();
    create(&deployments, &deployment).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(deployments.get("web").await.unwrap().status.is_none());
}
