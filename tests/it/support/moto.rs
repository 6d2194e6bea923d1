//! A private `moto_server` per test (the AWS RDS / ElastiCache APIs), and AWS SDK
//! clients pointed at it.
//!
//! Each [`MotoServer`] is its own process on its own port, so tests share no AWS state
//! and can run in parallel. It is stopped when the value is dropped, also when the test
//! panics; and because it watches a pipe from the test process, it also stops when the
//! test process dies without unwinding (killed, aborted). Do not keep one in a `static`:
//! statics are never dropped (the pipe still ends it when the process exits).

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_rds::config::{Credentials, SharedCredentialsProvider};
use tiered::aws::tags::SdkTag;

use super::tools::{INSTALL_HINT, moto_server_path};

/// The region every test client uses (moto keeps state per region).
pub const REGION: &str = "us-east-1";
/// The account id moto reports in ARNs unless told otherwise.
pub const ACCOUNT_ID: &str = "123456789012";

/// How long `moto_server` may take to listen (it is ready in about 0.6 s on 2 cores).
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a stopping `moto_server` may take before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// What werkzeug prints once it listens; the port follows.
const LISTENING_MARKER: &str = "Running on http://127.0.0.1:";

/// The guard between the test and `moto_server`. It starts the server, and a watcher
/// that blocks reading the guard's stdin (a pipe from the test) and stops the server
/// when that pipe closes: on drop, and when the test process dies in any way. The guard
/// itself exits when the server does, so an early crash shows at once.
/// `$0` is the `moto_server` executable. Port 0: the kernel picks a free port, so
/// parallel tests cannot race for one; werkzeug prints the port it got.
/// (A background job's stdin is /dev/null, hence the pipe is handed over as fd 3.)
const GUARD_SCRIPT: &str = r#"
exec 3<&0
"$0" --host 127.0.0.1 --port 0 3<&- &
moto=$!
{ cat <&3 >/dev/null; kill "$moto" 2>/dev/null; } &
exec 3<&-
wait "$moto"
echo "moto_server exited with status $?" >&2
"#;

/// A running `moto_server` on 127.0.0.1, stopped on drop.
pub struct MotoServer {
    guard: Child,
    /// The pipe the guard watches; dropping it tells the guard to stop the server.
    guard_stdin: Option<ChildStdin>,
    port: u16,
    log: tempfile::NamedTempFile,
}

impl MotoServer {
    /// Starts `moto_server` and waits until it accepts connections.
    ///
    /// # Panics
    /// When `moto_server` is not installed (run `scripts/test.sh`), or does not
    /// listen within 30 s; the message carries its log.
    pub fn start() -> Self {
        let program = moto_server_path();
        let log = tempfile::Builder::new()
            .prefix("moto-server-")
            .suffix(".log")
            .tempfile()
            .expect("failed to create a temporary file for the moto_server log");
        let log_for_child = log.reopen().expect("failed to open the moto_server log");
        let mut guard = Command::new("/bin/sh")
            .arg("-c")
            .arg(GUARD_SCRIPT)
            .arg(&program)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(log_for_child)
            .spawn()
            .unwrap_or_else(|e| panic!("failed to start {}: {e}", program.display()));
        let guard_stdin = guard.stdin.take();
        let mut server = MotoServer {
            guard,
            guard_stdin,
            port: 0,
            log,
        };
        server.port = server.wait_until_listening();
        server
    }

    /// `http://127.0.0.1:<port>`, for an endpoint override.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// What `moto_server` has logged so far (one line per request), for failure messages.
    pub fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = self.log.reopen() {
            // A log that cannot be read only makes a failure message shorter.
            let _ = file.read_to_string(&mut text);
        }
        text
    }

    fn wait_until_listening(&mut self) -> u16 {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(port) = listening_port(&self.log()) {
                let addr = SocketAddr::from(([127, 0, 0, 1], port));
                if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
                    return port;
                }
            }
            if let Ok(Some(status)) = self.guard.try_wait() {
                panic!(
                    "moto_server exited ({status}) before listening; {INSTALL_HINT}\n--- its log:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen within {START_TIMEOUT:?}\n--- its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        // Closing the pipe makes the guard stop moto_server and wait for it.
        drop(self.guard_stdin.take());
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.guard.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Errors here mean the guard is already gone; nothing more can be done in drop.
        let _ = self.guard.kill();
        let _ = self.guard.wait();
    }
}

