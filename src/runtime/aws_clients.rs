//! The AWS clients of `tiered run`, built once per process from one SDK configuration
//! (the standard environment: `AWS_REGION`, `AWS_ENDPOINT_URL`, the default credential
//! chain) with the call-counting interceptor and the limit on mutating calls per object
//! ([`crate::runtime::mutations`]), the claim rule of ElastiCache's remembered tags
//! ([`crate::runtime::claims`]), the shared fleet read of each service, and time limits
//! on every call ([`ATTEMPT_TIMEOUT`], [`CALL_TIMEOUT`]).
//! The data-tier controllers take their clients from here; RDS clients of other
//! regions ([`RdsRegions`], for a ManagedDatabase with `spec.region`) are built on
//! first use from the same configuration.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::timeout::TimeoutConfig;

use crate::aws::cache_fleet::CacheFleet;
use crate::aws::fleet::Fleet;
use crate::runtime::aws_calls::CountCalls;
use crate::runtime::claims::RequireReadClaim;
use crate::runtime::metrics::Metrics;
use crate::runtime::mutations::LimitMutations;

/// Longest wait for one attempt of an AWS call. The SDK sets none by default (only a
/// connect timeout): an answer that never comes (a connection dropped by a NAT gateway or
/// a proxy without a reset) held that object's reconcile for ever, since kube-runtime runs
/// one reconcile per object at a time, and held a SIGTERM until the kubelet's SIGKILL,
/// the leader Lease still held. RDS and ElastiCache answer in seconds.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest wait for an AWS call with its retries: under the chart's 30 s
/// `terminationGracePeriodSeconds`, so a pass in flight at SIGTERM ends in time.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(25);

/// `sdk` with [`ATTEMPT_TIMEOUT`] and [`CALL_TIMEOUT`] where it sets no such limit
/// (a limit the configuration sets, or disables, is kept).
fn with_call_timeouts(sdk: &SdkConfig) -> SdkConfig {
    let ours = TimeoutConfig::builder()
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(CALL_TIMEOUT);
    let timeouts = sdk
        .timeout_config()
        .map_or_else(TimeoutConfig::builder, TimeoutConfig::to_builder)
        .take_unset_from(ours)
        .build();
    sdk.to_builder().timeout_config(timeouts).build()
}

/// AWS clients shared by every controller of the process; cheap to clone.
#[derive(Clone, Debug)]
pub struct AwsClients {
    /// Amazon RDS.
    pub rds: aws_sdk_rds::Client,
    /// The one batched DescribeDBInstances per resync window, shared by every
    /// ManagedDatabase controller of the process (one per watched namespace).
    pub rds_fleet: Arc<Fleet>,
    /// Amazon ElastiCache. Its mutating calls are refused in a pass whose ownership
    /// check answered from remembered tags ([`crate::runtime::claims`]).
    pub elasticache: aws_sdk_elasticache::Client,
    /// The replication groups, cache clusters and remembered tags read once per resync
    /// window, shared by every CacheCluster controller of the process.
    pub cache_fleet: Arc<CacheFleet>,
    /// RDS clients per region, for objects in a region other than the operator's.
    pub rds_regions: Arc<RdsRegions>,
}

/// RDS clients by region, each built once, on first use, from the operator's SDK
/// configuration with another region (same credentials, endpoint override,
/// interceptors: calls are counted and each object's mutating calls budgeted alike).
pub struct RdsRegions {
    config: aws_sdk_rds::Config,
    clients: Mutex<BTreeMap<String, aws_sdk_rds::Client>>,
}

impl std::fmt::Debug for RdsRegions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RdsRegions")
            .field("home", &self.home())
            .finish_non_exhaustive()
    }
}

impl RdsRegions {
    /// Clients like the one `config` builds, in any region.
    pub fn new(config: aws_sdk_rds::Config) -> Self {
        Self {
            config,
            clients: Mutex::new(BTreeMap::new()),
        }
    }

