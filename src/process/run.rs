//! The `tiered run` process: starts the HTTP endpoints, waits for the leader lease,
//! runs the controllers (TieredApp, ManagedDatabase and CacheCluster, one of each per
//! watched namespace or one for all) until SIGTERM/SIGINT (or a lost lease), then stops them,
//! releases the lease and stops the HTTP server, in that order. The AWS clients are
//! built once, from one SDK configuration.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;

use crate::controllers::{cache_cluster, managed_database, tiered_app};
use crate::process::http::{BoundServer, HttpError, HttpState};
use crate::process::leader::{self, LeaderConfig};
use crate::process::shutdown::{Shutdown, StopReason};
use crate::runtime::aws_clients::AwsClients;
use crate::runtime::context::Context;
use crate::runtime::health::Health;
use crate::runtime::metrics::Metrics;
use crate::runtime::panic::Panicked;
use crate::runtime::scope::ControllerConfig;

/// Resolves when the process stops.
type StopSignal = Pin<Box<dyn Future<Output = ()> + Send + Sync>>;

/// A controller's `run`: its context, scope, stop signal and the sender that says its
/// caches are synced.
type ControllerRun = fn(
    Context,
    ControllerConfig,
    StopSignal,
    tokio::sync::oneshot::Sender<()>,
) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// Everything `tiered run` was told.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Cluster name for AWS tags and identifiers.
    pub cluster_name: String,
    /// Namespaces to watch (empty: all).
    pub namespaces: Vec<String>,
    /// Reconciles running at once, per controller.
    pub concurrency: u16,
    /// Requeue interval of healthy objects.
    pub resync: Duration,
    /// Address of `/metrics`, `/healthz`, `/readyz`.
    pub metrics_addr: SocketAddr,
    /// Leader election (`None`: off).
    pub leader: Option<LeaderConfig>,
    /// Namespaces allowed to adopt AWS resources (empty: all).
    pub adopt_namespaces: Vec<String>,
    /// Where the cluster's DNS answers (for the tiers' egress policies).
    pub cluster_dns: crate::runtime::context::ClusterDns,
    /// Label selector of this process's shard (`None`: every object); see
    /// [`ControllerConfig::label_selector`].
    pub watch_label_selector: Option<String>,
    /// How long a stop may wait for running reconciles, the release of the Lease and the
    /// HTTP server before the process exits anyway (controller-runtime's
    /// `GracefulShutdownTimeout`): an API server that no longer answers must not keep a
    /// stopping process alive until the kubelet's SIGKILL.
    pub graceful_shutdown_timeout: Duration,
}

/// Why `tiered run` failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No kubeconfig or in-cluster configuration was usable.
    #[error("failed to create a Kubernetes client")]
    Client(#[source] kube::Error),
    /// The HTTP server failed.
    #[error("failed to run the HTTP endpoints")]
    Http(#[source] HttpError),
    /// The API server refused `--watch-label-selector`.
    #[error(
        "failed to use --watch-label-selector {selector:?}: the API server refused it; give a label selector such as tiered.io/shard=blue or !tiered.io/shard"
    )]
    LabelSelector {
        /// The selector as given.
        selector: String,
        /// The API server's answer.
        #[source]
        source: kube::Error,
    },
    /// A controller task ended with a panic or was cancelled (a bug: reconciles contain
    /// their own panics).
    #[error("failed: a controller task ended: {0}")]
    Controller(String),
    /// The lease was lost; the process exits so that it restarts as a candidate.
    #[error("failed to keep the leader lease; exiting so that another replica takes over")]
    LeaseLost,
}

/// Installs the ring crypto provider for rustls when none is installed yet (both ring and
/// aws-lc-rs are linked, so rustls cannot pick one by itself).
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another installer is fine: a provider is installed either way.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// The `User-Agent` of every Kubernetes request: `tiered/<version>`.
pub fn user_agent() -> axum::http::HeaderValue {
    axum::http::HeaderValue::from_static(concat!("tiered/", env!("CARGO_PKG_VERSION")))
}

