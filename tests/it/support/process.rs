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

use super::operator::eventually;

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
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        // kill_on_drop also does this; being explicit keeps it when the flag is lost.
        let _ = self.child.start_kill();
    }
}
