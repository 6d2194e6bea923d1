//! Snapshots on demand (issue 13 part 3): each name of `spec.snapshots` becomes one
//! manual DB snapshot with a deterministic identifier (`<instance>-snap-<name>`),
//! taken once: RDS is described before any create (so a restart or a lost response
//! never takes a second one, and AlreadyExists counts as taken), and the snapshot
//! carries the instance's ownership tags. They follow the deletion policy: kept with
//! `Snapshot` and `Retain` (RDS keeps manual snapshots when the instance goes), deleted
//! with `Delete` once the instance is gone, those this very object took only
//! (`crate::controllers::data_tier::snapshot_calls` writes the calls' outline once for
//! both kinds). The pure parts ([`snapshot_identifier`], [`to_take`], [`snapshot_statuses`]) are
//! table-tested below (written once for both kinds in
//! `crate::controllers::data_tier::snapshots`); [`Rds::take_snapshots`] makes the calls.

use aws_sdk_rds::operation::create_db_snapshot::builders::CreateDBSnapshotFluentBuilder;
use aws_sdk_rds::types::{DbInstance, DbSnapshot, Filter, Tag};
use aws_smithy_types::DateTime;

use crate::aws::errors::{AwsError, sent};
use crate::aws::rds_actions::{CREATE_DB_SNAPSHOT, DELETE_DB_SNAPSHOT, DESCRIBE_DB_SNAPSHOTS};
use crate::controllers::data_tier::diff::tag_pairs;
use crate::controllers::data_tier::snapshot_calls::{Recorded, SnapshotCalls, take_next_snapshot};
use crate::controllers::data_tier::snapshots::ListedSnapshot;
use crate::controllers::data_tier::status::Progress;

use crate::controllers::managed_database::desired::DesiredInstance;
use crate::controllers::managed_database::rds::Rds;
use crate::controllers::managed_database::status::Report;

pub use crate::controllers::data_tier::snapshots::{
    OF_ANOTHER_RESOURCE, OF_EARLIER_RESOURCE, PENDING, SNAPSHOT_INFIX, snapshot_identifier,
    snapshot_statuses, to_take,
};

impl ListedSnapshot for DbSnapshot {
    fn identifier(&self) -> Option<&str> {
        self.db_snapshot_identifier()
    }

    fn state(&self) -> Option<&str> {
        self.status()
    }

    fn created_at(&self) -> Option<String> {
        self.snapshot_create_time().map(ToString::to_string)
    }
}

/// CreateDBSnapshot of the snapshot `name` of `desired`'s instance, tagged like the
/// instance (the ownership tags and the user's).
pub fn create_snapshot_request(
    builder: CreateDBSnapshotFluentBuilder,
    desired: &DesiredInstance,
    name: &str,
) -> CreateDBSnapshotFluentBuilder {
    builder
        .db_instance_identifier(&desired.identifier)
        .db_snapshot_identifier(snapshot_identifier(&desired.identifier, name))
        .set_tags(Some(crate::aws::tags::to_rds_tags(&desired.common.tags)))
}

/// `snapshot` as the status of the instance `instance` shows it: in the state
/// [`OF_ANOTHER_RESOURCE`] when RDS took it of another instance (someone else's
/// snapshot under the identifier this object's request would take); in the state
/// [`OF_EARLIER_RESOURCE`] when RDS took it of an earlier instance of the same
/// identifier — its `InstanceCreateTime` (the creation time of the instance it was
/// taken of) is before `created`, this instance's (a second of slack: the two are
/// reported separately). Found by outside reviews: a ManagedDatabase deleted and
/// created again under the same name reported its predecessor's snapshot as its own,
/// and one whose snapshot identifier another instance's snapshot held asked RDS for it
/// again every pass.
pub fn as_of_instance(
    mut snapshot: DbSnapshot,
    instance: &str,
    created: Option<&DateTime>,
) -> DbSnapshot {
    if snapshot
        .db_instance_identifier()
        .is_some_and(|source| source != instance)
    {
        snapshot.status = Some(OF_ANOTHER_RESOURCE.to_owned());
    } else if let (Some(taken_of), Some(created)) = (snapshot.instance_create_time(), created)
        && taken_of.secs() + 1 < created.secs()
    {
        snapshot.status = Some(OF_EARLIER_RESOURCE.to_owned());
    }
    snapshot
}

/// RDS' calls on manual DB snapshots, for the shared steps.
impl SnapshotCalls for Rds {
    type Snapshot = DbSnapshot;
    const NOUN: &'static str = "DB snapshot";
    const SERVICE: &'static str = "RDS";

