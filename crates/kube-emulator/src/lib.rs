//! An in-process emulator of the Kubernetes API server, for tests and the local sandbox.
//!
//! A crate of its own (`crates/kube-emulator`): the product crate only dev-depends on it, so the
//! release build never compiles it.
//! Unmodified `kube::Client` and `kubectl` talk to it over plain HTTP on loopback:
//! [`Emulator::start`] binds `127.0.0.1`, and the [`EmulatorHandle`] gives a client, a
//! kubeconfig, fault injection and the request log.
//!
//! # What it does, like the real API server
//!
//! - Discovery (`/api`, `/apis`, group versions, `/version`) for the built-in kinds in
//!   [`resources::builtins`] and for every CRD created (with status conditions
//!   `NamesAccepted` and `Established`); deleting a CRD removes its kind and objects.
//! - Verbs create, get, list, watch, update, patch (merge, JSON, strategic for built-ins,
//!   server-side apply), delete, deletecollection; `/status` subresources; `dryRun=All`.
//! - The `/scale` subresource ([`scale`]) of Deployments and of custom kinds whose CRD
//!   version declares `subresources.scale`: autoscaling/v1 `Scale` on GET, PUT and PATCH
//!   (merge, JSON, strategic), listed in discovery as `<plural>/scale`, so `kubectl scale`
//!   and the HPA's writes work; a write sets only the parent's replica field, under the
//!   parent's update rules (`resourceVersion`, generation, `managedFields` with
//!   `subresource: scale`).
//! - Metadata: one global `resourceVersion`, `uid`, `creationTimestamp`, `generation`,
//!   `generateName`, 409 on duplicates and stale `resourceVersion`s, no-op writes that
//!   store nothing, finalizers with `deletionTimestamp`, ownerReference garbage
//!   collection (Background, Foreground, Orphan), namespaces that must exist.
//! - Label and field selectors, `limit`/`continue` paging, watches from a
//!   `resourceVersion` with bookmarks and 410 Gone (`ERROR` event, reason `Expired`).
//!   Field selectors: `metadata.name`/`metadata.namespace` of every kind, a CRD's
//!   `selectableFields`, and each Event API's own labels (core `involvedObject.*`,
//!   `reason`, `reportingComponent`, `source`, `type`; events.k8s.io `regarding.*`,
//!   `reportingController` for the same fields); others are a 400 `field label not
//!   supported`.
//! - Both Event APIs in one storage, as upstream keeps the internal core `Event`
//!   ([`events_conversion`]): stored in the core/v1 form, each served, listed, watched and
//!   patched in the form of the API asked (`regarding` ↔ `involvedObject`, `note` ↔
//!   `message`, `reportingController` ↔ `reportingComponent`, `deprecated*` ↔ `source`,
//!   `firstTimestamp`, `lastTimestamp`, `count`), so `kubectl describe` and `kubectl get
//!   events` show what the operator wrote through events.k8s.io; a name is taken in both,
//!   a delete through one removes it from both. Each write is validated in the form of the
//!   API it came through, then stored with Go's shape of the versioned struct (unknown
//!   fields dropped, `involvedObject: {}`, `eventTime: null` when unset).
//! - Custom resources validated and pruned by [`schema::validate_and_prune`] (422 Invalid).
//! - CRDs whose CEL rules are estimated too expensive refused (422, `Forbidden` at
//!   `….x-kubernetes-validations[i].rule`), as kube-apiserver's write-time cost check:
//!   each rule's estimated cost times its node's cardinality within 10,000,000 and the
//!   schema's total within 100,000,000 ([`schema::cel_cost`], a port of the estimate);
//!   CRDs whose rules are empty (422 `Required`) or do not parse (422 `Invalid`,
//!   "compilation failed: …", the `cel` crate's message) refused at the same paths.
//! - Sizes: a request body over 3 MiB gets 413 `RequestEntityTooLarge` with upstream's
//!   `Status`; an object whose compact JSON is over 1.5 MiB (etcd's request limit) gets
//!   upstream's 500 "etcdserver: request is too large" ([`lifecycle::MAX_STORED_OBJECT_BYTES`]).
//! - `/openapi/v3` with real schemas: built-in kinds from k8s-openapi (the upstream 1.33
//!   definitions), CRD versions as upstream publishes them ([`openapi`]);
//!   `fieldValidation=Strict` refuses unknown fields of built-in and custom objects (400,
//!   upstream's strict decoding error); RBAC kinds (`rbac.authorization.k8s.io/v1`).
//! - Validation of every write ([`validation`], 422 Invalid with `details.causes[].field`
//!   and upstream's messages): `metadata` of every kind as apimachinery's
//!   `ValidateObjectMeta` — the name format of the kind's strategy (DNS-1035 label for
//!   Services, DNS-1123 label for Namespaces, only the path-segment rule for core/v1
//!   Events and PodDisruptionBudgets, DNS-1123 subdomain ≤ 253 for every other kind and
//!   custom resources, `<plural>.<group>` for CRDs; `generateName` too), label keys and
//!   values (`IsQualifiedName`, `IsValidLabelValue` ≤ 63), annotation keys and 256 KiB in
//!   total, ownerReferences (complete, at most one `controller: true`, no core Event
//!   owner), finalizers (qualified names). Events of both APIs as `events.go` (note ≤ 1 KiB
//!   in bytes, `reason`/`action`/`reportingInstance` required and ≤ 128,
//!   `reportingController` a qualified name, `eventTime`, `type` Normal|Warning, deprecated
//!   fields unset, only the series may change; core/v1 Events only once they carry an
//!   `eventTime`). Spec rules of the kinds the operator writes: Deployment (replicas ≥ 0,
//!   selector required, matching the template and immutable, containers with DNS-1123
//!   label names and images, port numbers and names, restartPolicy Always), Service (ports
//!   required, named when several, 1–65535, protocol, targetPort, type, sessionAffinity, a
//!   cluster IP that never changes), Ingress (`pathType` required, absolute clean paths),
//!   NetworkPolicy (policy types, port protocols), HPA (min/max replicas, target),
//!   PodDisruptionBudget (not both bounds, percentages ≤ 100%), Secret and `ConfigMap`
//!   (config-key data keys, 1 MiB, a Secret's type immutable).
//! - Defaulting of built-in kinds on every create, update, patch and apply ([`defaults`]):
//!   Deployment (`replicas` 1, RollingUpdate 25%/25%, `revisionHistoryLimit` 10,
//!   `progressDeadlineSeconds` 600; pod template: restartPolicy, dnsPolicy,
//!   terminationGracePeriodSeconds, schedulerName, securityContext, container
//!   imagePullPolicy by tag, terminationMessagePath/Policy, port protocol, probe and
//!   httpGet defaults, volume defaultMode), Pod spec the same, Service (type ClusterIP,
//!   sessionAffinity None, port protocol TCP and targetPort = port, traffic policies, an
//!   allocated cluster IP from 10.96.0.0/12 kept across updates, `ipFamilies` IPv4 and
//!   `ipFamilyPolicy` SingleStack), HPA (`minReplicas` 1, CPU 80% without metrics, behavior
//!   rules filled in when behavior is given), NetworkPolicy (`policyTypes`, port protocol
//!   TCP), Secret (type Opaque, `stringData` folded into `data`), Namespace (the
//!   `kubernetes.io/metadata.name` label). Applied after server-side apply merged and
//!   pruned, so a field an applier stops sending is removed and then defaulted (a
//!   Deployment without `spec.replicas` gets 1, kubernetes/kubernetes#25238); defaulted
//!   fields never join the applier's `managedFields`, and list items are keyed with the
//!   defaults of their key fields (`protocol: TCP`), as structured-merge-diff does.
//! - Fault injection ([`faults::Faults`]) and a request log ([`faults::RequestLog`]);
//!   [`faults::Faults::refuse`] stands in for an admission denial of one kind or object
//!   (403 `Forbidden` or 422 `Invalid` with the webhook's message) until lifted.
//!
//! # What it does NOT do
//!
//! - No authentication, authorization (RBAC) or admission (no webhooks, no
//!   `ValidatingAdmissionPolicy`, no quota, no `LimitRange` defaults); a test scripts a
//!   denial with [`faults::Faults::refuse`].
//! - Validation and defaulting of built-in kinds cover the rules listed above, not all
//!   of `pkg/apis/*/validation`: no pod-spec rules beyond containers and ports (volumes,
//!   env names, resources, probes, security contexts pass unchecked), no Ingress
//!   backends, hosts or TLS, no NetworkPolicy peers, no Secret type-specific keys, no
//!   field immutability of kinds not named above, no `metadata.managedFields` checks, no
//!   core-specific finalizer rule (`validateKubeFinalizerName`), no CRD spec validation
//!   beyond its name and its CEL rules' syntax and estimated cost (rules are not
//!   type-checked against the schema), no node ports or load-balancer status for Services, no defaulting of
//!   CRDs, Jobs, `StatefulSets` or `DaemonSets`. Bad values read as Go `%#v` upstream
//!   (structs, maps) are printed as JSON.
//! - No controllers: no `ReplicaSets` or Pods from Deployments, no Endpoints or `EndpointSlices`,
//!   no status of built-ins — except that sandbox mode marks Deployments available.
//! - Table output (`as=Table`, what `kubectl get` asks for) only for custom resources,
//!   with their printer columns ([`table`]); built-in kinds get the plain list (kubectl
//!   then prints NAME and AGE itself), never 406.
//! - Protobuf request bodies only for Secret, `ConfigMap`, Namespace and `DeleteOptions`
//!   ([`protobuf`]: what client-go's typed clients send for Helm's release storage and
//!   `kubectl create namespace|secret|configmap`); other kinds in protobuf get 415. Answers
//!   are always JSON. No CBOR, no aggregated discovery (clients fall back to the legacy
//!   format), no `/openapi/v2` (client-go asks for it in protobuf only; 404): `/openapi/v3`
//!   serves the schemas (see [`openapi`]), which `kubectl explain` and Helm read.
//! - RBAC objects are stored and served, never enforced.
//! - No version conversion for multi-version CRDs (objects are served as stored, with
//!   `apiVersion` rewritten); the Event APIs' `managedFields` entries keep the field names
//!   of the API that wrote them (upstream converts them; a server-side apply through the
//!   other API does not see them as its fields). No server-side apply of a `Scale` (415;
//!   upstream maps its `managedFields` onto the parent's). No consistent snapshot across list pages, no
//!   `resourceVersionMatch`, no exec/logs/port-forward/proxy subresources.
//!
//! # Sections
//!
//! [`server`] routes, [`read`]/[`write`](mod@write)/[`delete`] verbs ([`protobuf`] bodies), [`scale`]
//! subresources, [`meta`] and [`lifecycle`]
//! metadata rules, [`validation`] and [`defaults`] of writes, [`events_conversion`] of the
//! two Event APIs, [`schema`] of custom
//! resources, [`patch`] engines, [`store`] objects and history, [`watch`], [`discovery`],
//! [`gc`], [`selectors`], [`status`] error objects, [`faults`], [`sandbox`].

