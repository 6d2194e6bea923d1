//! Snapshots on demand of a CacheCluster (issue 13 part 3): each name of
//! `spec.snapshots` becomes one manual ElastiCache snapshot named
//! `<replication group id>-snap-<name>`, taken once: ElastiCache is described before
//! any create (so a restart or a lost response never takes a second one, and
//! SnapshotAlreadyExists counts as taken), and the snapshot carries the group's
//! ownership tags. The source follows the ElastiCache guide ("Making manual backups"):
//! a cluster-mode group is snapshotted by `ReplicationGroupId`, a group without cluster
//! mode by the `CacheClusterId` of one node, a replica when there is one (the primary
//! keeps serving). They follow the deletion policy: kept with `Snapshot` and `Retain`
//! (ElastiCache keeps manual snapshots when the group is deleted), deleted with `Delete`
//! once the group is gone, those this very object took only
//! ([`ElastiCache::delete_requested_snapshots`]). The shared pure parts are in
//! `crate::controllers::data_tier::snapshots`.

use aws_sdk_elasticache::operation::create_snapshot::builders::CreateSnapshotFluentBuilder;
use aws_sdk_elasticache::types::{ReplicationGroup, Snapshot};

use crate::aws::elasticache_actions::{CREATE_SNAPSHOT, DELETE_SNAPSHOT, DESCRIBE_SNAPSHOTS};
use crate::aws::errors::{AwsError, ErrorKind};
use crate::aws::tags::{Owner, to_elasticache_tags};
use crate::controllers::data_tier::snapshots::{
    ListedSnapshot, listed_progress, snapshot_identifier, taken_by, to_take,
};
use crate::controllers::data_tier::status::Progress;

use crate::controllers::cache_cluster::desired::DesiredGroup;
use crate::controllers::cache_cluster::elasticache::{ElastiCache, list_tags};
use crate::controllers::cache_cluster::status::Report;

impl ListedSnapshot for Snapshot {
    fn identifier(&self) -> Option<&str> {
        self.snapshot_name()
    }

    fn state(&self) -> Option<&str> {
        self.snapshot_status()
    }

    fn created_at(&self) -> Option<String> {
        self.node_snapshots()
            .iter()
            .find_map(|node| node.snapshot_create_time())
            .map(ToString::to_string)
    }
}

/// What CreateSnapshot names as the snapshot's source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SnapshotSource {
    /// `ReplicationGroupId`: a cluster-mode group (all its shards).
    Group(String),
    /// `CacheClusterId`: one node of a group without cluster mode.
    Node(String),
}

/// The source of a snapshot of `group` (`id`): the group in cluster mode; else a
/// replica node, else its first node (as ElastiCache lists them); the group when it
/// lists no node.
pub fn snapshot_source(id: &str, group: &ReplicationGroup) -> SnapshotSource {
    if group.cluster_enabled() == Some(true) {
        return SnapshotSource::Group(id.to_owned());
    }
    let members = group
        .node_groups()
        .iter()
        .flat_map(aws_sdk_elasticache::types::NodeGroup::node_group_members);
    let replica = members
        .clone()
        .filter(|member| member.current_role() == Some("replica"))
        .find_map(|member| member.cache_cluster_id());
    replica
        .or_else(|| members.clone().find_map(|member| member.cache_cluster_id()))
        .or_else(|| group.member_clusters().first().map(String::as_str))
        .map_or_else(
            || SnapshotSource::Group(id.to_owned()),
            |node| SnapshotSource::Node(node.to_owned()),
        )
}

/// CreateSnapshot of the snapshot `name` of `desired`'s group from `source`, tagged
/// like the group (the ownership tags and the user's).
pub fn create_snapshot_request(
    builder: CreateSnapshotFluentBuilder,
    desired: &DesiredGroup,
    source: &SnapshotSource,
    name: &str,
) -> CreateSnapshotFluentBuilder {
    let builder = builder
        .snapshot_name(snapshot_identifier(&desired.id, name))
        .set_tags(Some(to_elasticache_tags(&desired.common.tags)));
    match source {
        SnapshotSource::Group(id) => builder.replication_group_id(id),
        SnapshotSource::Node(node) => builder.cache_cluster_id(node),
    }
}