/// The port in werkzeug's "Running on http://127.0.0.1:<port>" line, once the whole
/// line is there (a port still being written must not be read as a shorter one).
fn listening_port(log: &str) -> Option<u16> {
    let rest = &log[log.find(LISTENING_MARKER)? + LISTENING_MARKER.len()..];
    let end = rest.find(|c: char| !c.is_ascii_digit())?;
    rest[..end].parse().ok()
}

/// AWS SDK configuration for `server`: its endpoint, region us-east-1, static dummy
/// credentials (so no credential chain, no profile files, no IMDS), few and quick
/// retries, short timeouts. Nothing from the environment is read.
pub fn aws_config(server: &MotoServer) -> SdkConfig {
    aws_config_at(&server.endpoint())
}

/// [`aws_config`] for the AWS endpoint `endpoint` (e.g. a fault layer in front of moto).
pub fn aws_config_at(endpoint: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "tiered-tests",
        )))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(10))
                .with_max_backoff(Duration::from_millis(200)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(20))
                .operation_timeout(Duration::from_mins(1))
                .build(),
        )
        .build()
}

/// An RDS client talking to `server`.
pub fn rds_client(server: &MotoServer) -> aws_sdk_rds::Client {
    aws_sdk_rds::Client::new(&aws_config(server))
}

/// Deletes the DB instance `id` in `server` straight in RDS, without a final snapshot,
/// as someone would by hand (not through tiered).
pub async fn delete_instance_by_hand(server: &MotoServer, id: &str) {
    rds_client(server)
        .delete_db_instance()
        .db_instance_identifier(id)
        .skip_final_snapshot(true)
        .send()
        .await
        .unwrap_or_else(|e| panic!("DeleteDBInstance {id}: {e:?}"));
}

/// An ElastiCache client talking to `server`.
pub fn elasticache_client(server: &MotoServer) -> aws_sdk_elasticache::Client {
    aws_sdk_elasticache::Client::new(&aws_config(server))
}

/// The ids (or names) `id` reads from the resources a describe listed, those that have
/// one.
pub fn ids_of<'a, T>(listed: &'a [T], id: impl Fn(&'a T) -> Option<&'a str>) -> Vec<String> {
    listed
        .iter()
        .filter_map(|resource| id(resource).map(str::to_owned))
        .collect()
}

/// `(key, value)` of each AWS tag (RDS and ElastiCache each have their own `Tag`, read
/// through the operator's [`SdkTag`]), in the order given.
pub fn tag_pairs<T: SdkTag>(tags: &[T]) -> Vec<(&str, &str)> {
    tags.iter().filter_map(SdkTag::key_value).collect()
}

/// The AWS tags of `pairs`, in the order given, as either SDK's `Tag` (built through the
/// operator's [`SdkTag`]).
pub fn sdk_tags<T: SdkTag>(pairs: &[(&str, &str)]) -> Vec<T> {
    pairs
        .iter()
        .map(|(key, value)| T::from_key_value(key, value))
        .collect()
}

/// Checks the moto 5.2.5 gap that the cache parameter tests work around with
/// `aws-smithy-mocks`: ElastiCache has no cache parameter groups at all, so
/// CreateCacheParameterGroup fails. An upgrade that adds them fails here (then move that
/// coverage from the mocks to moto).
pub async fn assert_no_cache_parameter_groups(elasticache: &aws_sdk_elasticache::Client) {
    let created = elasticache
        .create_cache_parameter_group()
        .cache_parameter_group_name("tuned-valkey8")
        .cache_parameter_group_family("valkey8")
        .description("a cache group")
        .send()
        .await;
    assert!(
        created.is_err(),
        "moto now has cache parameter groups: {created:?}"
    );
}
