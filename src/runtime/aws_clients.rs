//! The AWS clients of `tiered run`, built once per process from one SDK configuration
//! (the standard environment: `AWS_REGION`, `AWS_ENDPOINT_URL`, the default credential
//! chain) with the call-counting interceptor and the limit on mutating calls per object
//! ([`crate::runtime::mutations`]), and the shared fleet read of each service.
//! The data-tier controllers take their clients from here.

use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;

use crate::aws::fleet::Fleet;
use crate::runtime::aws_calls::CountCalls;
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
    /// Amazon ElastiCache. CacheClusters describe their replication group by id, one
    /// call each, so there is no shared read.
    pub elasticache: aws_sdk_elasticache::Client,
}

impl AwsClients {
    /// Clients from `sdk`, counting calls into `metrics`; the fleet of `cluster` is
    /// re-read at most once per `resync`.
    pub fn new(sdk: &SdkConfig, metrics: &Arc<Metrics>, cluster: &str, resync: Duration) -> Self {
        let rds_config = aws_sdk_rds::config::Builder::from(sdk)
            .interceptor(CountCalls::new(Arc::clone(metrics)))
            .interceptor(LimitMutations)
            .build();
        let elasticache_config = aws_sdk_elasticache::config::Builder::from(sdk)
            .interceptor(CountCalls::new(Arc::clone(metrics)))
            .interceptor(LimitMutations)
            .build();
        Self {
            rds: aws_sdk_rds::Client::from_conf(rds_config),
            rds_fleet: Arc::new(Fleet::new(cluster, resync)),
            elasticache: aws_sdk_elasticache::Client::from_conf(elasticache_config),
        }
    }
}
