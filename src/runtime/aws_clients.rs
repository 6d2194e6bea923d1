//! The AWS clients of `tiered run`, built once per process from one SDK configuration
//! (the standard environment: `AWS_REGION`, `AWS_ENDPOINT_URL`, the default credential
//! chain) with the call-counting interceptor and the limit on mutating calls per object
//! ([`crate::runtime::mutations`]), the claim rule of ElastiCache's remembered tags
//! ([`crate::runtime::claims`]), and the shared fleet read of each service.
//! The data-tier controllers take their clients from here; RDS clients of other
//! regions ([`RdsRegions`], for a ManagedDatabase with `spec.region`) are built on
//! first use from the same configuration.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::SdkConfig;

use crate::aws::cache_fleet::CacheFleet;
use crate::aws::fleet::Fleet;
use crate::runtime::aws_calls::CountCalls;
use crate::runtime::claims::RequireReadClaim;
use crate::runtime::metrics::Metrics;
use crate::runtime::mutations::LimitMutations;

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
