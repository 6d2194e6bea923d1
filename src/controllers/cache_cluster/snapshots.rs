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
//! (`crate::controllers::data_tier::snapshot_calls`, which writes the calls' outline
//! once for both kinds). The shared pure parts are in
//! `crate::controllers::data_tier::snapshots`.

use aws_sdk_elasticache::operation::create_snapshot::builders::CreateSnapshotFluentBuilder;
use aws_sdk_elasticache::types::{ReplicationGroup, Snapshot};

use crate::aws::elasticache_actions::{CREATE_SNAPSHOT, DELETE_SNAPSHOT, DESCRIBE_SNAPSHOTS};
use crate::aws::errors::{AwsError, ErrorKind, sent};
use crate::aws::tags::to_elasticache_tags;
use crate::controllers::data_tier::snapshot_calls::{Recorded, SnapshotCalls, take_next_snapshot};
use crate::controllers::data_tier::snapshots::{
    ListedSnapshot, OF_ANOTHER_RESOURCE, snapshot_identifier,
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

/// `snapshot` as the status of the replication group `id` shows it: in the state
/// [`OF_ANOTHER_RESOURCE`] when ElastiCache took it of another group (its
/// `ReplicationGroupId` is another's) or of a node outside this group (without a
/// `ReplicationGroupId`, a `CacheClusterId` that is not [`is_member_of`] it). Found
/// from outside: a CacheCluster showed someone else's snapshot under the name its
/// request would take as its own.
pub fn as_of_group(mut snapshot: Snapshot, id: &str) -> Snapshot {
    let another = match (snapshot.replication_group_id(), snapshot.cache_cluster_id()) {
        (Some(group), _) => group != id,
        (None, Some(node)) => !is_member_of(node, id),
        (None, None) => false,
    };
    if another {
        snapshot.snapshot_status = Some(OF_ANOTHER_RESOURCE.to_owned());
    }
    snapshot
}

/// Whether `node` is a name ElastiCache gives a member cluster of the replication
/// group `group`: `<group>-NNN` (no cluster mode) or `<group>-NNNN-NNN` (a shard's
/// node), N a digit. A prefix alone is not enough: found from outside, a cluster
/// someone named `<group>-x` passed for a member.
pub fn is_member_of(node: &str, group: &str) -> bool {
    let digits = |part: &str, count: usize| {
        part.len() == count && part.bytes().all(|byte| byte.is_ascii_digit())
    };
    let Some(rest) = node
        .strip_prefix(group)
        .and_then(|rest| rest.strip_prefix('-'))
    else {
        return false;
    };
    match rest.split_once('-') {
        None => digits(rest, 3),
        Some((shard, member)) => digits(shard, 4) && digits(member, 3),
    }
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

/// ElastiCache's calls on manual snapshots, for the shared steps.
impl SnapshotCalls for ElastiCache {
    type Snapshot = Snapshot;
    const NOUN: &'static str = "snapshot";
    const SERVICE: &'static str = "ElastiCache";

    /// DescribeSnapshots by name, one call a name: a snapshot of one node need not
    /// list the group, so a name is the one reliable key.
    async fn describe_snapshots(&self, names: Vec<String>) -> Result<Vec<Snapshot>, AwsError> {
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

    /// ListTagsForResource on the snapshot's ARN; `None` without one.
    async fn snapshot_tags(
        &self,
        snapshot: &Snapshot,
    ) -> Result<Option<Vec<(String, String)>>, AwsError> {
        match snapshot.arn() {
            Some(arn) => Ok(Some(list_tags(&self.elasticache, arn).await?)),
            None => Ok(None),
        }
    }

    async fn send_delete_snapshot(&self, name: &str) -> Result<(), AwsError> {
        let request = self.elasticache.delete_snapshot().snapshot_name(name);
        sent(DELETE_SNAPSHOT, request.send()).await.map(drop)
    }
}

impl ElastiCache {
    /// Takes the snapshots `desired` asks for that ElastiCache does not list yet
    /// (recorded in `report`), each with the group's tags, from the source
    /// [`snapshot_source`] picks; `None` when all are taken and none is still being
    /// taken ([`take_next_snapshot`]). A listed snapshot of another group is shown as
    /// such ([`as_of_group`]).
    pub async fn take_snapshots(
        &self,
        desired: &DesiredGroup,
        group: &ReplicationGroup,
        report: &mut Report,
    ) -> Result<Option<Progress>, AwsError> {
        if desired.snapshots.is_empty() {
            return Ok(None);
        }
        let recorded = Recorded {
            mutations: &mut report.mutations,
            snapshots: &mut report.observed.snapshots,
        };
        let id = desired.id.as_str();
        let create = |name: &str| {
            let source = snapshot_source(id, group);
            let request = self.elasticache.create_snapshot();
            let request = create_snapshot_request(request, desired, &source, name);
            let answer = sent(CREATE_SNAPSHOT, request.send());
            async move { Ok(answer.await?.snapshot) }
        };
        let wanted = (id, desired.snapshots.as_slice());
        let as_listed = |snapshot| as_of_group(snapshot, id);
        take_next_snapshot(self, wanted, as_listed, recorded, create).await
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_elasticache::primitives::DateTime;
    use aws_sdk_elasticache::types::{NodeGroup, NodeGroupMember, NodeSnapshot};

    use super::*;
    use crate::controllers::cache_cluster::desired::tests::desired;
    use crate::controllers::cache_cluster::render_plan::client;
    use crate::controllers::data_tier::snapshots::{listed_progress, snapshot_statuses, to_take};

    fn member(id: &str, role: &str) -> NodeGroupMember {
        NodeGroupMember::builder()
            .cache_cluster_id(id)
            .current_role(role)
            .build()
    }

    #[test]
    fn a_cluster_mode_group_is_snapshotted_whole_and_another_from_a_replica() {
        let clustered = ReplicationGroup::builder().cluster_enabled(true).build();
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
        // No replica: the primary; no roles listed yet: the first member.
        let single = ReplicationGroup::builder()
            .cluster_enabled(false)
            .member_clusters("g-001")
            .build();
        let cases = [
            (clustered, SnapshotSource::Group("g".into())),
            (nodes, SnapshotSource::Node("g-002".into())),
            (single, SnapshotSource::Node("g-001".into())),
        ];
        for (group, expected) in cases {
            assert_eq!(snapshot_source("g", &group), expected, "{group:?}");
        }
    }

    #[test]
    fn a_snapshot_of_another_group_or_node_is_said_and_not_taken_again() {
        let of = |group: Option<&str>, node: Option<&str>| {
            let snapshot = Snapshot::builder()
                .snapshot_name("g-snap-a")
                .snapshot_status("available")
                .set_replication_group_id(group.map(str::to_owned))
                .set_cache_cluster_id(node.map(str::to_owned))
                .build();
            as_of_group(snapshot, "g")
                .snapshot_status()
                .map(str::to_owned)
        };
        let cases = [
            (Some("g"), None, "available"),
            (Some("g"), Some("g-002"), "available"),
            (None, Some("g-001"), "available"),
            (None, None, "available"),
            (Some("other"), None, OF_ANOTHER_RESOURCE),
            (Some("g2"), Some("g2-001"), OF_ANOTHER_RESOURCE),
            (None, Some("g2-001"), OF_ANOTHER_RESOURCE),
            (None, Some("other-001"), OF_ANOTHER_RESOURCE),
            (None, Some("g-0001-002"), "available"),
            (None, Some("g-x"), OF_ANOTHER_RESOURCE),
            (None, Some("g-001-x"), OF_ANOTHER_RESOURCE),
            (None, Some("g-01"), OF_ANOTHER_RESOURCE),
            (None, Some("g-0001-02"), OF_ANOTHER_RESOURCE),
            (None, Some("g-snap-001"), OF_ANOTHER_RESOURCE),
        ];
        for (group, node, expected) in cases {
            assert_eq!(
                of(group, node).as_deref(),
                Some(expected),
                "{group:?} {node:?}"
            );
        }
        let foreign = as_of_group(
            Snapshot::builder()
                .snapshot_name("g-snap-a")
                .snapshot_status("available")
                .replication_group_id("other")
                .build(),
            "g",
        );
        assert!(to_take("g", &["a".to_owned()], std::slice::from_ref(&foreign)).is_empty());
        assert!(matches!(
            listed_progress(std::slice::from_ref(&foreign), ElastiCache::SERVICE),
            Some(Progress::Ready { message })
                if message.contains("another resource") && message.contains("g-snap-a")
        ));
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