    /// The operator's own region, if the configuration names one.
    pub fn home(&self) -> Option<&str> {
        self.config
            .region()
            .map(aws_sdk_rds::config::Region::as_ref)
    }

    /// The RDS client of `region`.
    pub fn client(&self, region: &str) -> aws_sdk_rds::Client {
        let build = || {
            let config = self
                .config
                .to_builder()
                .region(aws_sdk_rds::config::Region::new(region.to_owned()))
                .build();
            aws_sdk_rds::Client::from_conf(config)
        };
        // A poisoned lock only means another thread panicked while inserting: the map
        // holds whole clients, so it is still sound to use.
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        clients
            .entry(region.to_owned())
            .or_insert_with(build)
            .clone()
    }
}

impl AwsClients {
    /// Clients from `sdk`, counting calls into `metrics`; the fleet of `cluster` is
    /// re-read at most once per `resync`.
    pub fn new(sdk: &SdkConfig, metrics: &Arc<Metrics>, cluster: &str, resync: Duration) -> Self {
        let sdk = &with_call_timeouts(sdk);
        let rds_config = aws_sdk_rds::config::Builder::from(sdk)
            .interceptor(CountCalls::new(Arc::clone(metrics)))
            .interceptor(LimitMutations)
            .build();
        // RequireReadClaim before LimitMutations: a call it refuses is never sent, so it
        // must not count against the object's budget.
        let elasticache_config = aws_sdk_elasticache::config::Builder::from(sdk)
            .interceptor(RequireReadClaim)
            .interceptor(CountCalls::new(Arc::clone(metrics)))
            .interceptor(LimitMutations)
            .build();
        Self {
            rds_regions: Arc::new(RdsRegions::new(rds_config.clone())),
            rds: aws_sdk_rds::Client::from_conf(rds_config),
            rds_fleet: Arc::new(Fleet::new(cluster, resync)),
            elasticache: aws_sdk_elasticache::Client::from_conf(elasticache_config),
            cache_fleet: Arc::new(CacheFleet::new(resync)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use aws_config::{BehaviorVersion, Region};

    /// An SDK configuration whose only timeouts are `timeouts`.
    fn sdk_with(timeouts: TimeoutConfig) -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .timeout_config(timeouts)
            .build()
    }

    fn clients(sdk: &SdkConfig) -> AwsClients {
        let metrics = Arc::new(Metrics::new());
        AwsClients::new(sdk, &metrics, "test", Duration::from_mins(5))
    }

    #[test]
    fn every_client_limits_a_call_and_each_attempt_when_the_environment_does_not() {
        // What `aws_config::defaults` yields: a connect timeout only.
        let sdk = sdk_with(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(3100))
                .build(),
        );
        let clients = clients(&sdk);
        let configs = [
            clients.rds.config().timeout_config().cloned(),
            clients.elasticache.config().timeout_config().cloned(),
            clients
                .rds_regions
                .client("eu-west-1")
                .config()
                .timeout_config()
                .cloned(),
        ];
        for timeouts in configs {
            let timeouts = timeouts.expect("a timeout configuration");
            assert_eq!(timeouts.operation_attempt_timeout(), Some(ATTEMPT_TIMEOUT));
            assert_eq!(timeouts.operation_timeout(), Some(CALL_TIMEOUT));
            assert_eq!(
                timeouts.connect_timeout(),
                Some(Duration::from_millis(3100)),
                "the environment's own limits are kept"
            );
        }
        assert!(
            CALL_TIMEOUT < Duration::from_secs(30),
            "within the chart's grace period"
        );
    }

    #[test]
    fn a_limit_the_configuration_sets_is_kept() {
        let sdk = sdk_with(
            TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_secs(2))
                .build(),
        );
        let timeouts = clients(&sdk)
            .rds
            .config()
            .timeout_config()
            .cloned()
            .unwrap();
        assert_eq!(
            timeouts.operation_attempt_timeout(),
            Some(Duration::from_secs(2))
        );
        assert_eq!(timeouts.operation_timeout(), Some(CALL_TIMEOUT));
    }
}
