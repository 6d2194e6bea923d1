//! The operator under test as its own process: `tiered run` against the emulator, with
//! its peak memory read from `/proc/<pid>/status` and a graceful stop (SIGTERM).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kube_emulator::EmulatorHandle;

use crate::{BenchResult, workload};

/// A running `tiered run`; killed on drop if still running.
pub struct OperatorProcess {
    child: Child,
    http: SocketAddr,
    dir: PathBuf,
}

/// Memory figures of a process, in KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    /// Peak resident set size (`VmHWM`).
    pub peak_kib: u64,
    /// Current resident set size (`VmRSS`).
    pub current_kib: u64,
}

impl Memory {
    /// The peak resident set size in MiB.
    pub fn peak_mib(self) -> f64 {
        self.peak_kib as f64 / 1024.0
    }
}

/// `peak RSS 41.2 MiB, RSS now 38.0 MiB`.
impl std::fmt::Display for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "peak RSS {:.1} MiB, RSS now {:.1} MiB",
            self.peak_mib(),
            self.current_kib as f64 / 1024.0
        )
    }
}

fn free_port() -> BenchResult<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// `GET path` on `addr`: the whole response (status line, headers, body), or `None`
/// when nothing answered. A few lines over a raw socket: the bench needs no HTTP client.
fn http_get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    Some(response)
}

/// `GET path` on `addr`; the status code, or 0 when nothing answered.
fn http_status(addr: SocketAddr, path: &str) -> u16 {
    http_get(addr, path)
        .and_then(|response| {
            response
                .split_whitespace()
                .nth(1)
                .and_then(|code| code.parse().ok())
        })
        .unwrap_or(0)
}

/// The `tiered` binary to run: `given` (`--tiered-bin`), else the one next to this
/// binary.
fn tiered_bin(given: Option<&Path>) -> BenchResult<PathBuf> {
    if let Some(bin) = given {
        return Ok(bin.to_owned());
    }
    Ok(std::env::current_exe()?.with_file_name("tiered"))
}

impl OperatorProcess {
    /// A fresh emulator ([`workload::start_emulator`]) and the operator against it
    /// ([`Self::spawn`] of `bin`, see `--tiered-bin`), once the operator is ready (a
    /// minute at most).
    pub async fn start_with_emulator(
        bin: Option<&Path>,
        concurrency: u16,
        resync: Duration,
        env: &[(&str, &str)],
    ) -> BenchResult<(EmulatorHandle, Self)> {
        let emulator = workload::start_emulator().await?;
        let mut operator =
            Self::spawn(&tiered_bin(bin)?, &emulator.url(), concurrency, resync, env)?;
        operator.wait_ready(Duration::from_mins(1)).await?;
        Ok((emulator, operator))
    }

    /// Starts `bin run` with a kubeconfig for `emulator_url`, without leader election,
    /// logging at `warn` into a file in a fresh temporary directory, with `env` added
    /// (`AWS_ENDPOINT_URL` for the data tier).
    pub fn spawn(
        bin: &Path,
        emulator_url: &str,
        concurrency: u16,
        resync: Duration,
        env: &[(&str, &str)],
    ) -> BenchResult<Self> {
        let dir = std::env::temp_dir().join(format!("tiered-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let kubeconfig = dir.join("kubeconfig");
        std::fs::write(&kubeconfig, kube_emulator::kubeconfig_yaml(emulator_url))?;
        let log = std::fs::File::create(dir.join("operator.log"))?;
        let http = free_port()?;
        let child = Command::new(bin)
            .args([
                "run",
                "--cluster-name",
                "bench",
                "--leader-election",
                "false",
            ])
            .args(["--concurrency", &concurrency.to_string()])
            .args(["--resync", &format!("{}ms", resync.as_millis())])
            .args(["--metrics-addr", &http.to_string(), "--log-format", "json"])
            .env("KUBECONFIG", &kubeconfig)
            .env("RUST_LOG", "warn")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "bench")
            .env("AWS_SECRET_ACCESS_KEY", "bench")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("failed to start {}: {e}", bin.display()))?;
        Ok(Self { child, http, dir })
    }

    /// Waits until `/readyz` answers 200 (caches synced).
    pub async fn wait_ready(&mut self, timeout: Duration) -> BenchResult<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(
                    format!("the operator exited early ({status}): {}", self.log_tail()).into(),
                );
            }
            let addr = self.http;
            if tokio::task::spawn_blocking(move || http_status(addr, "/readyz")).await? == 200 {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the operator was not ready within {timeout:?}: {}",
                    self.log_tail()
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Peak and current resident memory, from `/proc/<pid>/status`.
    pub fn memory(&self) -> BenchResult<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kib| kib.parse().ok())
                .unwrap_or(0)
        };
        Ok(Memory {
            peak_kib: field("VmHWM:"),
            current_kib: field("VmRSS:"),
        })
    }

    /// CPU time (user and system) the operator used so far, from `/proc/<pid>/stat`
    /// (fields 14 and 15, in clock ticks of 1/100 s, the Linux `USER_HZ`).
    pub fn cpu(&self) -> BenchResult<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        // The command name (field 2) may hold spaces; the fields after it do not.
        let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<u64> = after_name
            .split_whitespace()
            .map(|field| field.parse().unwrap_or(0))
            .collect();
        let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
        Ok(Duration::from_millis(ticks * 10))
    }

    /// The sum of the samples of metric `name` (every label set) on `/metrics`.
    pub async fn metric(&self, name: &str) -> BenchResult<f64> {
        let addr = self.http;
        let response = tokio::task::spawn_blocking(move || http_get(addr, "/metrics"))
            .await?
            .ok_or("the operator's /metrics did not answer")?;
        Ok(response
            .lines()
            .filter(|line| {
                line.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
            })
            .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum())
    }

    /// The last lines of the operator's log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("operator.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }

    /// Sends SIGTERM and waits up to 10 s for a clean exit (then kills); removes the
    /// temporary directory.
    pub async fn stop(mut self) -> BenchResult<()> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                self.child.kill()?;
                self.child.wait()?;
                return Err("the operator did not stop within 10 s of SIGTERM".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_prints_in_mib_with_one_decimal() {
        let memory = Memory {
            peak_kib: 88_678,
            current_kib: 1536,
        };
        assert_eq!(memory.to_string(), "peak RSS 86.6 MiB, RSS now 1.5 MiB");
        assert!((memory.peak_mib() - 86.6).abs() < 0.01);
    }
}
