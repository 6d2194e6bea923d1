//! Shared set-up of the operator tests: an emulator with the tiered CRDs, the operator
//! process running in-process against it, polling and HTTP helpers, and the apps and
//! condition lookups the TieredApp, database and cache controller tests share.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use aws_config::SdkConfig;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::Api;
use kube::api::PostParams;
use kube_emulator::{Emulator, EmulatorHandle, EmulatorOptions};
use tiered::api::TieredApp;
use tiered::process::run::{RunConfig, run_with_clients};
use tiered::process::shutdown::{Shutdown, StopReason};

/// An emulator plus a running operator.
pub struct Running {
    pub emulator: EmulatorHandle,
    pub client: kube::Client,
    pub shutdown: Shutdown,
    pub http: SocketAddr,
    pub task: tokio::task::JoinHandle<Result<(), tiered::process::run::RunError>>,
}

/// Starts an emulator with `namespaces` (plus `default`) and registers the CRDs.
pub async fn emulator(namespaces: &[&str], sandbox: bool) -> EmulatorHandle {
    let mut names = vec!["default".to_owned(), "kube-system".to_owned()];
    names.extend(namespaces.iter().map(|n| (*n).to_owned()));
    let emulator = Emulator::start(EmulatorOptions {
        namespaces: names,
        sandbox,
        sandbox_delay: Duration::from_millis(200),
        ..EmulatorOptions::default()
    })
    .await
    .unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(emulator.client());
    for crd in tiered::api::crds() {
        crds.create(&PostParams::default(), &crd).await.unwrap();
    }
    let apps: Api<TieredApp> = Api::all(emulator.client());
    eventually("the TieredApp kind is served", || async {
        apps.list(&kube::api::ListParams::default()).await.is_ok()
    })
    .await;
    emulator
}

/// The configuration of an in-process operator on `namespaces`: no leader election,
/// resync 1 s, HTTP on a free port, a stop of at most 5 s.
pub fn test_config(namespaces: &[&str]) -> RunConfig {
    RunConfig {
        cluster_name: "test".to_owned(),
        namespaces: namespaces.iter().map(|n| (*n).to_owned()).collect(),
        concurrency: 4,
        resync: Duration::from_secs(1),
        metrics_addr: "127.0.0.1:0".parse().unwrap(),
        leader: None,
        adopt_namespaces: Vec::new(),
        watch_label_selector: None,
        cluster_dns: tiered::runtime::context::ClusterDns::default(),
        // Below `Instance::stop`'s 10 s, so a stop that hangs fails the test that made it.
        graceful_shutdown_timeout: Duration::from_secs(5),
    }
}

/// One operator process running in-process.
pub struct Instance {
    pub shutdown: Shutdown,
    pub http: SocketAddr,
    pub task: tokio::task::JoinHandle<Result<(), tiered::process::run::RunError>>,
}

/// AWS configuration for tests that make no AWS calls: static region and dummy
/// credentials (so nothing is looked up in the environment or IMDS), and an endpoint
/// where nothing listens.
pub fn offline_aws_config() -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url("http://127.0.0.1:9")
        .credentials_provider(aws_sdk_rds::config::SharedCredentialsProvider::new(
            aws_sdk_rds::config::Credentials::new("testing", "testing", None, None, "offline"),
        ))
        .build()
}

/// Starts an operator with `config` against `client` and no usable AWS endpoint;
/// returns once its HTTP port is bound.
pub async fn launch(client: kube::Client, config: RunConfig) -> Instance {
    launch_with_aws(client, config, &offline_aws_config()).await
}

/// Starts an operator with `config` against `client`, its AWS clients configured by
/// `aws` (e.g. `support::moto::aws_config`); returns once its HTTP port is bound.
pub async fn launch_with_aws(client: kube::Client, config: RunConfig, aws: &SdkConfig) -> Instance {
    let shutdown = Shutdown::new();
    let (bound, on_bound) = tokio::sync::oneshot::channel();
    let aws = aws.clone();
    let shutdown_for_task = shutdown.clone();
    let task = tokio::spawn(async move {
        run_with_clients(client, &aws, config, shutdown_for_task, Some(bound)).await
    });
    let http = on_bound.await.unwrap();
    Instance {
        shutdown,
        http,
        task,
    }
}

