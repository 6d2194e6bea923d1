//! The ManagedDatabase (RDS) side of [`Kind`]: its specs, moto and mocked-SDK set-up.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_rds::Client;
use aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput;
use aws_sdk_rds::operation::modify_db_instance::ModifyDbInstanceOutput;
use aws_sdk_rds::types::{DbInstance, Endpoint};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use serde_json::{Value, json};
use tiered::api::ManagedDatabaseStatus;
use tiered::aws::fleet::Fleet;
use tiered::aws::tags::{resource_tags, to_rds_tags};
use tiered::controllers::data_tier::Spec;
use tiered::controllers::data_tier::kind::Report;
use tiered::controllers::data_tier::secret::Password;
use tiered::controllers::managed_database::{Rds, status};

use super::{Kind, answering_in, failing, mock_owner, time};
use crate::support::fixtures::{CLUSTER, spec_from};
use crate::support::moto::{MotoServer, rds_client, sdk_tags};

const MOCK_ID: &str = "legacy-db";

/// Every DB instance in the account.
pub async fn all_instances(ctx: &Rds) -> Vec<DbInstance> {
    ctx.rds
        .describe_db_instances()
        .send()
        .await
        .expect("describe failed")
        .db_instances()
        .to_vec()
}

/// `MOCK_ID` as RDS reports it when it matches the mock spec, in `status`.
pub fn instance(status: &str) -> DbInstance {
    DbInstance::builder()
        .db_instance_identifier(MOCK_ID)
        .db_instance_arn(format!("arn:aws:rds:us-east-1:123456789012:db:{MOCK_ID}"))
        .db_instance_status(status)
        .engine("postgres")
        .engine_version("16.4")
        .db_instance_class("db.t4g.small")
        .allocated_storage(20)
        .storage_type("gp3")
        .multi_az(false)
        .deletion_protection(false)
        .set_tag_list(Some(to_rds_tags(&resource_tags(
            &mock_owner(),
            &std::collections::BTreeMap::new(),
        ))))
        .endpoint(
            Endpoint::builder()
                .address(format!("{MOCK_ID}.rds.example"))
                .port(5432)
                .build(),
        )
        .build()
}

/// An RDS error answer.
pub fn aws_error(code: &str, message: &str) -> String {
    format!(
        r#"<ErrorResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>req-1</RequestId></ErrorResponse>"#
    )
}

/// DescribeDBInstances answering `instance`.
pub fn described(instance: DbInstance) -> DescribeDbInstancesOutput {
    DescribeDbInstancesOutput::builder()
        .db_instances(instance)
        .build()
}

/// DescribeDBInstances answering [`instance`] in `status`, every time.
pub fn described_as(status: &'static str) -> Rule {
    mock!(Client::describe_db_instances).then_output(move || described(instance(status)))
}

