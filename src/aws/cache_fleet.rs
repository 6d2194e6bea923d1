//! The shared reads of the CacheClusters of one process, per resync window: every
//! replication group (DescribeReplicationGroups, all pages of 100) and every cache
//! cluster (DescribeCacheClusters, all pages of 100: a group's first member reports
//! its engine version, maintenance window, security groups and parameter group), read
//! by every CacheCluster's reconcile instead of one DescribeReplicationGroups and one
//! DescribeCacheClusters each; and the groups' tags as the last ListTagsForResource
//! read them.
//!
//! ElastiCache has no batched tag read (a group's tags are not in its description), so
//! the tags of a group are remembered for [`TAGS_KEPT`] after they were read and
//! answer the ownership check of an idle pass; [`crate::runtime::claims`] refuses any
//! mutating call of a pass whose claim was remembered, and the reconcile reads the
//! tags afresh and runs the pass again. A change (any mutating call of a pass) makes
//! the group, its members and its tags stale: they are read on their own until a fleet
//! read taken after the change ([`crate::aws::fleet::Windowed`]).

use std::collections::HashMap;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use aws_sdk_elasticache::types::{CacheCluster, ReplicationGroup};

use crate::aws::elasticache_actions::{DESCRIBE_CACHE_CLUSTERS, DESCRIBE_REPLICATION_GROUPS};
use crate::aws::errors::{AwsError, sent};
use crate::aws::fleet::{View, Windowed};
use crate::aws::pages::keyed_pages;

/// How long the tags of a group, as read, answer the ownership check of idle passes:
/// tags someone else changed on an idle group are seen (and tiered's put back) within
/// this long; a pass that changes anything reads them afresh first.
pub const TAGS_KEPT: Duration = Duration::from_hours(1);

/// Replication groups by id.
pub type Groups = HashMap<String, ReplicationGroup>;
/// Cache clusters (group members) by id.
pub type Members = HashMap<String, CacheCluster>;

/// Tags as key and value.
pub type TagPairs = Vec<(String, String)>;

/// The shared reads of the CacheClusters.
#[derive(Debug)]
pub struct CacheFleet {
    groups: Windowed<Groups>,
    members: Windowed<Members>,
    tags: std::sync::Mutex<HashMap<String, (Instant, Arc<TagPairs>)>>,
}

impl CacheFleet {
    /// Reads kept for `window`.
    pub fn new(window: Duration) -> Self {
        Self {
            groups: Windowed::new(window),
            members: Windowed::new(window),
            tags: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Every replication group, read now when the kept read is older than the window.
    ///
    /// # Errors
    /// A page's DescribeReplicationGroups failed.
    pub async fn groups(
        &self,
        client: &aws_sdk_elasticache::Client,
    ) -> Result<View<'_, Groups>, AwsError> {
        self.groups.view(|| describe_all_groups(client)).await
    }

    /// Every cache cluster, read now when the kept read is older than the window.
    ///
    /// # Errors
    /// A page's DescribeCacheClusters failed.
    pub async fn members(
        &self,
        client: &aws_sdk_elasticache::Client,
    ) -> Result<View<'_, Members>, AwsError> {
        self.members.view(|| describe_all_members(client)).await
    }

    /// The group `id` was changed now: it, its members and its tags are read on their
    /// own until a fleet read taken after this.
    pub fn mark_stale(&self, id: &str) {
        self.groups.mark_stale(id);
        self.members.mark_stale(id);
        self.forget_tags(id);
    }

    /// The tags of the group `id` as last read, when read less than [`TAGS_KEPT`] ago.
    pub fn remembered_tags(&self, id: &str) -> Option<Arc<TagPairs>> {
        self.tag_memory()
            .get(id)
            .filter(|(read, _)| read.elapsed() < TAGS_KEPT)
            .map(|(_, tags)| Arc::clone(tags))
    }

    /// Remembers `tags`, just read, as the group `id`'s.
    pub fn remember_tags(&self, id: &str, tags: TagPairs) {
        self.tag_memory()
            .insert(id.to_owned(), (Instant::now(), Arc::new(tags)));
    }

    /// Forgets the tags of the group `id`: the next pass reads them.
    pub fn forget_tags(&self, id: &str) {
        self.tag_memory().remove(id);
    }

    fn tag_memory(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Arc<TagPairs>)>> {
        // A poisoned lock only means a panic while inserting: the map is still sound.
        self.tags.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Every replication group of the account and region, all pages of 100.
///
/// # Errors
/// A page's call failed.
pub async fn describe_all_groups(client: &aws_sdk_elasticache::Client) -> Result<Groups, AwsError> {
    let list = |marker| async move {
        let request = client.describe_replication_groups().set_marker(marker);
        let page = sent(DESCRIBE_REPLICATION_GROUPS, request.max_records(100).send()).await?;
        Ok((page.replication_groups.unwrap_or_default(), page.marker))
    };
    keyed_pages(list, ReplicationGroup::replication_group_id).await
}

/// Every cache cluster of the account and region, all pages of 100.
///
/// # Errors
/// A page's call failed.
pub async fn describe_all_members(
    client: &aws_sdk_elasticache::Client,
) -> Result<Members, AwsError> {
    keyed_pages(
        |marker| async move {
            let request = client.describe_cache_clusters().set_marker(marker);
            let page = sent(DESCRIBE_CACHE_CLUSTERS, request.max_records(100).send()).await?;
            Ok((page.cache_clusters.unwrap_or_default(), page.marker))
        },
        CacheCluster::cache_cluster_id,
    )
    .await
}
