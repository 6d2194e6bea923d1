//! `tiered run`: flags (each with a `TIERED_…` environment equivalent) and the start of
//! the operator process in [`crate::process::run`].

use std::net::SocketAddr;
use std::time::Duration;

use super::CliError;
use crate::controllers::tiered_app::build::naming::is_dns1123_subdomain;
use crate::process::leader::{LeaderConfig, default_identity};
use crate::process::run::RunConfig;
use crate::process::telemetry::{self, LogFormat};

/// Arguments of `tiered run`. AWS settings come from the SDK's standard environment
/// (`AWS_REGION`, `AWS_ENDPOINT_URL`, the default credential chain).
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Name of this cluster; part of AWS tags and identifiers, so keep it stable: 1 to
    /// 40 lowercase letters, digits and `-`, starting and ending with a letter or digit.
    #[arg(long, env = "TIERED_CLUSTER_NAME", value_parser = parse_cluster_name)]
    pub cluster_name: String,
    /// Namespaces to watch, comma-separated (all when empty).
    #[arg(long, env = "TIERED_NAMESPACES", value_delimiter = ',', value_parser = parse_namespace_entry)]
    pub namespaces: Vec<String>,
    /// Reconciles running at once, per controller.
    #[arg(long, env = "TIERED_CONCURRENCY", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
    /// Requeue interval of healthy objects: `300`, `300s`, `5m`, `1h`, `1m30s`.
    #[arg(long, env = "TIERED_RESYNC", default_value = "5m", value_parser = parse_duration)]
    pub resync: Duration,
    /// Address of `/metrics`, `/healthz` and `/readyz`: `0.0.0.0:8080`, `[::]:8080`, or
    /// one address such as the pod's IP (`10.0.1.7:8080`, `fd00::7:8080`).
    #[arg(long, env = "TIERED_METRICS_ADDR", default_value = "0.0.0.0:8080", value_parser = parse_metrics_addr)]
    pub metrics_addr: SocketAddr,
    /// Elect a leader on a Lease so that several replicas can run.
    #[arg(long, env = "TIERED_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,
    /// Name of the leader-election Lease: a DNS subdomain (lowercase letters, digits,
    /// `-` and `.`, at most 253 characters).
    #[arg(long, env = "TIERED_LEASE_NAME", default_value = "tiered-operator", value_parser = parse_lease_name)]
    pub lease_name: String,
    /// Namespace of the leader-election Lease (the pod's own namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default", value_parser = parse_namespace)]
    pub lease_namespace: String,
    /// How long a stop (SIGTERM, Ctrl-C, a lost Lease) may wait for running reconciles
    /// and the release of the Lease before the process exits anyway: `20s`, `1m`, more
    /// than 0. Keep it below the pod's `terminationGracePeriodSeconds` (the chart sets it
    /// 5 s below).
    #[arg(long, env = "TIERED_GRACEFUL_SHUTDOWN_TIMEOUT", default_value = "20s", value_parser = parse_duration)]
    pub graceful_shutdown_timeout: Duration,
    /// Log format; JSON unless standard output is a terminal.
    #[arg(long, env = "TIERED_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Namespaces whose objects may adopt existing AWS resources, comma-separated (none
    /// when empty); the resource must also carry the opt-in tag
    /// `tiered.io/adoptable=<namespace>/<name>`.
    #[arg(long, env = "TIERED_ADOPT_NAMESPACES", value_delimiter = ',', value_parser = parse_namespace_entry)]
    pub adopt_namespaces: Vec<String>,
    /// Shard of this process: a Kubernetes label selector (`tiered.io/shard=blue`,
    /// `!tiered.io/shard` for the objects no shard claims); only the TieredApps,
    /// ManagedDatabases and CacheClusters it selects are reconciled. Give each shard
    /// its own `--lease-name`. Every object when empty.
    #[arg(long, env = "TIERED_WATCH_LABEL_SELECTOR")]
    pub watch_label_selector: Option<String>,
    /// Namespace of the cluster DNS pods that the tiers' NetworkPolicies let pods query.
    #[arg(long, env = "TIERED_DNS_NAMESPACE", default_value = "kube-system", value_parser = parse_namespace)]
    pub dns_namespace: String,
    /// Labels of the cluster DNS pods, `key=value` pairs, comma-separated.
    #[arg(long, env = "TIERED_DNS_POD_LABELS", default_value = "k8s-app=kube-dns", value_parser = parse_labels)]
    pub dns_pod_labels: std::collections::BTreeMap<String, String>,
    /// Further DNS server addresses the tiers' pods may query, comma-separated: the
    /// kube-dns Service's ClusterIP (for CNIs that apply egress policy before Service
    /// address translation) and NodeLocal DNSCache's `169.254.20.10`.
    #[arg(long, env = "TIERED_DNS_IPS", value_delimiter = ',')]
    pub dns_ips: Vec<std::net::IpAddr>,
}