impl Instance {
    /// Stops the operator (as SIGTERM would) and waits for it to end cleanly.
    pub async fn stop(self) {
        self.shutdown.trigger(StopReason::Signal);
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the operator stops within 10 s")
            .unwrap()
            .unwrap();
    }
}

/// Starts the operator in-process (no leader election, resync 1 s) on `namespaces`,
/// with no usable AWS endpoint.
pub async fn start(namespaces: &[&str]) -> Running {
    start_with_aws(namespaces, &offline_aws_config()).await
}

/// Starts the operator in-process (no leader election, resync 1 s) on `namespaces`,
/// its AWS clients configured by `aws`.
pub async fn start_with_aws(namespaces: &[&str], aws: &SdkConfig) -> Running {
    let emulator = emulator(namespaces, false).await;
    let client = emulator.client();
    let Instance {
        shutdown,
        http,
        task,
    } = launch_with_aws(client.clone(), test_config(namespaces), aws).await;
    Running {
        emulator,
        client,
        shutdown,
        http,
        task,
    }
}

/// Starts the operator on `namespace` (as [`start`]) and creates `app` there; returns
/// it with the TieredApps of `namespace`.
pub async fn start_with_app(namespace: &str, app: &TieredApp) -> (Running, Api<TieredApp>) {
    let op = start(&[namespace]).await;
    let apps: Api<TieredApp> = Api::namespaced(op.client.clone(), namespace);
    apps.create(&PostParams::default(), app)
        .await
        .expect("failed to create the TieredApp");
    (op, apps)
}

impl Running {
    /// Stops the operator and starts another on the same emulator, with `config` and
    /// its AWS clients configured by `aws`: a restart with other flags.
    pub async fn relaunch(&mut self, config: RunConfig, aws: &SdkConfig) {
        self.shutdown.trigger(StopReason::Signal);
        tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .expect("the operator stops within 10 s")
            .unwrap()
            .unwrap();
        let next = launch_with_aws(self.client.clone(), config, aws).await;
        self.shutdown = next.shutdown;
        self.http = next.http;
        self.task = next.task;
    }

    /// Stops the operator (as SIGTERM would) and waits for it to end cleanly.
    pub async fn stop(self) {
        let Self {
            shutdown,
            http,
            task,
            ..
        } = self;
        Instance {
            shutdown,
            http,
            task,
        }
        .stop()
        .await;
    }
}

/// A namespaced Kubernetes kind a test can create from a JSON manifest and read back.
pub trait NamespacedKind:
    kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
    + Clone
    + serde::de::DeserializeOwned
    + serde::Serialize
    + std::fmt::Debug
{
}

impl<K> NamespacedKind for K where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug
{
}

/// Creates in `namespace` an object someone other than tiered made, from its JSON
/// `manifest`; returns the API of its kind and the object as stored.
pub async fn create_foreign<K: NamespacedKind>(
    client: &kube::Client,
    namespace: &str,
    manifest: serde_json::Value,
) -> (Api<K>, K) {
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let object: K = serde_json::from_value(manifest).expect("a valid manifest");
    let created = api
        .create(&PostParams::default(), &object)
        .await
        .expect("failed to create the foreign object");
    (api, created)
}

/// Starts the operator on `namespace` (as [`start`]) where someone other than tiered
/// has already made an object from its JSON `manifest`; returns the operator, the API
/// of that kind and the object as stored.
pub async fn start_with_foreign<K: NamespacedKind>(
    namespace: &str,
    manifest: serde_json::Value,
) -> (Running, Api<K>, K) {
    let op = start(&[namespace]).await;
    let (api, created) = create_foreign(&op.client, namespace, manifest).await;
    (op, api, created)
}

/// Checks that the API server refused a write (`result`) as `422 Invalid` with a
/// message containing `part`.
pub fn assert_invalid<K: std::fmt::Debug>(result: kube::Result<K>, part: &str) {
    match result {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{status:?}");
            assert!(status.message.contains(part), "{part}: {}", status.message);
        }
        other => panic!("accepted ({part}): {other:?}"),
    }
}

/// Waits (as [`eventually`], saying `what`) for an Event in `namespace` of `type_` and
/// `reason` whose note contains `note_part`.
pub async fn eventually_event(
    what: &str,
    client: &kube::Client,
    namespace: &str,
    type_: &str,
    reason: &str,
    note_part: &str,
) {
    eventually(what, || async {
        has_event(&events(client, namespace).await, type_, reason, note_part)
    })
    .await;
}

