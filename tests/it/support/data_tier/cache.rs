//! The CacheCluster (ElastiCache) side of [`Kind`]: its specs, moto and mocked-SDK
//! set-up.

use std::collections::BTreeMap;

use aws_sdk_elasticache::Client;
use aws_sdk_elasticache::operation::describe_cache_clusters::DescribeCacheClustersOutput;
use aws_sdk_elasticache::operation::describe_replication_groups::DescribeReplicationGroupsOutput;
use aws_sdk_elasticache::operation::list_tags_for_resource::ListTagsForResourceOutput;
use aws_sdk_elasticache::operation::modify_replication_group::ModifyReplicationGroupOutput;
use aws_sdk_elasticache::types::{
    AutomaticFailoverStatus, Endpoint, MultiAzStatus, NodeGroup, NodeGroupMember, ReplicationGroup,
};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use serde_json::{Value, json};
use tiered::api::CacheClusterStatus;
use tiered::aws::tags::{resource_tags, to_elasticache_tags};
use tiered::controllers::cache_cluster::{ElastiCache, status};
use tiered::controllers::data_tier::Spec;
use tiered::controllers::data_tier::kind::Report;
use tiered::controllers::data_tier::secret::Password;

use super::{Kind, answering_in, failing, mock_owner, time};
use crate::support::fixtures::spec_from;
use crate::support::moto::{MotoServer, elasticache_client, sdk_tags};

const MOCK_ID: &str = "legacy-cache";

/// The kind on `elasticache` without shared reads, allowing adoption in
/// `adoption_namespaces` only (what `Rds::new` makes for the database).
pub fn elasticache_kind(
    elasticache: Client,
    adoption_namespaces: std::collections::BTreeSet<String>,
) -> ElastiCache {
    ElastiCache {
        elasticache,
        fleet: None,
        adoption_namespaces,
        set_pending: tiered::controllers::cache_cluster::elasticache::SetPendingSeen::default(),
    }
}

/// Every replication group in the account.
pub async fn all_groups(ctx: &ElastiCache) -> Vec<ReplicationGroup> {
    ctx.elasticache
        .describe_replication_groups()
        .send()
        .await
        .expect("describe failed")
        .replication_groups()
        .to_vec()
}

/// `MOCK_ID` as ElastiCache reports it when it matches the mock spec, in `status`.
pub fn group(status: &str) -> ReplicationGroup {
    let member = || NodeGroupMember::builder().build();
    let endpoint = |address: &str| Endpoint::builder().address(address).port(6379).build();
    ReplicationGroup::builder()
        .replication_group_id(MOCK_ID)
        .arn(format!(
            "arn:aws:elasticache:us-east-1:123456789012:replicationgroup:{MOCK_ID}"
        ))
        .status(status)
        .engine("valkey")
        .cache_node_type("cache.t4g.small")
        .automatic_failover(AutomaticFailoverStatus::Enabled)
        .multi_az(MultiAzStatus::Enabled)
        .transit_encryption_enabled(true)
        .at_rest_encryption_enabled(true)
        .auth_token_enabled(true)
        .cluster_enabled(false)
        .member_clusters(format!("{MOCK_ID}-001"))
        .node_groups(
            NodeGroup::builder()
                .node_group_id("0001")
                .primary_endpoint(endpoint("master.example"))
                .reader_endpoint(endpoint("replica.example"))
                .node_group_members(member())
                .node_group_members(member())
                .build(),
        )
        .build()
}

/// DescribeReplicationGroups answering `group`.
pub fn described(group: ReplicationGroup) -> DescribeReplicationGroupsOutput {
    DescribeReplicationGroupsOutput::builder()
        .replication_groups(group)
        .build()
}

/// DescribeReplicationGroups answering [`group`] in `status`, every time.
pub fn described_as(status: &'static str) -> Rule {
    mock!(Client::describe_replication_groups).then_output(move || described(group(status)))
}

/// An ElastiCache error answer.
pub fn aws_error(code: &str, message: &str) -> String {
    format!(
        r#"<ErrorResponse xmlns="http://elasticache.amazonaws.com/doc/2015-02-02/"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>req-1</RequestId></ErrorResponse>"#
    )
}

