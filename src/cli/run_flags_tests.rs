//! Flag parsing of `tiered run` through the real command line definition: defaults,
//! every flag, duration forms and refusals. (The `TIERED_*` environment equivalents are
//! exercised end to end by `tests/it/operator_binary.rs`, which configures the binary only
//! through them: setting variables in-process needs `unsafe` in edition 2024.)

use std::time::Duration;

use clap::Parser;

use crate::cli::run::{RunArgs, parse_cluster_name, parse_duration};
use crate::cli::{Cli, Command};

fn run_args(args: &[&str]) -> Result<RunArgs, clap::Error> {
    let cli = Cli::try_parse_from(["tiered", "run"].iter().chain(args))?;
    match cli.command {
        Command::Run(args) => Ok(*args),
        other => panic!("parsed as {other:?}"),
    }
}

#[test]
fn run_has_production_defaults() {
    let args = run_args(&["--cluster-name", "prod"]).unwrap();
    assert_eq!(args.cluster_name, "prod");
    assert!(args.namespaces.is_empty(), "all namespaces by default");
    assert_eq!(args.concurrency, 4);
    assert_eq!(args.resync, Duration::from_mins(5));
    assert_eq!(args.metrics_addr.to_string(), "0.0.0.0:8080");
    assert!(args.leader_election);
    assert_eq!(args.lease_name, "tiered-operator");
    assert_eq!(args.lease_namespace, "default");
    let config = args.to_config();
    // Below the chart's terminationGracePeriodSeconds (30 s by default).
    assert_eq!(config.graceful_shutdown_timeout, Duration::from_secs(20));
    let leader = config.leader.unwrap();
    assert_eq!(
        (leader.duration_seconds, leader.renew_deadline_seconds),
        (15, 10)
    );
    let args = run_args(&["--cluster-name=c", "--graceful-shutdown-timeout=1m"]).unwrap();
    assert_eq!(
        args.to_config().graceful_shutdown_timeout,
        Duration::from_mins(1)
    );
}

#[test]
fn every_run_flag_is_parsed_into_the_process_configuration() {
    let args = run_args(&[
        "--cluster-name=c1",
        "--namespaces=shop, news,",
        "--concurrency=8",
        "--resync=1m30s",
        "--metrics-addr=127.0.0.1:9000",
        "--leader-election=false",
        "--adopt-namespaces=legacy",
        "--watch-label-selector= tiered.io/shard=blue ",
    ])
    .unwrap();
    let config = args.to_config();
    assert_eq!(
        config.namespaces,
        ["shop", "news"],
        "trimmed, empties dropped"
    );
    assert_eq!(config.concurrency, 8);
    assert_eq!(config.resync, Duration::from_secs(90));
    assert_eq!(config.metrics_addr.to_string(), "127.0.0.1:9000");
    assert!(config.leader.is_none());
    assert_eq!(config.adopt_namespaces, ["legacy"]);
    assert_eq!(
        config.watch_label_selector.as_deref(),
        Some("tiered.io/shard=blue"),
        "trimmed"
    );
}

#[test]
fn resync_accepts_seconds_and_unit_forms() {
    for (text, seconds) in [
        ("300", 300),
        ("300s", 300),
        ("5m", 300),
        ("1h", 3600),
        ("1m30s", 90),
    ] {
        assert_eq!(
            parse_duration(text),
            Ok(Duration::from_secs(seconds)),
            "{text}"
        );
    }
    assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
    for bad in ["", "0s", "5x", "m", "-1s"] {
        assert!(parse_duration(bad).is_err(), "{bad:?} is refused");
    }
}

#[test]
fn bad_run_flags_are_refused() {
    assert!(run_args(&[]).is_err() || std::env::var_os("TIERED_CLUSTER_NAME").is_some());
    assert!(run_args(&["--cluster-name=c", "--concurrency=0"]).is_err());
    assert!(run_args(&["--cluster-name=c", "--resync=soon"]).is_err());
    assert!(run_args(&["--cluster-name=c", "--metrics-addr=localhost"]).is_err());
}

// `--resync=0` would requeue every healthy app at once, forever.
#[test]
fn a_zero_resync_is_refused() {
    assert!(parse_duration("0").is_err());
    assert!(run_args(&["--cluster-name=c", "--resync=0"]).is_err());
}

// The chart's `metrics.listenOnPodIP` sets `$(POD_IP):<port>`: on an IPv6 cluster the
// pod IP has no brackets, and the address must still parse.
#[test]
fn the_metrics_address_takes_a_pod_ip_of_either_family() {
    use crate::cli::run::parse_metrics_addr;
    for (text, expected) in [
        ("0.0.0.0:8080", "0.0.0.0:8080"),
        ("10.0.1.7:8080", "10.0.1.7:8080"),
        ("[::]:8080", "[::]:8080"),
        ("[fd00::7]:9090", "[fd00::7]:9090"),
        ("fd00::7:8080", "[fd00::7]:8080"),
        ("2600:1f14:abc:1::7:8080", "[2600:1f14:abc:1::7]:8080"),
    ] {
        assert_eq!(
            parse_metrics_addr(text).map(|a| a.to_string()),
            Ok(expected.to_owned()),
            "{text}"
        );
    }
    for bad in [
        "",
        "8080",
        "localhost:8080",
        "10.0.1.7",
        "fd00::7:port",
        "10.0.1.7:70000",
    ] {
        assert!(parse_metrics_addr(bad).is_err(), "{bad:?} is refused");
    }
    let args = run_args(&["--cluster-name=c", "--metrics-addr=fd00::7:8080"]).unwrap();
    assert_eq!(args.to_config().metrics_addr.to_string(), "[fd00::7]:8080");
}