/// Polls `check` every 100 ms until it is true; panics after 30 s.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits (as [`eventually`]) until `api` has no object `name`.
pub async fn eventually_gone<K>(what: &str, api: &Api<K>, name: &str)
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    eventually(what, || async {
        api.get_opt(name).await.unwrap().is_none()
    })
    .await;
}

/// GET `path` from the operator's HTTP endpoints: status code and body.
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    kube_emulator::raw_http(addr, "GET", path, &[], "")
        .await
        .expect("the HTTP request failed")
}

/// The value of a metric line starting with `prefix` (summed over matching lines).
pub fn metric(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Waits (as [`eventually`]) until the operator serving `http` has counted a failed
/// reconcile of `controller` in `category` (`tiered_reconcile_errors_total`).
pub async fn eventually_counted_error(http: SocketAddr, controller: &str, category: &str) {
    let series = format!(
        "tiered_reconcile_errors_total{{controller=\"{controller}\",category=\"{category}\"}}"
    );
    eventually(&format!("{series} is counted"), || async {
        let (_, text) = http_get(http, "/metrics").await;
        metric(&text, &series) >= 1.0
    })
    .await;
}

/// The `api` tier of the test apps (application, port 5000, two replicas), as a YAML
/// list item.
const API_TIER: &str = "
    - name: api
      role: application
      image: ghcr.io/acme/api:1.0.0
      port: 5000
      replicas: 2";

/// A two-tier app: web (presentation, ingress, calls api) and api.
pub fn two_tier_app(namespace: &str) -> TieredApp {
    newsread(
        namespace,
        &format!(
            "
    - name: web
      role: presentation
      image: ghcr.io/acme/web:1.0.0
      port: 8080
      replicas: 2
      healthCheck: {{path: /health}}
      ingress: {{host: news.example.com}}
      calls: [api]{API_TIER}"
        ),
    )
}

/// A one-tier app whose `api` tier uses the `store` (`database` or `cache`) named
/// `name`.
pub fn app_using(namespace: &str, store: &str, name: &str) -> TieredApp {
    newsread(
        namespace,
        &format!("{API_TIER}\n      {store}: {{ref: {name}}}"),
    )
}

/// The TieredApp `newsread` in `namespace` with `tiers` (YAML list items).
fn newsread(namespace: &str, tiers: &str) -> TieredApp {
    serde_norway::from_str(&format!(
        "apiVersion: tiered.io/v1alpha1
kind: TieredApp
metadata: {{name: newsread, namespace: {namespace}}}
spec:
  tiers:{tiers}
"
    ))
    .unwrap()
}

/// The status of condition `type_` of the app, as `(status, reason, message)`.
pub fn condition(app: &TieredApp, type_: &str) -> Option<(String, String, String)> {
    find_condition(&app.status.as_ref()?.conditions, type_)
}

/// Condition `type_` among `conditions` (of any tiered object's status), as
/// `(status, reason, message)`.
pub fn find_condition(conditions: &[Condition], type_: &str) -> Option<(String, String, String)> {
    conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// Mutating AWS calls counted in the `/metrics` of the operator at `addr` so far.
pub async fn mutating_aws_calls(addr: SocketAddr) -> u64 {
    let (_, text) = http_get(addr, "/metrics").await;
    text.lines()
        .filter(|line| line.starts_with("tiered_aws_calls_total{"))
        .filter(|line| {
            let operation = line
                .split("operation=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_default();
            !tiered::runtime::aws_calls::is_read_only(operation)
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// The Events (`events.k8s.io`) in `namespace`.
pub async fn events(client: &kube::Client, namespace: &str) -> Vec<Event> {
    let api: Api<Event> = Api::namespaced(client.clone(), namespace);
    api.list(&kube::api::ListParams::default())
        .await
        .unwrap()
        .items
}

/// Whether `events` has one of `type_` and `reason` whose note contains `note_part`.
pub fn has_event(events: &[Event], type_: &str, reason: &str, note_part: &str) -> bool {
    events.iter().any(|e| {
        e.type_.as_deref() == Some(type_)
            && e.reason.as_deref() == Some(reason)
            && e.note.as_deref().is_some_and(|n| n.contains(note_part))
    })
}

/// The data of `secret` as text.
pub fn secret_text(secret: &Secret) -> BTreeMap<String, String> {
    secret
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), String::from_utf8(v.0.clone()).unwrap()))
        .collect()
}

/// Waits until the condition `type_` of the TieredApp `newsread` in `apps` satisfies
/// `check`, given `(status, reason, message)`.
pub async fn eventually_condition(
    what: &str,
    apps: &Api<TieredApp>,
    type_: &str,
    check: impl Fn(&(String, String, String)) -> bool,
) {
    eventually(what, || async {
        let app = apps.get("newsread").await.unwrap();
        condition(&app, type_).is_some_and(|c| check(&c))
    })
    .await;
}

/// Waits (as [`eventually_condition`], saying `what`) until the TieredApp `newsread` in
/// `apps` is `Stalled` (status True) with `reason` and a message containing each of
/// `parts`.
pub async fn eventually_stalled(what: &str, apps: &Api<TieredApp>, reason: &str, parts: &[&str]) {
    eventually_condition(what, apps, "Stalled", |(status, stalled_for, message)| {
        status == "True" && stalled_for == reason && parts.iter().all(|part| message.contains(part))
    })
    .await;
}

/// Waits (as [`eventually`], saying `what`) until the TieredApp `newsread` in `apps` is
/// `Ready` and not `Stalled`.
pub async fn eventually_ready_not_stalled(what: &str, apps: &Api<TieredApp>) {
    eventually(what, || async {
        let app = apps.get("newsread").await.unwrap();
        condition(&app, "Ready").is_some_and(|c| c.0 == "True")
            && condition(&app, "Stalled").is_some_and(|c| c.0 == "False")
    })
    .await;
}

/// Waits until the TieredApp `name` reports `Ready` with `reason`.
pub async fn wait_for_app_reason(apps: &Api<TieredApp>, name: &str, reason: &str) {
    eventually(&format!("the app is not Ready for {reason}"), || async {
        apps.get(name).await.is_ok_and(|app| {
            app.status.as_ref().is_some_and(|status| {
                status
                    .conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.reason == reason)
            })
        })
    })
    .await;
}

/// The `(Secret, key)` that the first container's variable `env` comes from.
pub fn env_from_secret(deployment: &Deployment, env: &str) -> (String, String) {
    let container = &deployment
        .spec
        .as_ref()
        .and_then(|spec| spec.template.spec.as_ref())
        .expect("a pod spec")
        .containers[0];
    let from = container
        .env
        .iter()
        .flatten()
        .find(|e| e.name == env)
        .and_then(|e| e.value_from.as_ref())
        .and_then(|v| v.secret_key_ref.as_ref())
        .unwrap_or_else(|| panic!("{env} from a Secret"));
    (from.name.clone(), from.key.clone())
}

/// The Kubernetes writes `emulator` served since `since`, as `verb path (field manager)`.
pub fn writes_since(emulator: &EmulatorHandle, since: std::time::Instant) -> Vec<String> {
    emulator
        .requests()
        .since(since)
        .iter()
        .filter(|r| r.is_write())
        .map(|r| format!("{} {} ({})", r.verb, r.path, r.field_manager))
        .collect()
}

/// Checks that the converged objects of `controller` in `op` cause, over three 1 s
/// resyncs, reconciles but zero Kubernetes writes and zero mutating AWS calls.
/// Returns `/metrics` from the end of the window.
pub async fn assert_converged(op: &Running, controller: &str) -> String {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, before) = http_get(op.http, "/metrics").await;
    let mutations_before = mutating_aws_calls(op.http).await;
    assert!(mutations_before >= 1, "the creation was counted: {before}");
    let since = std::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, after) = http_get(op.http, "/metrics").await;
    let reconciles = format!("tiered_reconcile_total{{controller=\"{controller}\"}}");
    assert!(
        metric(&after, &reconciles) - metric(&before, &reconciles) >= 2.0,
        "the 1 s resync reconciled the {controller}: {after}"
    );
    let writes = writes_since(&op.emulator, since);
    assert!(writes.is_empty(), "no Kubernetes writes, saw {writes:?}");
    assert_eq!(
        mutating_aws_calls(op.http).await,
        mutations_before,
        "no mutating AWS calls"
    );
    after
}
