//! Issue 13 part 2: a ManagedDatabase restored from a DB snapshot or a point in time of
//! another instance, through the controller of `tiered run` against the emulator and
//! moto_server behind the `aws-faults` proxy: the restore call instead of
//! CreateDBInstance, the ownership tags on the result, the master password set by
//! tiered after the restore (the Secret never claims it before RDS accepted it), and
//! one instance whatever responses get lost (both kinds of restore, one body).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::Duration;

use kube::Api;
use serde_json::json;
use tiered::aws::restore_source::RESTORABLE;
use tiered::controllers::managed_database::Rds;

use crate::support::aws_reads::{instance, rds_tags};
use crate::support::data_tier::operator::NS;
use crate::support::faults::{Faulty, aws_id, rules, start};
use crate::support::moto::{delete_instance_by_hand, rds_client};
use crate::support::operator::{assert_invalid, events, eventually, has_event};
use crate::support::restore_sources::{source_instance, take_db_snapshot};

/// Short, so that the in-progress requeue after the password is set (30 s, capped by the
/// resync) does not make the test wait; more passes only give a lost call more chances
/// to be repeated.
const RESYNC: Duration = Duration::from_secs(2);

/// A source instance `source` (someone else's) with the snapshot `snapshot`, both
/// opted in by the account's administrator for the object `restored_by` of [`NS`]
/// (`tiered.io/restorable`, see `restore_isolation`).
async fn source_with_snapshot(f: &Faulty, source: &str, snapshot: &str, restored_by: &str) {
    let rds = rds_client(&f.moto);
    let opt_in = format!("{NS}/{restored_by}");
    let tags = [(RESTORABLE, opt_in.as_str())];
    source_instance(&rds, source, &tags).await;
    take_db_snapshot(&rds, source, snapshot, &tags).await;
}

/// The tags of the instance `id`.
async fn tags(f: &Faulty, id: &str) -> BTreeMap<String, String> {
    let instance = instance(&rds_client(&f.moto), id)
        .await
        .unwrap_or_else(|| panic!("{id} exists"));
    rds_tags(instance.tag_list())
}

/// Waits until `name` is Ready: after the password is set RDS resets the credentials,
/// so the next look is the in-progress requeue later (30 s, or the resync if shorter),
/// not at once.
async fn ready_after_the_password_is_set(f: &Faulty, name: &str) {
    f.wait_ready_within::<Rds>(name, Duration::from_secs(75))
        .await;
}

/// An operator behind the fault `rules` (seed 7) with the object `restored` created to
/// restore `nightly-1` of the source `legacy-db`; the restored instance's id.
async fn restoring_from_nightly(fault_rules: &[&str]) -> (Faulty, String) {
    let f = start(rules(fault_rules), 7, RESYNC).await;
    source_with_snapshot(&f, "legacy-db", "nightly-1", "restored").await;
    f.create::<Rds>(
        "restored",
        &json!({"restoreFrom": {"dbSnapshotIdentifier": "nightly-1"}}),
    )
    .await;
    (f, aws_id::<Rds>("restored"))
}

#[tokio::test]
async fn a_snapshot_restore_is_owned_and_the_secret_claims_a_password_only_once_rds_took_it() {
    // RDS refuses every ModifyDBInstance at first: the generated password cannot be set.
    let (f, id) = restoring_from_nightly(&["ModifyDBInstance:fail=1"]).await;

    eventually("the restored instance exists", || async {
        f.instances(&id).await == [id.clone()]
    })
    .await;
    eventually(
        "the password was offered to RDS, the Secret has a url",
        || async {
            f.seen("ModifyDBInstance") > 0
                && f.connection("restored")
                    .await
                    .is_some_and(|data| data.contains_key("url"))
        },
    )
    .await;
    let data = f.connection("restored").await.expect("the Secret exists");
    assert!(
        !data.contains_key("password"),
        "no password before RDS accepted it: {:?}",
        data.keys()
    );
    assert!(data.contains_key("pendingPassword"), "{:?}", data.keys());
    let url = url::Url::parse(&data["url"]).expect("a url once there is a host");
    assert_eq!(url.password(), None, "the url claims no password either");
    assert!(!f.is_ready::<Rds>("restored").await, "not Ready before");
    assert_eq!(f.seen("RestoreDBInstanceFromDBSnapshot"), 1);
    assert_eq!(f.seen("CreateDBInstance"), 0, "a restore, not a create");
    let owned = tags(&f, &id).await;
    let tag = |key: &str| owned.get(key).map(String::as_str);
    assert_eq!(tag("tiered.io/name"), Some("restored"), "{owned:?}");
    assert_eq!(tag("team"), Some("news"), "{owned:?}");

    // RDS accepts it: the Secret then carries it, the same one it kept as pending.
    let pending = data["pendingPassword"].clone();
    f.proxy.set_rules(Vec::new());
    ready_after_the_password_is_set(&f, "restored").await;
    let data = f.connection("restored").await.unwrap();
    assert_eq!(data.get("password"), Some(&pending));
    assert!(!data.contains_key("pendingPassword"), "{:?}", data.keys());
    let url = url::Url::parse(&data["url"]).unwrap();
    let in_url = percent_encoding::percent_decode_str(url.password().unwrap())
        .decode_utf8()
        .unwrap();
    assert_eq!(in_url, pending);
    assert_eq!(
        f.reached("ModifyDBInstance"),
        1,
        "the password is set once it goes through"
    );
    assert_eq!(
        f.instances("legacy-db").await,
        ["legacy-db"],
        "source untouched"
    );
    f.op.stop().await;
}