pub mod defaults;
pub mod delete;
pub mod discovery;
pub mod events_conversion;
pub mod faults;
pub mod gc;
pub mod lifecycle;
pub mod meta;
pub mod openapi;
pub mod patch;
pub mod protobuf;
pub mod read;
pub mod resources;
pub mod sandbox;
pub mod scale;
pub mod schema;
pub mod selectors;
pub mod server;
pub mod status;
pub mod store;
pub mod table;
pub mod validation;
pub mod watch;
pub mod write;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

pub use faults::{Faults, Matcher, RequestLog, RequestRecord};

/// How to start an emulator.
#[derive(Debug, Clone)]
pub struct EmulatorOptions {
    /// Port on 127.0.0.1 (0: any free port).
    pub port: u16,
    /// Sandbox mode: Deployments become available after [`Self::sandbox_delay`].
    pub sandbox: bool,
    /// Delay before sandbox mode marks a Deployment available.
    pub sandbox_delay: Duration,
    /// Interval of watch bookmarks (upstream: about a minute).
    pub bookmark_interval: Duration,
    /// Number of changes kept for resuming watches.
    pub history_limit: usize,
    /// Delay before the garbage collector acts on a delete.
    pub gc_delay: Duration,
    /// Namespaces that exist at start.
    pub namespaces: Vec<String>,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        Self {
            port: 0,
            sandbox: false,
            sandbox_delay: Duration::from_millis(500),
            bookmark_interval: Duration::from_secs(1),
            history_limit: 10_000,
            gc_delay: Duration::from_millis(10),
            namespaces: vec!["default".to_owned(), "kube-system".to_owned()],
        }
    }
}

