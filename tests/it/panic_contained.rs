//! A panic inside one reconcile stays with its object (issue 9.1), shown on the operator
//! as it runs: the real `tiered run` process in-process (every controller, one of each
//! kind for every namespace, so the tenants share the reconcile loops), the emulator
//! and a private moto. The panic is real and raised inside the reconcile: the operator's
//! AWS SDK gets an HTTP client (the SDK's own, wrapped by this test) that panics on any
//! request naming one object's RDS identifier, so the panic unwinds out of the AWS call
//! in the middle of that object's reconcile. Nothing in the product is built for the
//! test: the HTTP client is an ordinary setting of the SDK configuration.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, SharedHttpClient, SharedHttpConnector,
    http_client_fn,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::{ListParams, PostParams};
use tiered::api::ManagedDatabase;
use tiered::aws::naming::rds_instance_identifier;
use tiered::controllers::managed_database::Rds;

use crate::support::data_tier::operator::condition;
use crate::support::data_tier::{Kind, object};
use crate::support::moto::{MotoServer, aws_config};
use crate::support::operator::has_event;
use crate::support::operator::{
    emulator, eventually, http_get, launch_with_aws, metric, test_config,
};

/// The tenant whose object panics, and another tenant.
const TENANT_A: &str = "tenant-a";
const TENANT_B: &str = "tenant-b";
/// The object whose reconcile panics.
const BOOM: &str = "boom";
/// What the injected panic says (the Stalled message carries it).
const PANIC_TEXT: &str = "injected panic in an AWS request of";

/// Wraps the SDK's connector: a request whose body names `marker` panics (inside the
/// reconcile that sends it); every other request goes to moto.
#[derive(Debug)]
struct PanicsOn {
    inner: SharedHttpConnector,
    marker: String,
}

impl HttpConnector for PanicsOn {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let names_marker = request
            .body()
            .bytes()
            .is_some_and(|body| String::from_utf8_lossy(body).contains(&self.marker));
        assert!(!names_marker, "{PANIC_TEXT} {}", self.marker);
        self.inner.call(request)
    }
}

/// The SDK's plain-HTTP client (moto listens on http), panicking on requests naming
/// `marker`.
fn panicking_client(marker: String) -> SharedHttpClient {
    let inner = aws_smithy_http_client::Builder::new().build_http();
    http_client_fn(move |settings, components| {
        SharedHttpConnector::new(PanicsOn {
            inner: inner.http_connector(settings, components),
            marker: marker.clone(),
        })
    })
}

async fn create(client: &kube::Client, namespace: &str, name: &str) {
    let api: Api<ManagedDatabase> = Api::namespaced(client.clone(), namespace);
    api.create(
        &PostParams::default(),
        &object::<Rds>(namespace, name, &Rds::manifest_spec()),
    )
    .await
    .expect("create");
}

/// `(status, reason, message)` of the condition `type_` of the database.
async fn database_condition(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    type_: &str,
) -> Option<(String, String, String)> {
    let api: Api<ManagedDatabase> = Api::namespaced(client.clone(), namespace);
    let object = api.get_opt(name).await.ok().flatten()?;
    condition::<Rds>(&object, type_)
}

async fn wait_ready(client: &kube::Client, namespace: &str, name: &str) {
    eventually(&format!("{namespace}/{name} is Ready"), || async {
        database_condition(client, namespace, name, "Ready")
            .await
            .is_some_and(|(status, _, _)| status == "True")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_reconcile_stalls_its_object_with_an_event_while_every_other_object_and_tenant_goes_on()
 {
    let moto = MotoServer::start();
    let marker = rds_instance_identifier("test", TENANT_A, BOOM);
    let aws = aws_config(&moto)
        .into_builder()
        .http_client(panicking_client(marker.clone()))
        .build();
    let emulator = emulator(&[TENANT_A, TENANT_B], false).await;
    let client = emulator.client();
    // No namespaces: one controller of each kind for all of them.
    let op = launch_with_aws(client.clone(), test_config(&[]), &aws).await;

    create(&client, TENANT_A, BOOM).await;
    create(&client, TENANT_A, "neighbour").await;
    create(&client, TENANT_B, "other").await;

    // The panicking object: Stalled, InternalError, the panic's message.
    eventually(
        "the panicking object is Stalled with InternalError",
        || async {
            database_condition(&client, TENANT_A, BOOM, "Stalled")
                .await
                .is_some_and(|(status, reason, _)| status == "True" && reason == "InternalError")
        },
    )
    .await;
    let (_, _, message) = database_condition(&client, TENANT_A, BOOM, "Stalled")
        .await
        .unwrap();
    assert!(message.contains(PANIC_TEXT), "{message}");
    assert!(message.contains("panicked"), "{message}");
    let (ready, _, _) = database_condition(&client, TENANT_A, BOOM, "Ready")
        .await
        .unwrap();
    assert_eq!(ready, "False");

    // ... and a Warning Event about it.
    let events: Api<Event> = Api::namespaced(client.clone(), TENANT_A);
    eventually("a Warning Event InternalError names the panic", || async {
        let all = events.list(&ListParams::default()).await.unwrap().items;
        has_event(&all, "Warning", "InternalError", PANIC_TEXT)
            && all.iter().all(|e| {
                e.reason.as_deref() != Some("InternalError")
                    || e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(BOOM)
            })
    })
    .await;

    // Every other object, in the same tenant and in another, reconciles to Ready.
    wait_ready(&client, TENANT_A, "neighbour").await;
    wait_ready(&client, TENANT_B, "other").await;

    // The process carries on: running, healthy, the panic counted as an internal error,
    // and an object created after the panic still reconciles.
    assert!(!op.task.is_finished(), "the operator process ended");
    let (code, body) = http_get(op.http, "/healthz").await;
    assert_eq!(code, 200, "{body}");
    let (_, metrics) = http_get(op.http, "/metrics").await;
    let series =
        "tiered_reconcile_errors_total{controller=\"manageddatabase\",category=\"internal\"}";
    assert!(metric(&metrics, series) >= 1.0, "{metrics}");
    create(&client, TENANT_B, "after-the-panic").await;
    wait_ready(&client, TENANT_B, "after-the-panic").await;
    assert!(!op.task.is_finished(), "the operator process ended");

    // A clean stop: the panic did not poison the shutdown either.
    op.shutdown
        .trigger(tiered::process::shutdown::StopReason::Signal);
    let result = tokio::time::timeout(std::time::Duration::from_secs(10), op.task)
        .await
        .expect("the operator stops within 10 s")
        .unwrap();
    assert!(result.is_ok(), "{result:?}");
}