#[test]
fn cluster_dns_defaults_to_coredns_on_eks_and_takes_nodelocal_and_cluster_ip() {
    let default = run_args(&["--cluster-name", "c"]).unwrap().to_config();
    assert_eq!(
        default.cluster_dns,
        crate::runtime::context::ClusterDns::default()
    );
    let config = run_args(&[
        "--cluster-name=c",
        "--dns-namespace=dns",
        "--dns-pod-labels=app.kubernetes.io/name=coredns,tier=dns",
        "--dns-ips=169.254.20.10,10.100.0.10,fd00::a",
    ])
    .unwrap()
    .to_config();
    assert_eq!(config.cluster_dns.namespace, "dns");
    assert_eq!(
        config.cluster_dns.pod_labels["app.kubernetes.io/name"],
        "coredns"
    );
    assert_eq!(config.cluster_dns.pod_labels.len(), 2);
    let ips: Vec<String> = config
        .cluster_dns
        .ips
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(ips, ["169.254.20.10", "10.100.0.10", "fd00::a"]);
    for bad in [
        "--dns-ips=169.254.20.300",
        "--dns-pod-labels=nolabel",
        "--dns-pod-labels=",
        "--dns-namespace=Kube_System",
    ] {
        assert!(run_args(&["--cluster-name=c", bad]).is_err(), "{bad}");
    }
}

/// Found by the outside trial of session 8: `--cluster-name ""` started an operator whose
/// identifiers left the cluster out, and `"ünï"` was cleaned into another name silently.
#[test]
fn a_cluster_name_outside_the_charts_rule_is_refused_naming_the_rule() {
    for good in ["prod", "eu-west-1-prod", "a", &"a".repeat(40)] {
        assert_eq!(parse_cluster_name(good).as_deref(), Ok(good), "{good:?}");
    }
    for bad in [
        "",
        "ünï",
        "Prod",
        "-prod",
        "prod-",
        "prod_eu",
        "pr od",
        &"a".repeat(41),
    ] {
        let error = parse_cluster_name(bad).unwrap_err();
        assert!(
            error.contains("lowercase letters, digits and '-'"),
            "{bad:?}: {error}"
        );
    }
    let error = run_args(&["--cluster-name", ""]).unwrap_err().to_string();
    assert!(error.contains("--cluster-name"), "{error}");
    assert!(error.contains("is not a cluster name"), "{error}");
}

/// Found by the outside trial of session 9: `--namespaces Bad_NS` started an operator
/// that watched a namespace which cannot exist and reconciled nothing, silently; the same
/// for `--adopt-namespaces` and the Lease's namespace.
#[test]
fn a_namespace_that_cannot_exist_is_refused_naming_the_flag() {
    let config = run_args(&[
        "--cluster-name=c",
        "--namespaces= shop,,news-2,",
        "--adopt-namespaces=,legacy",
        "--lease-namespace=tiered-system",
    ])
    .unwrap()
    .to_config();
    assert_eq!(config.namespaces, ["shop", "news-2"]);
    assert_eq!(config.adopt_namespaces, ["legacy"]);
    for (flag, bad) in [
        ("--namespaces", "shop,Bad_NS"),
        ("--namespaces", "shop.eu"),
        ("--adopt-namespaces", "ünï"),
        ("--adopt-namespaces", &"a".repeat(64)),
        ("--lease-namespace", "-tiered"),
    ] {
        let error = run_args(&["--cluster-name=c", &format!("{flag}={bad}")])
            .unwrap_err()
            .to_string();
        assert!(error.contains(flag), "{flag}={bad}: {error}");
        assert!(
            error.contains("is not a namespace name"),
            "{flag}={bad}: {error}"
        );
    }
}

/// Found by the outside trial of session 13: `--lease-name Tiered_Operator` passed the
/// command line and stopped the process only once it had connected and asked for the
/// Lease.
#[test]
fn a_lease_name_that_cannot_exist_is_refused_naming_the_flag() {
    let config = run_args(&["--cluster-name=c", "--lease-name=tiered-blue.shard"])
        .unwrap()
        .to_config();
    assert_eq!(
        config.leader.map(|leader| leader.lease_name).as_deref(),
        Some("tiered-blue.shard")
    );
    for bad in [
        "Tiered_Operator",
        "",
        "-tiered",
        "tiered..x",
        "ünï",
        &"a".repeat(254),
    ] {
        let error = run_args(&["--cluster-name=c", &format!("--lease-name={bad}")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("--lease-name"), "{bad}: {error}");
        assert!(error.contains("is not a Lease name"), "{bad}: {error}");
    }
}