/// Runs `tiered run` with the standard kubeconfig / in-cluster configuration and the
/// AWS SDK's standard environment until a signal arrives.
pub async fn run(config: RunConfig) -> Result<(), RunError> {
    install_crypto_provider();
    let mut kube_config = kube::Config::infer()
        .await
        .map_err(|error| RunError::Client(kube::Error::InferConfig(error)))?;
    // Named in the API server's audit log (and in the emulator's request log, where the
    // RBAC test tells the operator's requests from kubectl's by it).
    kube_config
        .headers
        .push((axum::http::header::USER_AGENT, user_agent()));
    let client = kube::Client::try_from(kube_config).map_err(RunError::Client)?;
    let shutdown = Shutdown::new();
    tokio::spawn(shutdown.clone().on_os_signals());
    run_with_client(client, config, shutdown, None).await
}

/// Runs the process with a given Kubernetes client and the AWS SDK configuration of the
/// standard environment (`AWS_REGION`, `AWS_ENDPOINT_URL`, the default credential chain)
/// until `shutdown` fires. `bound` receives the HTTP address once bound (tests use
/// port 0).
pub async fn run_with_client(
    client: kube::Client,
    config: RunConfig,
    shutdown: Shutdown,
    bound: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
) -> Result<(), RunError> {
    let aws = crate::aws::sdk_config(None, None).await;
    run_with_clients(client, &aws, config, shutdown, bound).await
}

/// Runs the process with a given Kubernetes client and AWS SDK configuration until
/// `shutdown` fires (tests point `aws` at moto). Once it has fired, the stop takes at
/// most [`RunConfig::graceful_shutdown_timeout`], whatever the process is doing: what has
/// not finished by then (a reconcile, the release of the Lease, a standby's or a starting
/// process's request to an API server that does not answer) is dropped, and the Lease
/// runs out on its own.
pub async fn run_with_clients(
    client: kube::Client,
    aws: &SdkConfig,
    config: RunConfig,
    shutdown: Shutdown,
    bound: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
) -> Result<(), RunError> {
    let timeout = config.graceful_shutdown_timeout;
    let stop = shutdown.clone();
    // The whole run, not only the leader's stop: a standby waiting on the Lease and a
    // process still starting wait on the API server too (found by trying it: a standby
    // given SIGTERM with the API server frozen was still running after 600 s).
    let running = run_until_stopped(client, aws, config, shutdown, bound);
    within_graceful_shutdown(&stop, timeout, running).await
}

/// [`run_with_clients`] without its stop deadline.
async fn run_until_stopped(
    client: kube::Client,
    aws: &SdkConfig,
    config: RunConfig,
    shutdown: Shutdown,
    bound: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
) -> Result<(), RunError> {
    let metrics = Arc::new(Metrics::new());
    let health = Arc::new(Health::new(config.leader.is_some()));
    let server = BoundServer::bind(
        config.metrics_addr,
        HttpState {
            metrics: Arc::clone(&metrics),
            health: Arc::clone(&health),
        },
    )
    .await
    .map_err(RunError::Http)?;
    if let (Some(sender), Some(addr)) = (bound, server.local_addr()) {
        let _ = sender.send(addr);
    }
    tracing::info!(
        addr = server.local_addr().map(tracing::field::display),
        "serving /metrics, /healthz and /readyz"
    );
    let http = tokio::spawn(server.serve(shutdown.wait()));

    if let Some(selector) = &config.watch_label_selector {
        let namespace = config.namespaces.first().map(String::as_str);
        if let Err(error) = check_label_selector(&client, namespace, selector).await {
            shutdown.trigger(StopReason::Failure);
            let _ = http.await;
            return Err(error);
        }
    }

    let leadership = match &config.leader {
        None => None,
        Some(leader_config) => {
            let acquired = leader::acquire(
                client.clone(),
                leader_config,
                Arc::clone(&health),
                &shutdown,
            )
            .await;
            match acquired {
                Some(leadership) => Some(leadership),
                None => return finish(http, None, &shutdown).await,
            }
        }
    };

    let identity = config.leader.as_ref().map(|l| l.identity.clone());
    let aws = AwsClients::new(aws, &metrics, &config.cluster_name, config.resync);
    let mut ctx = Context::new(
        client,
        config.cluster_name.clone(),
        identity,
        aws,
        metrics,
        Arc::clone(&health),
    );
    ctx.adopt_namespaces.clone_from(&config.adopt_namespaces);
    ctx.cluster_dns.clone_from(&config.cluster_dns);
    let (controllers, syncs) = start_controllers(&ctx, &config, &shutdown);
    // An empty list means every namespace: said as such, not as `[]`.
    let namespaces = if config.namespaces.is_empty() {
        "all".to_owned()
    } else {
        config.namespaces.join(",")
    };
    tracing::info!(cluster = %config.cluster_name, %namespaces, "controllers started");
    let sync_health = Arc::clone(&health);
    let sync_task = tokio::spawn(async move {
        if futures::future::try_join_all(syncs).await.is_ok() {
            sync_health.set_caches_synced(true);
            tracing::info!("caches synced; ready");
        }
    });
    let failed = await_controllers(controllers, &health, &shutdown).await;
    sync_task.abort();
    // Controllers stop only on shutdown; make sure it has fired for the HTTP server.
    shutdown.trigger(StopReason::Failure);
    finish(http, leadership, &shutdown).await?;
    match failed {
        Some(cause) => Err(RunError::Controller(cause)),
        None => Ok(()),
    }
}