    /// The manual snapshots among `ids`, in one DescribeDBSnapshots (filter
    /// `db-snapshot-id`), whichever instance they were taken of: an identifier is
    /// unique in the account and Region, so one held by another instance's snapshot is
    /// listed (and shown as such by [`as_of_instance`]) rather than asked for again.
    async fn describe_snapshots(&self, ids: Vec<String>) -> Result<Vec<DbSnapshot>, AwsError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let filter = Filter::builder()
            .name("db-snapshot-id")
            .set_values(Some(ids))
            .build();
        let request = self.rds.describe_db_snapshots();
        let request = request.snapshot_type("manual").filters(filter);
        let output = sent(DESCRIBE_DB_SNAPSHOTS, request.send()).await?;
        Ok(output.db_snapshots().to_vec())
    }

    /// RDS lists a snapshot's tags with it: no call.
    async fn snapshot_tags(
        &self,
        snapshot: &DbSnapshot,
    ) -> Result<Option<Vec<(String, String)>>, AwsError> {
        Ok(Some(tag_pairs(snapshot.tag_list(), Tag::key, Tag::value)))
    }

    async fn send_delete_snapshot(&self, id: &str) -> Result<(), AwsError> {
        let request = self.rds.delete_db_snapshot().db_snapshot_identifier(id);
        sent(DELETE_DB_SNAPSHOT, request.send()).await.map(drop)
    }
}

