//! The operator under chaos: `tiered run` as a child process that the driver SIGKILLs
//! and starts again, every life appending to one log file (the leak and panic checks
//! read all of it).

use std::fs::OpenOptions;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::BenchResult;

/// Namespace of every chaos object (the operator watches only it).
pub const NAMESPACE: &str = "chaos";
/// `--cluster-name` of the operator: the first part of every AWS id and the
/// `tiered.io/cluster` tag.
pub const CLUSTER: &str = "chaos";

/// How the operator is started each time.
#[derive(Debug, Clone)]
pub struct Launch {
    /// The `tiered` binary.
    pub bin: PathBuf,
    /// A kubeconfig for the emulator.
    pub kubeconfig: PathBuf,
    /// `AWS_ENDPOINT_URL`: the fault layer in front of moto.
    pub aws_endpoint: String,
    /// The log every life appends to.
    pub log: PathBuf,
    /// `--resync`, when not the operator's default.
    pub resync: Option<String>,
}

/// The operator, running or not; killed on drop.
pub struct Operator {
    launch: Launch,
    child: Option<Child>,
    /// How many times it was started.
    pub starts: u32,
    /// How many times it was SIGKILLed.
    pub kills: u32,
}

impl Operator {
    /// Not started yet.
    pub fn new(launch: Launch) -> Self {
        Self {
            launch,
            child: None,
            starts: 0,
            kills: 0,
        }
    }

    /// Starts a new life of the operator (without leader election: one replica, as
    /// after a node loss). Metrics go to a free port so a restart never collides.
    pub fn start(&mut self) -> BenchResult<()> {
        let launch = &self.launch;
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&launch.log)?;
        let metrics = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let mut command = Command::new(&launch.bin);
        command
            .args(["run", "--cluster-name", CLUSTER, "--namespaces", NAMESPACE])
            .args(["--leader-election", "false", "--log-format", "json"])
            .args(["--metrics-addr", &metrics.to_string()]);
        if let Some(resync) = &launch.resync {
            command.args(["--resync", resync]);
        }
        let child = command
            .env("KUBECONFIG", &launch.kubeconfig)
            .env("RUST_LOG", "info")
            .env("AWS_ENDPOINT_URL", &launch.aws_endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "chaos")
            .env("AWS_SECRET_ACCESS_KEY", "chaos")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("failed to start {}: {e}", launch.bin.display()))?;
        self.child = Some(child);
        self.starts += 1;
        Ok(())
    }

    /// SIGKILL (no shutdown, no lease release, reconciles cut mid-call).
    pub fn kill(&mut self) -> BenchResult<()> {
        if let Some(mut child) = self.child.take() {
            // `Child::kill` is SIGKILL on Unix.
            child.kill()?;
            child.wait()?;
            self.kills += 1;
        }
        Ok(())
    }

    /// Whether a started life ended on its own (a crash), with its status.
    pub fn exited(&mut self) -> BenchResult<Option<std::process::ExitStatus>> {
        match &mut self.child {
            Some(child) => Ok(child.try_wait()?),
            None => Ok(None),
        }
    }

    /// SIGTERM, then up to 10 s for a clean exit, then SIGKILL.
    pub async fn stop(&mut self) -> BenchResult<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                child.kill()?;
                child.wait()?;
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// The log of every life so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.launch.log).unwrap_or_default()
    }

    /// Where the log is.
    pub fn log_path(&self) -> &Path {
        &self.launch.log
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