/// Runs `running` to its end, or until `timeout` after `shutdown` fires: what has not
/// finished by then is dropped, as the kubelet's SIGKILL would drop it.
async fn within_graceful_shutdown(
    shutdown: &Shutdown,
    timeout: Duration,
    running: impl Future<Output = Result<(), RunError>>,
) -> Result<(), RunError> {
    let deadline = async {
        shutdown.wait().await;
        tokio::time::sleep(timeout).await;
    };
    tokio::select! {
        biased;
        result = running => result,
        () = deadline => {
            tracing::warn!(
                timeout = ?timeout,
                reason = shutdown.reason().map(tracing::field::debug),
                "stopped without waiting further: the stop did not finish within the graceful shutdown timeout (is the API server answering?)"
            );
            stopped(shutdown)
        }
    }
}

/// Starts the three controllers once per watched namespace (or once for all); returns
/// their tasks and the receivers that fire when each one's caches are synced.
fn start_controllers(
    ctx: &Context,
    config: &RunConfig,
    shutdown: &Shutdown,
) -> (
    Vec<tokio::task::JoinHandle<()>>,
    Vec<tokio::sync::oneshot::Receiver<()>>,
) {
    let scopes: Vec<Option<String>> = if config.namespaces.is_empty() {
        vec![None]
    } else {
        config.namespaces.iter().cloned().map(Some).collect()
    };
    let mut controllers = Vec::new();
    let mut syncs = Vec::new();
    for namespace in scopes {
        let controller_config = ControllerConfig {
            namespace,
            concurrency: config.concurrency,
            resync: config.resync,
            label_selector: config.watch_label_selector.clone(),
        };
        let mut start = |run: ControllerRun| {
            let (synced, on_synced) = tokio::sync::oneshot::channel();
            syncs.push(on_synced);
            let (listed, on_listed) = tokio::sync::oneshot::channel();
            let controller = run(
                ctx.clone(),
                controller_config.clone(),
                Box::pin(shutdown.wait()),
                listed,
            );
            controllers.push(tokio::spawn(until_stopped(
                controller,
                on_listed,
                synced,
                shutdown.clone(),
            )));
        };
        start(|ctx, config, stop, synced| Box::pin(tiered_app::run(ctx, config, stop, synced)));
        start(|ctx, config, stop, synced| {
            Box::pin(managed_database::run(ctx, config, stop, synced))
        });
        start(|ctx, config, stop, synced| Box::pin(cache_cluster::run(ctx, config, stop, synced)));
    }
    (controllers, syncs)
}