/// ElastiCache's answer to a snapshot name that is taken (`SnapshotAlreadyExistsFault`).
pub fn snapshot_already_exists() -> String {
    aws_error("SnapshotAlreadyExistsFault", "Snapshot already exists")
}

/// ListTagsForResource answering the mock owner's tags.
pub fn ours() -> Rule {
    mock!(Client::list_tags_for_resource).then_output(|| {
        ListTagsForResourceOutput::builder()
            .set_tag_list(Some(to_elasticache_tags(&resource_tags(
                &mock_owner(),
                &BTreeMap::new(),
            ))))
            .build()
    })
}

/// DescribeCacheClusters answering nothing.
pub fn no_member() -> Rule {
    mock!(Client::describe_cache_clusters)
        .then_output(|| DescribeCacheClustersOutput::builder().build())
}

/// DescribeSnapshots answering SnapshotNotFoundFault, every time.
pub fn no_snapshot() -> Rule {
    mock!(Client::describe_snapshots)
        .sequence()
        .http_status(
            404,
            Some(aws_error("SnapshotNotFoundFault", "Snapshot not found")),
        )
        .repeatedly()
        .build()
}

impl Kind for ElastiCache {
    const NAME: &'static str = "cache";
    const OBJECT: &'static str = "shop-cache";
    const TIER_KEY: &'static str = "cache";
    const URL_ENV: &'static str = "REDIS_URL";
    const WAITING_REASON: &'static str = "WaitingForCache";
    const CREATE_ACTION: &'static str = "elasticache:CreateReplicationGroup";
    const DELETE_ACTION: &'static str = "elasticache:DeleteReplicationGroup";
    const COUNTED_CALL: (&'static str, f64) = (
        "tiered_aws_calls_total{service=\"elasticache\",operation=\"CreateReplicationGroup\"}",
        1.0,
    );
    const PORT: i32 = 6379;
    const URL_SCHEME: &'static str = "rediss";
    const ON_THE_WAY: &'static [&'static str] = &["creating"];
    const MOCK_ID: &'static str = MOCK_ID;
    const NOT_FOUND_CODE: &'static str = "ReplicationGroupNotFoundFault";

    fn spec(extra: &Value) -> Spec<Self> {
        spec_from(
            json!({
                "engine": "valkey",
                "engineVersion": "8.0",
                "nodeType": "cache.t4g.micro",
                "replicasPerShard": 2,
                "snapshot": {"retentionDays": 5, "window": "04:00-05:00"},
                "tags": {"team": "news"}
            }),
            extra,
        )
    }

    fn manifest_spec() -> Value {
        json!({
            "engine": "valkey",
            "engineVersion": "8.0",
            "nodeType": "cache.t4g.micro",
            "replicasPerShard": 1,
            "transitEncryption": true,
            "applyImmediately": true,
            "deletionPolicy": "Delete",
            "tags": {"team": "news"}
        })
    }

    fn adopt(id: &str) -> Value {
        json!({"adopt": {"replicationGroupId": id}})
    }

    fn unsupported_change() -> (Value, Value, &'static str) {
        (
            json!({}),
            json!({"atRestEncryption": false}),
            "spec.atRestEncryption",
        )
    }

    fn changed_setting() -> Value {
        json!({"nodeType": "cache.t4g.large"})
    }

    fn setting(group: &ReplicationGroup) -> Option<String> {
        group.cache_node_type().map(str::to_owned)
    }

    fn setting_of_spec() -> Option<String> {
        Some("cache.t4g.micro".to_owned())
    }

    fn adoptable() -> Value {
        json!({})
    }

    fn assert_created_as_specified(created: &ReplicationGroup) {
        assert_eq!(created.engine(), Some("valkey"));
        assert_eq!(created.cache_node_type(), Some("cache.t4g.micro"));
        assert_eq!(
            created.member_clusters().len(),
            3,
            "a primary and 2 replicas"
        );
        assert_eq!(created.transit_encryption_enabled(), Some(true));
        assert_eq!(created.at_rest_encryption_enabled(), Some(true));
        assert_eq!(created.auth_token_enabled(), Some(true));
        assert_eq!(created.snapshot_retention_limit(), Some(5));
        assert_eq!(
            created.automatic_failover(),
            Some(&AutomaticFailoverStatus::Enabled)
        );
    }

    fn assert_connection_data(data: &BTreeMap<String, String>, _url: &url::Url) {
        assert!(!data["authToken"].is_empty());
    }

    fn allow_adoption_in(&mut self, namespaces: std::collections::BTreeSet<String>) {
        self.adoption_namespaces = namespaces;
    }

    fn on(server: &MotoServer) -> Self {
        elasticache_kind(
            elasticache_client(server),
            std::collections::BTreeSet::new(),
        )
    }

    fn credential() -> Password {
        Password::from_secret_value("Not-a-real-token-0123456789#&$".into())
    }

    async fn count(&self) -> usize {
        all_groups(self).await.len()
    }

    async fn create_untagged(&self, id: &str, tags: &[(&str, &str)]) {
        valkey_group(&self.elasticache, id, tags)
            .replication_group_description("legacy")
            .cache_node_type("cache.t4g.micro")
            .auth_token("legacy-token-0123456789")
            .send()
            .await
            .expect("CreateReplicationGroup failed");
    }

    fn status_of(
        report: &Report<Self::Observed>,
        previous: Option<&CacheClusterStatus>,
    ) -> CacheClusterStatus {
        status::compute_status(Some(1), report, None, previous, &time())
    }

    fn aws_status_in(status: &CacheClusterStatus) -> Option<&str> {
        status.aws_status.as_deref()
    }

    fn endpoints_in(status: &CacheClusterStatus) -> (Option<String>, Option<String>) {
        (
            status.endpoint.as_ref().map(|e| e.address.clone()),
            status.reader_endpoint.as_ref().map(|e| e.address.clone()),
        )
    }

    fn mock_spec() -> Spec<Self> {
        spec_from(
            json!({
                "engine": "valkey",
                "engineVersion": "8.0",
                "nodeType": "cache.t4g.small",
                "replicasPerShard": 1,
                "adopt": {"replicationGroupId": MOCK_ID}
            }),
            &json!({}),
        )
    }

    fn forget_adoption(spec: &mut Spec<Self>) {
        spec.adopt = None;
    }

    fn mocked(rules: &[&Rule]) -> Self {
        // The mock spec adopts MOCK_ID, tagged ours already.
        elasticache_kind(
            mock_client!(aws_sdk_elasticache, RuleMode::MatchAny, rules),
            std::collections::BTreeSet::from(["shop".to_owned()]),
        )
    }

    fn described_in(statuses: &[&'static str]) -> Rule {
        answering_in!(Client::describe_replication_groups, statuses, |status| {
            described(group(status))
        })
    }

    fn reads() -> Vec<Rule> {
        vec![ours(), no_member()]
    }

    fn describe_fails(status: u16, code: &str, message: &str) -> Rule {
        failing!(
            Client::describe_replication_groups,
            status,
            aws_error(code, message)
        )
    }

    fn create_fails(status: u16, code: &str, message: &str) -> Rule {
        failing!(
            Client::create_replication_group,
            status,
            aws_error(code, message)
        )
    }

    fn modify() -> Rule {
        mock!(Client::modify_replication_group)
            .then_output(|| ModifyReplicationGroupOutput::builder().build())
    }

    fn mock_endpoints() -> (Option<String>, Option<String>) {
        (
            Some("master.example".to_owned()),
            Some("replica.example".to_owned()),
        )
    }
}

/// The CreateReplicationGroup of a Valkey group `id` with `tags` only, shaped as tiered
/// makes one for `replicasPerShard: 2`: one shard of a primary and two replicas,
/// automatic failover, Multi-AZ, encryption in transit and at rest, snapshots kept 5 days
/// in 04:00-05:00. The description, node type and auth token follow.
pub fn valkey_group(
    elasticache: &Client,
    id: &str,
    tags: &[(&str, &str)],
) -> aws_sdk_elasticache::operation::create_replication_group::builders::CreateReplicationGroupFluentBuilder
{
    elasticache
        .create_replication_group()
        .replication_group_id(id)
        .engine("valkey")
        .replicas_per_node_group(2)
        .automatic_failover_enabled(true)
        .multi_az_enabled(true)
        .transit_encryption_enabled(true)
        .at_rest_encryption_enabled(true)
        .snapshot_retention_limit(5)
        .snapshot_window("04:00-05:00")
        .set_tags(Some(sdk_tags(tags)))
}
