//! Fault injection and the request log: scripted failures, dropped watches, latency,
//! and counting writes — the tools reliability tests of the operator use.

use std::time::{Duration, Instant};

use futures::TryStreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Error};
use kube_emulator::Matcher;

use crate::support::{config_map, create, start, watch_from_now};

// A scripted 500 answers the next matching request only; the retry succeeds.
#[tokio::test]
async fn a_scripted_500_fails_once_then_requests_succeed() {
    let emu = start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(emu.client());
    emu.faults()
        .fail(Matcher::on("create", "configmaps"), 500, 1);
    match api.create(&PostParams::default(), &config_map("x")).await {
        Err(Error::Api(s)) => assert_eq!(s.code, 500),
        other => panic!("expected 500, got {other:?}"),
    }
    create(&api, &config_map("x")).await;
    let codes: Vec<u16> = emu
        .requests()
        .all()
        .iter()
        .filter(|r| r.verb == "create")
        .map(|r| r.code)
        .collect();
    assert_eq!(codes, vec![500, 201]);
}

// A scripted 409 for one object name leaves other names alone.
#[tokio::test]
async fn a_fault_can_target_one_object_name() {
    let emu = start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(emu.client());
    create(&api, &config_map("a")).await;
    create(&api, &config_map("b")).await;
    emu.faults()
        .fail(Matcher::on("patch", "configmaps").named("a"), 409, 2);
    let patch = Patch::Merge(serde_json::json!({"data": {"k": "v"}}));
    api.patch("b", &PatchParams::default(), &patch)
        .await
        .unwrap();
    for _ in 0..2 {
        assert!(
            matches!(api.patch("a", &PatchParams::default(), &patch).await, Err(Error::Api(s)) if s.code == 409)
        );
    }
    api.patch("a", &PatchParams::default(), &patch)
        .await
        .unwrap();
}

// A refusal (an admission webhook denying one object) answers every request for that
// object with the chosen code, the API server's reason for it and the given message,
// leaves other names alone, and ends when lifted.
#[tokio::test]
async fn a_refusal_of_one_object_lasts_until_lifted() {
    let emu = start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(emu.client());
    let denied = Matcher::on("create", "configmaps").named("a");
    let message = "admission webhook \"deny.example.com\" denied the request: no";
    emu.faults().refuse(denied.clone(), 403, message);
    emu.faults()
        .refuse(Matcher::on("create", "configmaps").named("c"), 422, "bad");
    for _ in 0..3 {
        match api.create(&PostParams::default(), &config_map("a")).await {
            Err(Error::Api(s)) => {
                assert_eq!((s.code, s.reason.as_str()), (403, "Forbidden"));
                assert_eq!(s.message, message);
            }
            other => panic!("expected 403, got {other:?}"),
        }
    }
    create(&api, &config_map("b")).await;
    emu.faults().lift(&denied);
    create(&api, &config_map("a")).await;
    match api.create(&PostParams::default(), &config_map("c")).await {
        Err(Error::Api(s)) => assert_eq!((s.code, s.reason.as_str()), (422, "Invalid")),
        other => panic!("the other refusal stays: expected 422, got {other:?}"),
    }
}

// Closing watches ends open watch streams (the client sees the stream end).
#[tokio::test]
async fn closing_watches_ends_open_streams() {
    let emu = start().await;
    let mut stream = watch_from_now(&emu, 60).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    emu.faults().close_watches(None);
    let end = tokio::time::timeout(Duration::from_secs(2), stream.try_next())
        .await
        .unwrap()
        .unwrap();
    assert!(end.is_none(), "the stream ended");
}

// Latency delays matching requests.
#[tokio::test]
async fn latency_delays_matching_requests() {
    let emu = start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(emu.client());
    emu.faults().add_latency(
        Matcher::on("list", "configmaps"),
        Duration::from_millis(200),
    );
    let start = Instant::now();
    api.list(&ListParams::default()).await.unwrap();
    assert!(start.elapsed() >= Duration::from_millis(200));
}

// The request log records verb, resource, namespace, name, field manager and status,
// and counts writes since a point in time.
#[tokio::test]
async fn the_request_log_counts_writes_since_a_point_in_time() {
    let emu = start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(emu.client());
    create(&api, &config_map("a")).await;
    let mark = Instant::now();
    api.get("a").await.unwrap();
    api.list(&ListParams::default()).await.unwrap();
    let patch = Patch::Merge(serde_json::json!({"data": {"k": "v"}}));
    api.patch(
        "a",
        &PatchParams {
            field_manager: Some("tiered".to_owned()),
            ..PatchParams::default()
        },
        &patch,
    )
    .await
    .unwrap();
    assert_eq!(emu.requests().writes_since(mark), 1);
    let patch_record = emu
        .requests()
        .since(mark)
        .into_iter()
        .find(|r| r.verb == "patch")
        .unwrap();
    assert_eq!(
        (
            patch_record.resource.as_str(),
            patch_record.namespace.as_str(),
            patch_record.name.as_str()
        ),
        ("configmaps", "default", "a")
    );
    assert_eq!(
        (patch_record.field_manager.as_str(), patch_record.code),
        ("tiered", 200)
    );
}