/// State shared by the server and its background tasks.
#[derive(Debug)]
pub struct Shared {
    /// Objects, history and served kinds.
    pub store: store::Store,
    /// Scripted faults.
    pub faults: Faults,
    /// Served requests.
    pub log: RequestLog,
    /// Start options.
    pub options: EmulatorOptions,
    /// Wakes the garbage collector.
    pub gc: gc::Wakeups,
    /// Tells watches and tasks to stop.
    pub shutdown: broadcast::Sender<()>,
    /// `127.0.0.1:PORT`.
    pub address: String,
}

/// The emulator.
#[derive(Debug)]
pub struct Emulator;

/// A running emulator; dropping it stops the server.
pub struct EmulatorHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    client: kube::Client,
    tasks: Vec<JoinHandle<()>>,
    server: Option<JoinHandle<()>>,
}

fn io_error(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

impl Emulator {
    /// Binds `127.0.0.1:port`, creates the start namespaces and serves in the background.
    pub async fn start(options: EmulatorOptions) -> std::io::Result<EmulatorHandle> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.port)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            store: store::Store::new(options.history_limit),
            faults: Faults::default(),
            log: RequestLog::default(),
            options: options.clone(),
            gc: gc::Wakeups::default(),
            shutdown: broadcast::channel(4).0,
            address: addr.to_string(),
        });
        {
            let mut world = shared.store.lock();
            for ns in &options.namespaces {
                let uid = world.new_uid();
                let object =
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
                let ns_type = resources::builtins()
                    .into_iter()
                    .find(|r| r.kind == "Namespace");
                if let Some(rt) = ns_type {
                    let mut object =
                        meta::prepare_create(&rt, object, uid, &store::now_timestamp());
                    defaults::apply(&rt, &mut object, None, String::new);
                    lifecycle::store(&mut world, lifecycle::NAMESPACE_KEY, object);
                }
            }
        }
        let url: axum::http::Uri = format!("http://{addr}").parse().map_err(io_error)?;
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // Losing a race with another installer is fine: a provider is installed either way.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let client = kube::Client::try_from(kube::Config::new(url)).map_err(io_error)?;
        let mut tasks = vec![tokio::spawn(gc::run(Arc::clone(&shared)))];
        if options.sandbox {
            tasks.push(tokio::spawn(sandbox::run(Arc::clone(&shared))));
        }
        let mut stop = shared.shutdown.subscribe();
        let app = server::router(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stop.recv().await;
            });
            if let Err(error) = serve.await {
                tracing::warn!(%error, "kube emulator stopped with an error");
            }
        });
        Ok(EmulatorHandle {
            addr,
            shared,
            client,
            tasks,
            server: Some(server),
        })
    }
}