/// A restore whose every response is lost, and the password's ModifyDBInstance's too
/// (AWS acted, the client saw a 500): the restore call `action` for the object `name`
/// restoring `restore_from` (its source opted in for it), sent at most `at_most` times.
struct LostRestore {
    action: &'static str,
    seed: u64,
    name: &'static str,
    restore_from: serde_json::Value,
    at_most: usize,
}

/// Issue 13 part 2 with issue 10 part 3: one instance, restored (never created), owned,
/// Ready with the password in its Secret, and no more mutating calls once converged.
async fn a_restore_with_every_response_lost_makes_one_instance(case: LostRestore) {
    let lose = [
        format!("{}:lose=1", case.action),
        "ModifyDBInstance:lose=1".into(),
    ];
    let lose = lose.each_ref().map(String::as_str);
    let f = start(rules(&lose), case.seed, RESYNC).await;
    source_with_snapshot(&f, "legacy-db", "nightly-1", case.name).await;
    f.create::<Rds>(case.name, &json!({ "restoreFrom": case.restore_from }))
        .await;
    let id = aws_id::<Rds>(case.name);
    eventually(
        "the restored instance exists and its password was offered",
        || async {
            f.instances(&id).await == [id.clone()]
                && f.proxy.calls().count("ModifyDBInstance", &id) > 0
        },
    )
    .await;
    f.proxy.set_rules(Vec::new());
    ready_after_the_password_is_set(&f, case.name).await;
    assert_eq!(
        f.instances(&id).await,
        std::slice::from_ref(&id),
        "one instance"
    );
    // (Any resource: a point-in-time restore names its target in no field the proxy
    // reads as the resource.)
    let restores = f.reached(case.action);
    assert!(
        (1..=case.at_most).contains(&restores),
        "a lost restore is described, not repeated: {}",
        f.figures::<Rds>(case.name)
    );
    assert_eq!(f.seen("CreateDBInstance"), 0, "a restore, not a create");
    let owned = tags(&f, &id).await;
    assert_eq!(
        owned.get("tiered.io/name").map(String::as_str),
        Some(case.name),
        "the restore does not copy the source's tags in place of ours: {owned:?}"
    );
    let data = f.connection(case.name).await.unwrap();
    assert!(data.contains_key("password") && !data.contains_key("pendingPassword"));
    f.assert_quiet(RESYNC * 3, "the restored instance").await;
    f.op.stop().await;
}

#[tokio::test]
async fn a_snapshot_restore_with_every_response_lost_makes_one_instance() {
    a_restore_with_every_response_lost_makes_one_instance(LostRestore {
        action: "RestoreDBInstanceFromDBSnapshot",
        seed: 5,
        name: "restored",
        restore_from: json!({"dbSnapshotIdentifier": "nightly-1"}),
        at_most: 1,
    })
    .await;
}

#[tokio::test]
async fn a_point_in_time_restore_with_every_response_lost_makes_one_instance() {
    a_restore_with_every_response_lost_makes_one_instance(LostRestore {
        action: "RestoreDBInstanceToPointInTime",
        seed: 3,
        name: "pitr",
        restore_from: json!({"sourceDBInstanceIdentifier": "legacy-db", "useLatestRestorableTime": true}),
        // RDS may see a second call, refused as existing (then described).
        at_most: 2,
    })
    .await;
}