impl Rds {
    /// Takes the snapshots `desired` asks for that RDS does not list yet (recorded in
    /// `report`), each with the instance's tags; `None` when all are taken and none is
    /// still being taken ([`take_next_snapshot`]). A listed snapshot of another
    /// instance, or of an earlier instance of the same identifier, is shown as such
    /// ([`as_of_instance`]).
    pub async fn take_snapshots(
        &self,
        desired: &DesiredInstance,
        report: &mut Report,
    ) -> Result<Option<Progress>, AwsError> {
        let created = report
            .observed
            .primary
            .as_ref()
            .and_then(DbInstance::instance_create_time)
            .copied();
        let recorded = Recorded {
            mutations: &mut report.mutations,
            snapshots: &mut report.observed.snapshots,
        };
        let wanted = (desired.identifier.as_str(), desired.snapshots.as_slice());
        let as_listed = |snapshot| as_of_instance(snapshot, wanted.0, created.as_ref());
        take_next_snapshot(self, wanted, as_listed, recorded, |name: &str| {
            let request = create_snapshot_request(self.rds.create_db_snapshot(), desired, name);
            let answer = sent(CREATE_DB_SNAPSHOT, request.send());
            async move { Ok(answer.await?.db_snapshot) }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::snapshots::SnapshotStatus;
    use aws_sdk_rds::types::DbSnapshot;

    fn snapshot(id: &str, status: &str) -> DbSnapshot {
        DbSnapshot::builder()
            .db_snapshot_identifier(id)
            .status(status)
            .build()
    }

    /// What the snapshots ask of the pass once they are all listed.
    fn listed_progress(listed: &[DbSnapshot]) -> Option<Progress> {
        crate::controllers::data_tier::snapshots::listed_progress(listed, Rds::SERVICE)
    }

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|&name| name.to_owned()).collect()
    }

    #[test]
    fn a_snapshot_is_named_after_the_instance_and_the_request() {
        assert_eq!(
            snapshot_identifier("prod-shop-db-1a2b", "before-upgrade"),
            "prod-shop-db-1a2b-snap-before-upgrade"
        );
    }

    #[test]
    fn only_snapshots_rds_does_not_list_are_taken() {
        let wanted = names(&["a", "b", "c"]);
        let listed = [snapshot("db-snap-b", "available")];
        assert_eq!(to_take("db", &wanted, &listed), vec!["a", "c"]);
        assert!(to_take("db", &names(&["b"]), &listed).is_empty());
        // Another instance's snapshot of the same name is not ours.
        assert_eq!(
            to_take(
                "db",
                &names(&["b"]),
                &[snapshot("other-snap-b", "available")]
            ),
            vec!["b"]
        );
    }

    #[test]
    fn a_snapshot_of_an_earlier_instance_of_the_same_identifier_is_said_not_shown_as_ours() {
        let created = DateTime::from_secs(1_800_000_000);
        let taken_of = |secs| {
            let mut listed = snapshot("db-snap-a", "available");
            listed.instance_create_time = Some(DateTime::from_secs(secs));
            listed
        };
        let earlier = as_of_instance(taken_of(1_700_000_000), "db", Some(&created));
        assert_eq!(earlier.status(), Some(OF_EARLIER_RESOURCE));
        assert!(matches!(
            listed_progress(std::slice::from_ref(&earlier)),
            Some(Progress::Ready { message }) if message.contains("earlier") && message.contains("db-snap-a")
        ));
        // This instance's own, also when the two times differ by a rounding.
        for secs in [1_800_000_000, 1_799_999_999, 1_800_000_005] {
            assert_eq!(
                as_of_instance(taken_of(secs), "db", Some(&created)).status(),
                Some("available")
            );
        }
        assert_eq!(
            as_of_instance(taken_of(1_700_000_000), "db", None).status(),
            Some("available"),
            "unknown creation time: as listed"
        );
    }

    #[test]
    fn a_snapshot_of_another_instance_under_the_requested_identifier_is_said_and_not_taken_again() {
        let of = |source: &str| {
            let mut listed = snapshot("db-snap-a", "available");
            listed.db_instance_identifier = Some(source.to_owned());
            listed
        };
        let foreign = as_of_instance(of("someone-elses"), "db", None);
        assert_eq!(foreign.status(), Some(OF_ANOTHER_RESOURCE));
        assert!(
            to_take("db", &names(&["a"]), std::slice::from_ref(&foreign)).is_empty(),
            "listed under its identifier: not asked for again"
        );
        assert!(matches!(
            listed_progress(std::slice::from_ref(&foreign)),
            Some(Progress::Ready { message })
                if message.contains("another resource") && message.contains("db-snap-a")
        ));
        assert_eq!(
            as_of_instance(of("db"), "db", None).status(),
            Some("available"),
            "this instance's own"
        );
    }

    #[test]
    fn status_shows_listed_states_and_keeps_the_previous_when_the_pass_did_not_look() {
        let wanted = names(&["a", "b"]);
        let listed = [snapshot("db-snap-a", "creating")];
        let statuses = snapshot_statuses("db", &wanted, Some(&listed), &[]);
        let states: Vec<&str> = statuses.iter().map(|s| s.state.as_str()).collect();
        assert_eq!(states, ["creating", PENDING]);
        assert_eq!(statuses[0].identifier, "db-snap-a");

        let before = vec![SnapshotStatus {
            name: "a".into(),
            identifier: "db-snap-a".into(),
            state: "available".into(),
            created_at: Some("2026-11-30T03:00:00Z".into()),
        }];
        let kept = snapshot_statuses::<DbSnapshot>("db", &wanted, None, &before);
        assert_eq!(kept[0], before[0]);
        assert_eq!(kept[1].state, PENDING);
        // A removed request leaves the status.
        assert!(snapshot_statuses::<DbSnapshot>("db", &[], None, &before).is_empty());
    }

    #[test]
    fn a_snapshot_being_taken_waits_and_a_failed_one_is_said_without_unreadiness() {
        assert!(matches!(
            listed_progress(&[snapshot("db-snap-a", "creating")]),
            Some(Progress::InProgress { .. })
        ));
        assert!(matches!(
            listed_progress(&[snapshot("db-snap-a", "failed")]),
            Some(Progress::Ready { message }) if message.contains("db-snap-a")
        ));
        assert!(listed_progress(&[snapshot("db-snap-a", "available")]).is_none());
    }

    #[test]
    fn render_lists_one_tagged_create_db_snapshot_per_requested_name() {
        use crate::api::snapshots::SnapshotRequest;
        use crate::controllers::managed_database::plan::database_plan;
        use serde_norway::Value;

        let mut spec = crate::controllers::managed_database::desired::tests::spec();
        spec.snapshots = vec![SnapshotRequest {
            name: "before-upgrade".into(),
        }];
        let plan = database_plan(&spec, "prod", "shop", "db").unwrap();
        let call = plan
            .calls
            .iter()
            .find(|call| call["action"] == "rds:CreateDBSnapshot")
            .expect("a CreateDBSnapshot call");
        let parameters = &call["parameters"];
        assert_eq!(
            parameters["DBSnapshotIdentifier"],
            Value::from(snapshot_identifier(&plan.identifier, "before-upgrade"))
        );
        assert_eq!(
            parameters["DBInstanceIdentifier"],
            Value::from(plan.identifier.clone())
        );
        assert_eq!(parameters["Tags"]["tiered.io/cluster"], Value::from("prod"));
        assert_eq!(parameters["Tags"]["team"], Value::from("news"));
    }
}