/// Parses a namespace name (`--dns-namespace`, `--lease-namespace`): a DNS label (RFC
/// 1123, at most 63 lowercase letters, digits and `-`), the API server's rule for
/// namespace names.
///
/// # Errors
/// The text and the rule, when it is not a namespace name.
pub fn parse_namespace(text: &str) -> Result<String, String> {
    let text = text.trim();
    let valid = is_dns1123_subdomain(text) && text.len() <= 63 && !text.contains('.');
    checked(
        text,
        valid,
        "a namespace name",
        "use 1 to 63 lowercase letters, digits and '-', starting and ending with a letter or digit",
    )
}

/// `text` when `valid`, else the error of a flag's value parser: the text, what it is
/// not (`a namespace name`) and `rule`, what to use instead.
fn checked(text: &str, valid: bool, not_a: &str, rule: &str) -> Result<String, String> {
    if valid {
        Ok(text.to_owned())
    } else {
        Err(format!("{text:?} is not {not_a}: {rule}"))
    }
}

/// Parses `--lease-name`: a DNS subdomain (RFC 1123, at most 253 characters), the API
/// server's rule for Lease names (`ValidateLease` in `k8s.io/kubernetes`
/// `pkg/apis/coordination/validation`). Checked here so that a misspelt name stops the
/// command line at once, not the process after it has connected.
///
/// # Errors
/// The text and the rule, when it is not a Lease name.
pub fn parse_lease_name(text: &str) -> Result<String, String> {
    let text = text.trim();
    checked(
        text,
        is_dns1123_subdomain(text),
        "a Lease name",
        "use at most 253 lowercase letters, digits, '-' and '.', each dot-separated part starting and ending with a letter or digit",
    )
}

/// Parses one entry of a comma-separated namespace list (`--namespaces`,
/// `--adopt-namespaces`): a namespace name, or nothing (`shop,,news,` and the empty
/// list are accepted; empty entries are dropped). A misspelt name would otherwise watch,
/// or allow adoption in, a namespace that cannot exist, silently.
///
/// # Errors
/// As [`parse_namespace`].
pub fn parse_namespace_entry(text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        Ok(String::new())
    } else {
        parse_namespace(text)
    }
}

/// Parses `--dns-pod-labels`: `key=value` pairs, comma-separated, at least one.
pub fn parse_labels(text: &str) -> Result<std::collections::BTreeMap<String, String>, String> {
    let mut labels = std::collections::BTreeMap::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("{pair:?} is not key=value"))?;
        if key.is_empty() || !crate::controllers::tiered_app::build::naming::is_label_value(value) {
            return Err(format!("{pair:?} is not a label (key=value)"));
        }
        labels.insert(key.to_owned(), value.to_owned());
    }
    if labels.is_empty() {
        return Err("give at least one label, e.g. k8s-app=kube-dns".to_owned());
    }
    Ok(labels)
}