/// The restore source is creation-only (issue 13 part 2): the CRD's CEL rules, as the
/// emulator evaluates them like kube-apiserver, refuse changing, removing or adding
/// `spec.restoreFrom` on an existing object, and a source that names neither or both
/// kinds, each with a message saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_restore_source_is_creation_only() {
    use kube::api::{Patch, PatchParams, PostParams};
    use tiered::api::ManagedDatabase;

    let emulator = crate::support::operator::emulator(&[], false).await;
    let client = emulator.client();
    let databases: Api<ManagedDatabase> = Api::namespaced(client, "default");
    let object = |name: &str, extra: serde_json::Value| {
        let mut spec = json!({
            "engine": "postgres",
            "instanceClass": "db.t4g.micro",
            "storage": {"allocatedGiB": 20},
            "databaseName": "app",
            "masterUsername": "app"
        });
        if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
            spec.extend(extra.clone());
        }
        serde_json::from_value::<ManagedDatabase>(json!({
            "apiVersion": "tiered.io/v1alpha1",
            "kind": "ManagedDatabase",
            "metadata": {"name": name, "namespace": "default"},
            "spec": spec
        }))
        .unwrap()
    };
    let refused = assert_invalid::<ManagedDatabase>;
    let patch = |spec: serde_json::Value| Patch::Merge(json!({ "spec": spec }));

    for (from, part) in [
        (json!({}), "exactly one of dbSnapshotIdentifier"),
        (
            json!({"dbSnapshotIdentifier": "s", "sourceDBInstanceIdentifier": "p"}),
            "exactly one of dbSnapshotIdentifier",
        ),
        (
            json!({"sourceDBInstanceIdentifier": "p"}),
            "exactly one of restoreTime and useLatestRestorableTime",
        ),
    ] {
        let invalid = object("bad", json!({ "restoreFrom": from }));
        refused(
            databases.create(&PostParams::default(), &invalid).await,
            part,
        );
    }

    let restored = object(
        "restored",
        json!({"restoreFrom": {"dbSnapshotIdentifier": "nightly-1"}}),
    );
    databases
        .create(&PostParams::default(), &restored)
        .await
        .unwrap();
    let params = PatchParams::default();
    let change_restore_from = |name: &'static str, from: serde_json::Value| {
        let databases = &databases;
        let params = &params;
        async move {
            let result = databases
                .patch(name, params, &patch(json!({ "restoreFrom": from })))
                .await;
            refused(result, "restoreFrom is creation-only");
        }
    };
    change_restore_from("restored", json!({"dbSnapshotIdentifier": "nightly-2"})).await;
    change_restore_from("restored", json!(null)).await;
    // Other fields still change.
    databases
        .patch(
            "restored",
            &params,
            &patch(json!({"instanceClass": "db.t4g.small"})),
        )
        .await
        .unwrap();

    databases
        .create(&PostParams::default(), &object("plain", json!({})))
        .await
        .unwrap();
    change_restore_from("plain", json!({"dbSnapshotIdentifier": "nightly-1"})).await;
}

/// Found by the outside trial of session 17: a restored instance deleted outside tiered
/// was restored again from `restoreFrom`, which gives it the snapshot's password, yet
/// tiered set no password: the object went Ready with a Secret whose password RDS did
/// not have. And with the restore's answer lost, no `Recreated` Event said what
/// happened. Now the Secret keeps the password as pending until RDS took it again.
#[tokio::test]
async fn a_restored_instance_deleted_outside_tiered_is_restored_again_and_gets_its_password_back() {
    let (f, id) = restoring_from_nightly(&["RestoreDBInstanceFromDBSnapshot:lose=1"]).await;
    ready_after_the_password_is_set(&f, "restored").await;
    let password = f.connection("restored").await.unwrap()["password"].clone();
    let (restores, modifies) = (
        f.reached("RestoreDBInstanceFromDBSnapshot"),
        f.reached("ModifyDBInstance"),
    );

    delete_instance_by_hand(&f.moto, &id).await;
    eventually("restored again, and the password offered again", || async {
        f.reached("RestoreDBInstanceFromDBSnapshot") > restores
            && f.reached("ModifyDBInstance") > modifies
    })
    .await;
    ready_after_the_password_is_set(&f, "restored").await;
    let data = f.connection("restored").await.unwrap();
    assert_eq!(
        data.get("password"),
        Some(&password),
        "the same password, set again"
    );
    assert!(!data.contains_key("pendingPassword"), "{:?}", data.keys());
    let events = events(&f.op.client, NS).await;
    assert!(
        has_event(&events, "Warning", "Recreated", &format!("{id} ")),
        "a Recreated Event also after a lost answer: {events:#?}"
    );
    f.op.stop().await;
}