impl ElastiCache {
    /// The snapshots named `names` that ElastiCache lists (DescribeSnapshots by name:
    /// a snapshot of one node need not list the group, so a name is the one reliable
    /// key); none and no call for no names.
    async fn describe_snapshots(&self, names: &[String]) -> Result<Vec<Snapshot>, AwsError> {
        let mut listed = Vec::new();
        for name in names {
            match self
                .elasticache
                .describe_snapshots()
                .snapshot_name(name)
                .send()
                .await
                .map_err(|error| AwsError::from_sdk(DESCRIBE_SNAPSHOTS, error))
            {
                Ok(output) => listed.extend(output.snapshots().iter().cloned()),
                Err(error) if error.kind == ErrorKind::NotFound => {}
                Err(error) => return Err(error),
            }
        }
        Ok(listed)
    }

    /// With `deletionPolicy: Delete`, once the group is gone: deletes the snapshots of
    /// `names` (the spec's requests) that this object took ([`taken_by`], from each
    /// snapshot's tags); one already gone is fine. `Snapshot` and `Retain` keep them.
    ///
    /// # Errors
    /// The first failed describe, tag read or delete.
    pub async fn delete_requested_snapshots(
        &self,
        id: &str,
        names: &[String],
        owner: &Owner,
    ) -> Result<(), AwsError> {
        let names: Vec<String> = names
            .iter()
            .map(|name| snapshot_identifier(id, name))
            .collect();
        for snapshot in self.describe_snapshots(&names).await? {
            let (Some(name), Some(arn)) = (snapshot.snapshot_name(), snapshot.arn()) else {
                continue;
            };
            let tags = list_tags(&self.elasticache, arn).await?;
            let pairs = tags
                .iter()
                .map(|(key, value)| (key.as_str(), value.as_str()));
            if !taken_by(pairs, owner) {
                tracing::info!(snapshot = %name, "left snapshot: not taken by this object");
                continue;
            }
            match self
                .elasticache
                .delete_snapshot()
                .snapshot_name(name)
                .send()
                .await
                .map_err(|error| AwsError::from_sdk(DELETE_SNAPSHOT, error))
            {
                Ok(_) => {
                    tracing::info!(snapshot = %name, "deleted snapshot (deletionPolicy: Delete)");
                }
                Err(error) if error.kind == ErrorKind::NotFound => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// Takes the snapshots `desired` asks for that ElastiCache does not list yet
    /// (recorded in `report`), each with the group's tags; `None` when all are taken
    /// and none is still being taken.
    pub async fn take_snapshots(
        &self,
        desired: &DesiredGroup,
        group: &ReplicationGroup,
        report: &mut Report,
    ) -> Result<Option<Progress>, AwsError> {
        if desired.snapshots.is_empty() {
            return Ok(None);
        }
        let id = &desired.id;
        let names: Vec<String> = desired
            .snapshots
            .iter()
            .map(|name| snapshot_identifier(id, name))
            .collect();
        let listed = self.describe_snapshots(&names).await?;
        let missing = to_take(id, &desired.snapshots, &listed);
        report.observed.snapshots = Some(listed.clone());
        let Some(name) = missing.first() else {
            return Ok(listed_progress(&listed, "ElastiCache"));
        };
        // One at a time: the group is `snapshotting` meanwhile, and the next pass
        // describes again.
        let snapshot = snapshot_identifier(id, name);
        let source = snapshot_source(id, group);
        let result =
            create_snapshot_request(self.elasticache.create_snapshot(), desired, &source, name)
                .send()
                .await;
        report.mutations += 1;
        match result.map_err(|error| AwsError::from_sdk(CREATE_SNAPSHOT, error)) {
            Ok(output) => {
                tracing::info!(id = %id, snapshot = %snapshot, "taking snapshot");
                if let Some(taken) = output.snapshot {
                    report.observed.snapshots = Some([listed, vec![taken]].concat());
                }
            }
            // Taken by an earlier request whose response was lost: the next pass
            // lists it.
            Err(error) if error.kind == ErrorKind::Conflict => {
                tracing::info!(id = %id, snapshot = %snapshot, "snapshot already taken");
            }
            Err(error) => return Err(error),
        }
        Ok(Some(Progress::aws_in_progress(format!(
            "taking snapshot {snapshot}"
        ))))
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_elasticache::primitives::DateTime;
    use aws_sdk_elasticache::types::{NodeGroup, NodeGroupMember, NodeSnapshot};

    use super::*;
    use crate::controllers::cache_cluster::desired::tests::desired;
    use crate::controllers::cache_cluster::render_plan::client;
    use crate::controllers::data_tier::snapshots::snapshot_statuses;

    fn member(id: &str, role: &str) -> NodeGroupMember {
        NodeGroupMember::builder()
            .cache_cluster_id(id)
            .current_role(role)
            .build()
    }

    #[test]
    fn a_cluster_mode_group_is_snapshotted_whole_and_another_from_a_replica() {
        let clustered = ReplicationGroup::builder().cluster_enabled(true).build();
        assert_eq!(
            snapshot_source("g", &clustered),
            SnapshotSource::Group("g".into())
        );
        let nodes = ReplicationGroup::builder()
            .cluster_enabled(false)
            .member_clusters("g-001")
            .member_clusters("g-002")
            .node_groups(
                NodeGroup::builder()
                    .node_group_members(member("g-001", "primary"))
                    .node_group_members(member("g-002", "replica"))
                    .build(),
            )
            .build();
        assert_eq!(
            snapshot_source("g", &nodes),
            SnapshotSource::Node("g-002".into())
        );
        // No replica: the primary; no roles listed yet: the first member.
        let single = ReplicationGroup::builder()
            .cluster_enabled(false)
            .member_clusters("g-001")
            .build();
        assert_eq!(
            snapshot_source("g", &single),
            SnapshotSource::Node("g-001".into())
        );
    }

    #[test]
    fn create_snapshot_names_the_request_tags_it_and_sends_one_source() {
        let mut desired = desired(&serde_json::json!({}));
        desired.common.tags =
            std::collections::BTreeMap::from([("tiered.io/cluster".into(), "prod".into())]);
        let request = create_snapshot_request(
            client().create_snapshot(),
            &desired,
            &SnapshotSource::Node("n-002".into()),
            "before-upgrade",
        );
        let input = request.as_input();
        assert_eq!(
            input.get_snapshot_name().as_deref(),
            Some("test-shop-cache-1234abcd-snap-before-upgrade")
        );
        assert_eq!(input.get_cache_cluster_id().as_deref(), Some("n-002"));
        assert_eq!(input.get_replication_group_id(), &None);
        let tags = input.get_tags().clone().unwrap_or_default();
        assert!(
            tags.iter()
                .any(|tag| tag.key() == Some("tiered.io/cluster") && tag.value() == Some("prod"))
        );
        let request = create_snapshot_request(
            client().create_snapshot(),
            &desired,
            &SnapshotSource::Group("g".into()),
            "x",
        );
        assert_eq!(
            request.as_input().get_replication_group_id().as_deref(),
            Some("g")
        );
        assert_eq!(request.as_input().get_cache_cluster_id(), &None);
    }

    #[test]
    fn status_shows_the_elasticache_state_and_the_node_snapshot_time() {
        let listed = [Snapshot::builder()
            .snapshot_name("g-snap-a")
            .snapshot_status("available")
            .node_snapshots(
                NodeSnapshot::builder()
                    .snapshot_create_time(DateTime::from_secs(1_796_007_600))
                    .build(),
            )
            .build()];
        let names = vec!["a".to_owned(), "b".to_owned()];
        let statuses = snapshot_statuses("g", &names, Some(&listed), &[]);
        assert_eq!(statuses[0].state, "available");
        assert_eq!(
            statuses[0].created_at.as_deref(),
            Some("2026-11-30T03:00:00Z")
        );
        assert_eq!(statuses[1].state, "pending");
        assert!(to_take("g", &names, &listed) == vec!["b"]);
        let failed = [Snapshot::builder()
            .snapshot_name("g-snap-a")
            .snapshot_status("failed")
            .build()];
        assert!(matches!(
            listed_progress(&failed, "ElastiCache"),
            Some(Progress::Ready { message }) if message.contains("g-snap-a") && message.contains("ElastiCache")
        ));
    }
}
