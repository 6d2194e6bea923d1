//! The real `tiered run` binary as a child process of a test: started with a kubeconfig
//! and `TIERED_*` environment, its stdout (JSON log lines) collected, its HTTP address
//! read from its own log, and killed when dropped (also when the test panics).

use std::net::SocketAddr;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::moto::MotoServer;
use super::operator::{eventually, http_get};

/// A running `tiered run` process.
pub struct OperatorProcess {
    child: Child,
    /// Every stdout line so far.
    stdout: Arc<Mutex<Vec<String>>>,
    /// Every stderr line so far.
    stderr: Arc<Mutex<Vec<String>>>,
    /// `/metrics`, `/healthz`, `/readyz`.
    pub http: SocketAddr,
}

fn collect<R>(reader: R, lines: Arc<Mutex<Vec<String>>>)
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut reader = BufReader::new(reader).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            lines.lock().unwrap().push(line);
        }
    });
}

/// The address in the "serving /metrics…" log line: `"addr": "Some(127.0.0.1:PORT)"`.
fn bound_address(lines: &[String]) -> Option<SocketAddr> {
    lines.iter().find_map(|line| {
        let value: serde_json::Value = serde_json::from_str(line).ok()?;
        let addr = value.get("addr")?.as_str()?;
        addr.trim_start_matches("Some(")
            .trim_end_matches(')')
            .parse()
            .ok()
    })
}

impl OperatorProcess {
    /// Starts `tiered run` against the cluster in `kubeconfig`, configured only through
    /// environment variables (`TIERED_*`), plus `extra` variables.
    pub async fn start(kubeconfig: &Path, extra: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tiered"));
        command
            .arg("run")
            .env("KUBECONFIG", kubeconfig)
            .env("TIERED_CLUSTER_NAME", "e2e")
            .env("TIERED_METRICS_ADDR", "127.0.0.1:0")
            .env("TIERED_LEADER_ELECTION", "false")
            .env("TIERED_RESYNC", "1s")
            .env("RUST_LOG", "info")
            .env_remove("TIERED_LOG_FORMAT")
            .env_remove("TIERED_NAMESPACES")
            .env_remove("KUBERNETES_SERVICE_HOST")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (key, value) in extra {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("the tiered binary starts");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        collect(child.stdout.take().unwrap(), Arc::clone(&stdout));
        collect(child.stderr.take().unwrap(), Arc::clone(&stderr));
        let mut process = Self {
            child,
            stdout,
            stderr,
            http: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let lines = Arc::clone(&process.stdout);
        eventually("the operator logs its HTTP address", || {
            let found = bound_address(&lines.lock().unwrap()).is_some();
            async move { found }
        })
        .await;
        process.http = bound_address(&process.stdout_lines()).unwrap();
        process
    }

    /// Starts `tiered run` (as [`OperatorProcess::start`]) with its AWS clients on
    /// `moto` (region us-east-1, dummy credentials, no instance metadata).
    pub async fn start_on_moto(kubeconfig: &Path, moto: &MotoServer) -> Self {
        let endpoint = moto.endpoint();
        let env = [
            ("AWS_ENDPOINT_URL", endpoint.as_str()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ];
        Self::start(kubeconfig, &env).await
    }

    /// `tiered_aws_calls_total` of the `service` (`rds`, `elasticache`) operations that
    /// `keep` keeps (every region), from the process's own `/metrics`.
    pub async fn aws_calls(&self, service: &str, keep: impl Fn(&str) -> bool) -> u64 {
        let (_, text) = http_get(self.http, "/metrics").await;
        let series = format!("tiered_aws_calls_total{{service=\"{service}\",operation=\"");
        text.lines()
            .filter_map(|line| {
                let rest = line.strip_prefix(&series)?;
                let (operation, _) = rest.split_once('"')?;
                keep(operation).then(|| line.rsplit(' ').next()?.parse::<u64>().ok())?
            })
            .sum()
    }

    /// Calls of the `service` that change something (see [`OperatorProcess::aws_calls`]).
    pub async fn mutating_aws_calls(&self, service: &str) -> u64 {
        self.aws_calls(service, |operation| {
            !tiered::runtime::aws_calls::is_read_only(operation)
        })
        .await
    }

    /// Checks that the process sends no mutating `service` call over `window`
    /// (`what`: the converged objects, for the message).
    pub async fn assert_quiet(&self, service: &str, window: Duration, what: &str) {
        let before = self.mutating_aws_calls(service).await;
        tokio::time::sleep(window).await;
        assert_eq!(
            self.mutating_aws_calls(service).await,
            before,
            "{what} makes no mutating AWS calls"
        );
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the process is still running")
    }

    /// Stdout lines so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    /// Stderr lines so far.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// Sends `signal` (`TERM`, `KILL`, …) with the `kill` command.
    pub fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} {} failed", self.pid());
    }

    /// Waits up to `limit` for the process to exit.
    pub async fn exit_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        tokio::time::timeout(limit, self.child.wait())
            .await
            .ok()
            .map(|status| status.expect("waiting for the process works"))
    }

    /// Sends SIGTERM and checks that the process shuts down gracefully: it exits with
    /// status 0 within 10 s (the failure names the exit it got and the stderr lines).
    pub async fn terminate(&mut self) {
        self.signal("TERM");
        let exit = self.exit_within(Duration::from_secs(10)).await;
        assert!(
            exit.is_some_and(|s| s.success()),
            "SIGTERM ends the process with status 0 within 10 s, got {exit:?}; stderr: {:?}",
            self.stderr_lines()
        );
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        // kill_on_drop also does this; being explicit keeps it when the flag is lost.
        let _ = self.child.start_kill();
    }
}