impl std::fmt::Debug for EmulatorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl EmulatorHandle {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A `kube::Client` for this emulator (default namespace `default`).
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// A kubeconfig for kubectl: `server: http://127.0.0.1:PORT`, no credentials.
    pub fn kubeconfig_yaml(&self) -> String {
        kubeconfig_yaml(&self.url())
    }

    /// Fault injection.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// The request log.
    pub fn requests(&self) -> &RequestLog {
        &self.shared.log
    }

    /// Runs the garbage collector now (tests that do not want to wait).
    pub fn collect_garbage(&self) -> usize {
        gc::collect(&mut self.shared.store.lock())
    }

    /// Sends one raw HTTP/1.1 request (`Connection: close`) and returns the status code
    /// and body: for tests that check exact wire shapes. Not for watches.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> std::io::Result<(u16, String)> {
        raw_http(self.addr, method, path, headers, body).await
    }

    /// Writes a kubeconfig for this emulator (as [`EmulatorHandle::kubeconfig_yaml`]) to
    /// `dir/kubeconfig` and returns that path, for `kubectl --kubeconfig` and Helm.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn write_kubeconfig(&self, dir: &std::path::Path) -> std::io::Result<std::path::PathBuf> {
        let path = dir.join("kubeconfig");
        std::fs::write(&path, self.kubeconfig_yaml())?;
        Ok(path)
    }

    /// Number of stored objects of a resource in every namespace (`group` is `""` for the
    /// core group; `plural` as in URLs). For benchmarks that wait without listing.
    pub fn object_count(&self, group: &str, plural: &str) -> usize {
        self.shared
            .store
            .lock()
            .bucket(&format!("{group}/{plural}"))
            .map_or(0, std::collections::BTreeMap::len)
    }

    /// The current global `resourceVersion`.
    pub fn resource_version(&self) -> u64 {
        self.shared.store.lock().current_rv()
    }

    /// Stops serving: ends watches, closes idle connections, waits for the server.
    pub async fn shutdown(mut self) {
        let _ = self.shared.shutdown.send(());
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
        }
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        let _ = self.shared.shutdown.send(());
        for task in &self.tasks {
            task.abort();
        }
        if let Some(server) = &self.server {
            server.abort();
        }
    }
}

/// A kubeconfig pointing at `url` without credentials, context `emulator`.
pub fn kubeconfig_yaml(url: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: emulator\n  cluster:\n    server: {url}\n\
         users:\n- name: emulator\n  user: {{}}\ncontexts:\n- name: emulator\n  context:\n    cluster: emulator\n    \
         user: emulator\n    namespace: default\ncurrent-context: emulator\n"
    )
}

/// Sends one raw HTTP/1.1 request (`Connection: close`) to `addr` and returns the status
/// code and body (code 0 when the answer has none). The emulator's tests use it through
/// [`EmulatorHandle::raw`]; the operator's tests read its `/metrics` and probes with it.
///
/// # Errors
/// When the connection or a read or write on it fails.
pub async fn raw_http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<(u16, String)> {
    use std::fmt::Write as _;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
        addr,
        body.len()
    );
    for (name, value) in headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((code, body.to_owned()))
}