/// The longest cluster name: the chart's `clusterName` (`values.schema.json`) allows no
/// more, and the name is part of every AWS identifier tiered makes.
pub const CLUSTER_NAME_MAX: usize = 40;

/// Checks a cluster name (`--cluster-name`): 1 to [`CLUSTER_NAME_MAX`] lowercase letters,
/// digits and `-`, starting and ending with a letter or digit, the rule of the chart's
/// `clusterName`. Refused rather than cleaned: the name goes into the `tiered.io/cluster`
/// tag and every identifier, so an empty one would leave the cluster out of them and a
/// cleaned one would not be the name the user reads in AWS.
///
/// # Errors
/// What is wrong and what to use instead.
pub fn parse_cluster_name(text: &str) -> Result<String, String> {
    let well_formed = !text.is_empty()
        && text.len() <= CLUSTER_NAME_MAX
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !text.starts_with('-')
        && !text.ends_with('-');
    checked(
        text,
        well_formed,
        "a cluster name",
        &format!(
            "use 1 to {CLUSTER_NAME_MAX} lowercase letters, digits and '-', starting and ending with a letter or digit (it is part of AWS identifiers and of the tiered.io/cluster tag)"
        ),
    )
}

/// Parses `300` (seconds) or a `humantime` duration such as `300s`, `5m`, `2h`,
/// `1m30s`, `1500ms`; zero is refused (it would requeue every object at once, forever).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let duration = match text.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => humantime::parse_duration(text)
            .map_err(|e| format!("{text:?} is not a duration like 30s, 5m or 1h: {e}"))?,
    };
    if duration.is_zero() {
        return Err("the duration must be positive".to_owned());
    }
    Ok(duration)
}

/// Parses the metrics address: `IP:PORT` as written for a socket (`0.0.0.0:8080`,
/// `[fd00::7]:8080`), or an IPv6 address without brackets and then `:PORT`
/// (`fd00::7:8080`): what the chart's `$(POD_IP):8080` becomes on an IPv6 cluster, where
/// the pod IP has no brackets. The last `:` always starts the port.
pub fn parse_metrics_addr(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let invalid = || {
        format!("{text:?} is not an address and port like 0.0.0.0:8080, [::]:8080 or fd00::7:8080")
    };
    let (ip, port) = text.rsplit_once(':').ok_or_else(invalid)?;
    let ip: std::net::Ipv6Addr = ip.parse().map_err(|_| invalid())?;
    let port: u16 = port.parse().map_err(|_| invalid())?;
    Ok(SocketAddr::from((ip, port)))
}

impl RunArgs {
    /// The process configuration these flags describe.
    pub fn to_config(&self) -> RunConfig {
        let clean = |list: &[String]| -> Vec<String> {
            list.iter()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        };
        RunConfig {
            cluster_name: self.cluster_name.clone(),
            namespaces: clean(&self.namespaces),
            concurrency: self.concurrency,
            resync: self.resync,
            metrics_addr: self.metrics_addr,
            leader: self.leader_election.then(|| {
                LeaderConfig::new(
                    self.lease_name.clone(),
                    self.lease_namespace.clone(),
                    default_identity(),
                )
            }),
            adopt_namespaces: clean(&self.adopt_namespaces),
            watch_label_selector: self
                .watch_label_selector
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            cluster_dns: crate::runtime::context::ClusterDns {
                namespace: self.dns_namespace.clone(),
                pod_labels: self.dns_pod_labels.clone(),
                ips: self.dns_ips.clone(),
            },
            graceful_shutdown_timeout: self.graceful_shutdown_timeout,
        }
    }
}

/// Runs `tiered run` on a multi-threaded runtime.
pub fn run(args: &RunArgs) -> Result<(), CliError> {
    telemetry::init(args.log_format.unwrap_or_else(LogFormat::detect))
        .map_err(CliError::Telemetry)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    runtime
        .block_on(crate::process::run::run(args.to_config()))
        .map_err(CliError::Run)
}
