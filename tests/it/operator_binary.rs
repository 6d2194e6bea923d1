//! The real `tiered run` binary as a separate process against the emulator in sandbox
//! mode (issue 3 §3/§6): health and readiness endpoints, a TieredApp applied with kubectl
//! becoming Ready with its URL, Prometheus text, JSON logs, graceful shutdown on SIGTERM,
//! zero writes from a restarted operator once the app has converged, and a second
//! signal ending a stop at once.

use crate::harness_kubectl::Kubectl;
use crate::support;

use std::time::{Duration, Instant};

use kube::Api;
use kube_emulator::EmulatorHandle;
use support::operator::{
    condition, emulator, eventually, http_get, metric, two_tier_app, writes_since,
};
use support::partition::Partition;
use support::process::OperatorProcess;
use tiered::api::TieredApp;

const NS: &str = "shop";

/// kubectl for `emulator`, and the two-tier app as the manifest it applies.
fn kubectl_and_manifest(emulator: &EmulatorHandle) -> (Kubectl, String) {
    let manifest = serde_norway::to_string(&two_tier_app(NS)).unwrap();
    (Kubectl::new(emulator), manifest)
}

/// Checks the OpenMetrics text format line by line: `# HELP`/`# TYPE`/`# UNIT`
/// metadata, samples `name{label="value",…} number`, and a final `# EOF`.
fn assert_valid_openmetrics(text: &str) {
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"# EOF"), "ends with # EOF:\n{text}");
    let is_name = |name: &str| {
        !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    for line in &lines[..lines.len() - 1] {
        if let Some(meta) = line.strip_prefix("# ") {
            let mut parts = meta.splitn(3, ' ');
            let keyword = parts.next().unwrap_or_default();
            let name = parts.next().unwrap_or_default();
            assert!(
                ["HELP", "TYPE", "UNIT"].contains(&keyword) && is_name(name),
                "bad metadata line {line:?}"
            );
            if keyword == "TYPE" {
                let kind = parts.next().unwrap_or_default();
                assert!(
                    [
                        "counter",
                        "gauge",
                        "histogram",
                        "summary",
                        "info",
                        "unknown"
                    ]
                    .contains(&kind),
                    "bad type in {line:?}"
                );
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a sample has a value");
        assert!(
            value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value),
            "bad value in {line:?}"
        );
        let (name, labels) = series.split_once('{').unwrap_or((series, ""));
        assert!(is_name(name), "bad metric name in {line:?}");
        if !labels.is_empty() {
            let labels = labels.strip_suffix('}').expect("labels end with }");
            for pair in labels.split("\",").filter(|p| !p.is_empty()) {
                let (key, quoted) = pair.split_once('=').expect("label is key=value");
                assert!(
                    is_name(key) && quoted.starts_with('"'),
                    "bad label in {line:?}"
                );
            }
        }
    }
}

async fn wait_ready(process: &OperatorProcess) {
    eventually("/readyz answers 200", || async {
        http_get(process.http, "/readyz").await.0 == 200
    })
    .await;
}

async fn wait_app_ready(apps: &Api<TieredApp>) -> TieredApp {
    eventually("the app is Ready", || async {
        apps.get_opt("newsread")
            .await
            .unwrap()
            .and_then(|app| condition(&app, "Ready"))
            .is_some_and(|c| c.0 == "True")
    })
    .await;
    apps.get("newsread").await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_health_reconciles_an_app_to_ready_logs_json_and_stops_on_sigterm() {
    let emulator = emulator(&[NS], true).await;
    let (kubectl, manifest) = kubectl_and_manifest(&emulator);
    let mut operator = OperatorProcess::start(&kubectl.kubeconfig, &[]).await;

    assert_eq!(http_get(operator.http, "/healthz").await.0, 200);
    wait_ready(&operator).await;

    kubectl.accepted(&manifest).await;
    let apps: Api<TieredApp> = Api::namespaced(emulator.client(), NS);
    let app = wait_app_ready(&apps).await;
    let status = app.status.unwrap();
    assert_eq!(
        status.url.as_deref(),
        Some("http://news.example.com"),
        "the URL is the web tier's ingress host once the sandbox gives the Ingress an address"
    );
    let mut tiers: Vec<_> = status
        .tiers
        .iter()
        .map(|t| {
            (
                t.name.as_str(),
                t.ready,
                t.ready_replicas,
                t.desired_replicas,
            )
        })
        .collect();
    tiers.sort_unstable();
    assert_eq!(tiers, [("api", true, 2, 2), ("web", true, 2, 2)]);

    let (code, metrics) = http_get(operator.http, "/metrics").await;
    assert_eq!(code, 200);
    assert_valid_openmetrics(&metrics);
    assert!(
        metric(&metrics, "tiered_reconcile_total{controller=\"tieredapp\"}") > 0.0,
        "{metrics}"
    );
    // Families without samples yet (no errors here) are left out of the exposition.
    for family in [
        "# TYPE tiered_reconcile counter",
        "# TYPE tiered_reconcile_duration_seconds histogram",
        "# TYPE tiered_children_applied counter",
    ] {
        assert!(metrics.contains(family), "{family} in\n{metrics}");
    }

    let lines = operator.stdout_lines();
    assert!(!lines.is_empty(), "the operator logs to stdout");
    let records: Vec<serde_json::Value> = lines
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?} is JSON: {e}")))
        .collect();
    for record in &records {
        assert!(record["timestamp"].is_string(), "{record}");
        assert!(record["level"].is_string(), "{record}");
        assert!(record["target"].is_string(), "{record}");
    }
    let written = records
        .iter()
        .find(|r| r["message"] == "child written")
        .expect("a log line per written child");
    assert_eq!(written["level"], "INFO");
    assert!(
        written["target"]
            .as_str()
            .unwrap()
            .starts_with("tiered::controllers"),
        "{written}"
    );
    assert!(
        written["child"].as_str().is_some_and(|c| c.contains('/')),
        "the child is a structured field: {written}"
    );

    operator.terminate().await;
    assert!(
        operator
            .stdout_lines()
            .iter()
            .any(|l| l.contains("SIGTERM received")),
        "the shutdown is logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_operator_makes_zero_writes_for_a_converged_app() {
    let emulator = emulator(&[NS], true).await;
    let (kubectl, manifest) = kubectl_and_manifest(&emulator);
    let mut first = OperatorProcess::start(&kubectl.kubeconfig, &[]).await;
    kubectl.accepted(&manifest).await;
    let apps: Api<TieredApp> = Api::namespaced(emulator.client(), NS);
    wait_app_ready(&apps).await;
    first.terminate().await;

    let since = Instant::now();
    let second = OperatorProcess::start(&kubectl.kubeconfig, &[]).await;
    wait_ready(&second).await;
    // The first reconcile after the caches sync and at least one 1 s resync.
    eventually(
        "the restarted operator reconciled the app twice",
        || async {
            let (_, metrics) = http_get(second.http, "/metrics").await;
            metric(&metrics, "tiered_reconcile_total{controller=\"tieredapp\"}") >= 2.0
        },
    )
    .await;
    let writes = writes_since(&emulator, since);
    assert!(
        writes.is_empty(),
        "a restart costs no writes for a converged app, saw {writes:?}"
    );
    assert!(
        emulator
            .requests()
            .since(since)
            .iter()
            .any(|r| r.verb == "list" && r.resource == "tieredapps"),
        "the restarted operator did talk to the emulator"
    );
}

/// Found from outside: with the API server silent, a stop waits up to the graceful
/// shutdown timeout (here for the Lease's release), and a second Ctrl-C did nothing,
/// because the process's own SIGINT handler had replaced the OS's default. A second
/// signal now exits at once with status 1, as controller-runtime's handler does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_ends_a_stop_that_waits_on_a_silent_api_server() {
    let emulator = emulator(&[NS], true).await;
    let partition = Partition::start(emulator.addr()).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        kube_emulator::kubeconfig_yaml(&partition.url()),
    )
    .unwrap();
    let leader = [
        ("TIERED_LEADER_ELECTION", "true"),
        ("POD_NAME", "operator-a"),
        ("TIERED_GRACEFUL_SHUTDOWN_TIMEOUT", "5m"),
    ];
    let mut process = OperatorProcess::start(&kubeconfig, &leader).await;
    eventually("the operator leads", || async {
        http_get(process.http, "/readyz")
            .await
            .1
            .contains("Leading")
    })
    .await;
    partition.cut();
    process.signal("INT");
    assert!(
        process.exit_within(Duration::from_secs(2)).await.is_none(),
        "the first SIGINT waits for the stop, whose release cannot reach the API server"
    );
    process.signal("INT");
    let exit = process.exit_within(Duration::from_secs(5)).await;
    assert_eq!(exit.and_then(|status| status.code()), Some(1), "{exit:?}");
    assert!(
        process
            .stdout_lines()
            .iter()
            .any(|line| line.contains("SIGINT received again")),
        "the second signal is logged: {:?}",
        process.stdout_lines()
    );
}