impl Kind for Rds {
    const NAME: &'static str = "db";
    const OBJECT: &'static str = "shop-db";
    const TIER_KEY: &'static str = "database";
    const URL_ENV: &'static str = "DATABASE_URL";
    const WAITING_REASON: &'static str = "WaitingForDatabase";
    const CREATE_ACTION: &'static str = "rds:CreateDBInstance";
    const DELETE_ACTION: &'static str = "rds:DeleteDBInstance";
    const COUNTED_CALL: (&'static str, f64) = (
        "tiered_aws_calls_total{service=\"rds\",operation=\"DescribeDBInstances\"}",
        2.0,
    );
    const PORT: i32 = 5432;
    const URL_SCHEME: &'static str = "postgresql";
    const ON_THE_WAY: &'static [&'static str] = &["creating", "backing-up"];
    const MOCK_ID: &'static str = MOCK_ID;
    const NOT_FOUND_CODE: &'static str = "DBInstanceNotFound";

    fn spec(extra: &Value) -> Spec<Self> {
        spec_from(
            json!({
                "engine": "postgres",
                "engineVersion": "16.4",
                "instanceClass": "db.t4g.micro",
                "storage": {"allocatedGiB": 20, "type": "gp3"},
                "highAvailability": {"multiAZ": true, "readReplicas": 0},
                "databaseName": "newsread",
                "masterUsername": "app",
                "backup": {"retentionDays": 7},
                "tags": {"team": "news"}
            }),
            extra,
        )
    }

    fn manifest_spec() -> Value {
        json!({
            "engine": "postgres",
            "engineVersion": "16.4",
            "instanceClass": "db.t4g.micro",
            "storage": {"allocatedGiB": 20, "type": "gp3"},
            "databaseName": "newsread",
            "masterUsername": "app",
            "backup": {"retentionDays": 7},
            "applyImmediately": true,
            "tags": {"team": "news"}
        })
    }

    fn adopt(id: &str) -> Value {
        json!({"adopt": {"identifier": id}})
    }

    fn unsupported_change() -> (Value, Value, &'static str) {
        // RDS cannot downgrade an engine. (Storage above allocatedGiB is not one: it
        // is a floor, see `database_storage`.)
        (
            json!({"engineVersion": "16.4"}),
            json!({"engineVersion": "15.8"}),
            "spec.engineVersion",
        )
    }

    fn changed_setting() -> Value {
        json!({"instanceClass": "db.t4g.large"})
    }

    fn setting(instance: &DbInstance) -> Option<String> {
        instance.db_instance_class().map(str::to_owned)
    }

    fn setting_of_spec() -> Option<String> {
        Some("db.t4g.micro".to_owned())
    }

    fn adoptable() -> Value {
        json!({"highAvailability": {"multiAZ": false}})
    }

    fn assert_created_as_specified(instance: &DbInstance) {
        assert_eq!(instance.db_instance_class(), Some("db.t4g.micro"));
        assert_eq!(instance.allocated_storage(), Some(20));
        assert_eq!(instance.multi_az(), Some(true));
        assert_eq!(instance.engine(), Some("postgres"));
    }

    fn assert_connection_data(data: &std::collections::BTreeMap<String, String>, url: &url::Url) {
        assert_eq!(data["username"], "app");
        assert_eq!(data["database"], "newsread");
        assert_eq!(data["password"].len(), 32);
        assert_eq!(url.path(), "/newsread");
    }

    fn allow_adoption_in(&mut self, namespaces: std::collections::BTreeSet<String>) {
        self.adoption_namespaces = namespaces;
    }

    fn on(server: &MotoServer) -> Self {
        Self::new(rds_client(server), std::collections::BTreeSet::new())
    }

    /// With the fleet read before the create, so the next reconcile starts from a read
    /// that does not show the instance.
    async fn with_stale_reads(server: &MotoServer) -> Self {
        let mut ctx = Self::on(server);
        let fleet = Arc::new(Fleet::new(CLUSTER, Duration::from_mins(5)));
        fleet.instances(&ctx.rds).await.expect("fleet read");
        ctx.fleet = Some(fleet);
        ctx
    }

    fn credential() -> Password {
        Password::from_secret_value("Not-a-real-secret-0123456789%:#".into())
    }

    async fn count(&self) -> usize {
        all_instances(self).await.len()
    }

    async fn create_untagged(&self, id: &str, tags: &[(&str, &str)]) {
        postgres_instance(&self.rds, id, tags)
            .send()
            .await
            .expect("CreateDBInstance failed");
    }

    fn status_of(
        report: &Report<Self::Observed>,
        previous: Option<&ManagedDatabaseStatus>,
    ) -> ManagedDatabaseStatus {
        status::compute_status(Some(1), report, None, previous, &time())
    }

    fn aws_status_in(status: &ManagedDatabaseStatus) -> Option<&str> {
        status.aws_status.as_deref()
    }

    fn endpoints_in(status: &ManagedDatabaseStatus) -> (Option<String>, Option<String>) {
        (
            status.endpoint.as_ref().map(|e| e.address.clone()),
            status.reader_endpoints.first().map(|e| e.address.clone()),
        )
    }

    fn mock_spec() -> Spec<Self> {
        serde_json::from_value(json!({
            "engine": "postgres",
            "engineVersion": "16.4",
            "instanceClass": "db.t4g.small",
            "storage": {"allocatedGiB": 20, "type": "gp3"},
            "databaseName": "newsread",
            "masterUsername": "app",
            "adopt": {"identifier": MOCK_ID}
        }))
        .expect("valid spec")
    }

    fn forget_adoption(spec: &mut Spec<Self>) {
        spec.adopt = None;
    }

    fn mocked(rules: &[&Rule]) -> Self {
        let rds: Client = mock_client!(aws_sdk_rds, RuleMode::MatchAny, rules);
        // The mock spec adopts MOCK_ID, tagged ours already.
        Self::new(rds, std::collections::BTreeSet::from(["shop".to_owned()]))
    }

    fn described_in(statuses: &[&'static str]) -> Rule {
        answering_in!(Client::describe_db_instances, statuses, |status| described(
            instance(status)
        ))
    }

    fn reads() -> Vec<Rule> {
        Vec::new()
    }

    fn describe_fails(status: u16, code: &str, message: &str) -> Rule {
        failing!(
            Client::describe_db_instances,
            status,
            aws_error(code, message)
        )
    }

    fn create_fails(status: u16, code: &str, message: &str) -> Rule {
        failing!(Client::create_db_instance, status, aws_error(code, message))
    }

    fn modify() -> Rule {
        mock!(Client::modify_db_instance).then_output(|| ModifyDbInstanceOutput::builder().build())
    }

    fn mock_endpoints() -> (Option<String>, Option<String>) {
        (Some(format!("{MOCK_ID}.rds.example")), None)
    }
}

/// The CreateDBInstance of a small PostgreSQL 16.4 instance `id` with `tags` only (as an
/// administrator would make it, matching [`Kind::adoptable`]); more settings can follow.
pub fn postgres_instance(
    rds: &aws_sdk_rds::Client,
    id: &str,
    tags: &[(&str, &str)],
) -> aws_sdk_rds::operation::create_db_instance::builders::CreateDBInstanceFluentBuilder {
    rds.create_db_instance()
        .db_instance_identifier(id)
        .engine("postgres")
        .engine_version("16.4")
        .db_instance_class("db.t4g.micro")
        .allocated_storage(20)
        .master_username("app")
        .master_user_password("legacy-password-1234")
        .set_tags(Some(sdk_tags(tags)))
}
