//! One shared, batched read of every DB instance this cluster owns, per resync window:
//! DescribeDBInstances, paged with `Marker`, kept for the window and read by every
//! ManagedDatabase's reconcile instead of one Describe each.
//!
//! RDS' DescribeDBInstances filters (`db-instance-id`, `engine`, …) do not include
//! tags, in AWS as in moto, so the `tiered.io/cluster` tag is matched on the `TagList`
//! that each described instance carries.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_rds::types::DbInstance;
use tokio::sync::Mutex;

use crate::aws::errors::{AwsError, not_found_is_none};
use crate::aws::rds_actions::DESCRIBE_DB_INSTANCES;
use crate::aws::tags::CLUSTER;

/// DB instances by identifier.
pub type Instances = HashMap<String, DbInstance>;

/// The cached fleet of one cluster.
#[derive(Debug)]
pub struct Fleet {
    cluster: String,
    window: Duration,
    cache: Mutex<Option<(Instant, Arc<Instances>)>>,
}

impl Fleet {
    /// A fleet of the instances tagged `tiered.io/cluster=<cluster>`, re-read at most
    /// once per `window`.
    pub fn new(cluster: impl Into<String>, window: Duration) -> Self {
        Self {
            cluster: cluster.into(),
            window,
            cache: Mutex::new(None),
        }
    }

    /// The fleet, read now when the cached read is older than the window. Concurrent
    /// callers wait for one read rather than each making their own.
    pub async fn instances(&self, rds: &aws_sdk_rds::Client) -> Result<Arc<Instances>, AwsError> {
        let mut cache = self.cache.lock().await;
        if let Some((taken, instances)) = cache.as_ref()
            && taken.elapsed() < self.window
        {
            return Ok(Arc::clone(instances));
        }
        let instances = Arc::new(describe_cluster_instances(rds, &self.cluster).await?);
        *cache = Some((Instant::now(), Arc::clone(&instances)));
        Ok(instances)
    }

    /// Forgets the cached read; the next caller reads again. Called after every
    /// mutating call, so that a reconcile never acts on what it has just changed.
    pub async fn invalidate(&self) {
        *self.cache.lock().await = None;
    }
}

/// Every DB instance tagged `tiered.io/cluster=<cluster>`, all pages.
pub async fn describe_cluster_instances(
    rds: &aws_sdk_rds::Client,
    cluster: &str,
) -> Result<Instances, AwsError> {
    let mut instances = Instances::new();
    let mut marker: Option<String> = None;
    loop {
        let page = rds
            .describe_db_instances()
            .set_marker(marker.take())
            .max_records(100)
            .send()
            .await
            .map_err(|error| AwsError::from_sdk(DESCRIBE_DB_INSTANCES, error))?;
        for instance in page.db_instances() {
            let ours = instance
                .tag_list()
                .iter()
                .any(|tag| tag.key() == Some(CLUSTER) && tag.value() == Some(cluster));
            if let (true, Some(id)) = (ours, instance.db_instance_identifier()) {
                instances.insert(id.to_owned(), instance.clone());
            }
        }
        match page.marker() {
            Some(next) if !next.is_empty() => marker = Some(next.to_owned()),
            _ => return Ok(instances),
        }
    }
}

/// One DB instance by identifier; `None` when RDS says it does not exist.
pub async fn describe_instance(
    rds: &aws_sdk_rds::Client,
    identifier: &str,
) -> Result<Option<DbInstance>, AwsError> {
    let described = rds
        .describe_db_instances()
        .db_instance_identifier(identifier)
        .send()
        .await
        .map(|output| output.db_instances().first().cloned())
        .map_err(|error| AwsError::from_sdk(DESCRIBE_DB_INSTANCES, error));
    not_found_is_none(described)
}