/// Runs one controller until it ends, passing on the signal that its caches have listed
/// (`on_listed` to `synced`). A controller whose caches never listed is dropped when
/// `shutdown` fires: kube-runtime's Controller (5.0) ends on a graceful shutdown only once
/// its store is ready (its runner holds the end of its queue until then), so with the
/// CRDs not installed, or a kind RBAC does not let it list, a stop request (SIGTERM,
/// Ctrl-C) left the process running until the kubelet's SIGKILL. Such a controller
/// has run no reconcile that wrote anything (a reconcile waits for the caches first).
async fn until_stopped(
    controller: Pin<Box<dyn Future<Output = ()> + Send>>,
    on_listed: tokio::sync::oneshot::Receiver<()>,
    synced: tokio::sync::oneshot::Sender<()>,
    shutdown: Shutdown,
) {
    let mut controller = controller;
    // Biased: a controller that has listed by the time the stop fires is stopped
    // gracefully (its reconciles in flight finish), never dropped.
    let listed = tokio::select! {
        biased;
        () = &mut controller => return,
        listed = on_listed => listed.is_ok(),
        () = shutdown.wait() => return,
    };
    if listed {
        let _ = synced.send(());
        // A lost Lease stops at once, dropping the reconciles in flight: another replica
        // may already lead, and a reconcile let run to its end could call AWS next to it
        // (controller-runtime likewise skips its graceful shutdown when leader election
        // is lost: `gracefulShutdownTimeout = 0` in its manager's `OnStoppedLeading`).
        tokio::select! {
            biased;
            () = shutdown.lease_lost() => {}
            () = controller => {}
        }
    } else {
        tokio::select! {
            () = controller => {}
            () = shutdown.wait() => {}
        }
    }
}

/// Asks the API server to list one TieredApp with `selector`, so that a selector it
/// cannot parse stops the process at start with the server's reason, instead of every
/// watch retrying it for ever. The API server is the parser: it is the one whose
/// grammar counts, and kube-core offers no parser of selector text. Errors other than
/// a refusal of the request (the API unreachable, RBAC) are left to the watches.
async fn check_label_selector(
    client: &kube::Client,
    namespace: Option<&str>,
    selector: &str,
) -> Result<(), RunError> {
    let apps: kube::Api<crate::api::tiered_app::TieredApp> =
        crate::runtime::scope::scoped(client.clone(), namespace);
    let params = kube::api::ListParams::default().labels(selector).limit(1);
    match apps.list_metadata(&params).await {
        Err(kube::Error::Api(status)) if status.code == 400 => Err(RunError::LabelSelector {
            selector: selector.to_owned(),
            source: kube::Error::Api(status),
        }),
        Ok(_) | Err(_) => Ok(()),
    }
}

/// Waits for every controller task. Reconciles contain their own panics
/// (`crate::runtime::panic`); a task that ends anyway is a bug: say why on `/healthz`,
/// stop everything, and hand back the cause so that the process exits non-zero and
/// Kubernetes restarts the pod.
async fn await_controllers(
    controllers: Vec<tokio::task::JoinHandle<()>>,
    health: &Health,
    shutdown: &Shutdown,
) -> Option<String> {
    let mut failed = None;
    for controller in controllers {
        if let Err(error) = controller.await {
            let cause = if error.is_panic() {
                Panicked::from_payload(&*error.into_panic()).message
            } else {
                error.to_string()
            };
            tracing::error!(error = %cause, "a controller task failed; stopping");
            health.set_failed(format!("a controller task failed: {cause}"));
            failed.get_or_insert(cause);
            shutdown.trigger(StopReason::Failure);
        }
    }
    failed
}

async fn finish(
    http: tokio::task::JoinHandle<Result<(), HttpError>>,
    leadership: Option<leader::Leadership>,
    shutdown: &Shutdown,
) -> Result<(), RunError> {
    if let Some(leadership) = leadership {
        if shutdown.lease_was_lost() {
            leadership.abandon().await;
        } else {
            leadership.release().await;
        }
    }
    match http.await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => return Err(RunError::Http(error)),
        Err(error) => tracing::warn!(%error, "the HTTP task failed"),
    }
    tracing::info!(
        reason = shutdown.reason().map(tracing::field::debug),
        "stopped"
    );
    stopped(shutdown)
}

/// The result of a stop: an error after a lost Lease, so that the process exits non-zero
/// and restarts as a candidate.
fn stopped(shutdown: &Shutdown) -> Result<(), RunError> {
    match shutdown.reason() {
        Some(StopReason::LeaseLost) => Err(RunError::LeaseLost),
        _ => Ok(()),
    }
}
