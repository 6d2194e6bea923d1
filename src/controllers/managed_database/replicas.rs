//! Which DB instances are this object's read replicas, and what each must change to
//! follow its primary. Pure; the calls are in `rds`.
//!
//! A replica is identified by its own identity, never by the primary's
//! `ReadReplicaDBInstanceIdentifiers` alone: that list is only a hint (moto lists a
//! retried id twice and keeps a deleted one, issue 10 part 3), so a replica counts when
//! its identifier is `<primary>-r<n>` and its own tags say it is this object's, once
//! per identifier.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_rds::types::{DbInstance, PendingModifiedValues};

use crate::aws::naming::{rds_replica_identifier, rds_replica_index};
use crate::aws::tags::{Owner, Ownership, rds_ownership};

use crate::controllers::managed_database::desired::DesiredInstance;
use crate::controllers::managed_database::diff::Modification;

/// The identifiers to look for: the deterministic ones of the `wanted` replicas, and
/// any `listed` (by the primary, or a fleet read) that has this primary's replica form;
/// once each, by index.
pub fn replica_candidates<'a>(
    primary: &str,
    wanted: u32,
    listed: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    let mut by_index: BTreeMap<u32, String> = (1..=wanted)
        .map(|index| (index, rds_replica_identifier(primary, index)))
        .collect();
    for id in listed {
        if let Some(index) = rds_replica_index(primary, id) {
            by_index.insert(index, id.to_owned());
        }
    }
    by_index.into_values().collect()
}

/// The replicas of `primary` among `described`: named `<primary>-r<n>`, tagged as
/// `owner`'s, each identifier once (the first description wins), by index.
pub fn our_replicas(primary: &str, described: Vec<DbInstance>, owner: &Owner) -> Vec<DbInstance> {
    let mut seen = BTreeSet::new();
    let mut replicas: Vec<(u32, DbInstance)> = described
        .into_iter()
        .filter_map(|replica| {
            let index = rds_replica_index(primary, replica.db_instance_identifier()?)?;
            let ours = rds_ownership(replica.tag_list(), owner) == Ownership::Ours;
            (ours && seen.insert(index)).then_some((index, replica))
        })
        .collect();
    replicas.sort_by_key(|(index, _)| *index);
    replicas.into_iter().map(|(_, replica)| replica).collect()
}

/// What a replica must change to follow its primary's spec: the instance class and the
/// storage autoscaling ceiling (its tags follow through the shared tag calls); `None`
/// when it follows already (pending values count as done). Source: issue 10 ("after
/// changing `instanceClass` from `db.t3.micro` to `db.t3.small` on a database with one
/// replica, the replica stays micro; tags, storage ceiling and class must follow").
pub fn replica_modification(
    desired: &DesiredInstance,
    replica: &DbInstance,
) -> Option<Modification> {
    let pending = replica.pending_modified_values();
    let class = pending
        .and_then(PendingModifiedValues::db_instance_class)
        .or(replica.db_instance_class());
    let storage = pending
        .and_then(PendingModifiedValues::allocated_storage)
        .or(replica.allocated_storage());
    let change = Modification {
        instance_class: (class != Some(desired.instance_class.as_str()))
            .then(|| desired.instance_class.clone()),
        max_allocated_storage: crate::controllers::managed_database::diff::storage_ceiling_change(
            desired, replica, storage,
        ),
        apply_immediately: desired.common.apply_immediately,
        ..Modification::default()
    };
    (!change.changed_fields().is_empty()).then_some(change)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::tags::{resource_tags, to_rds_tags};
    use crate::controllers::managed_database::desired::tests::desired;

    const PRIMARY: &str = "prod-shop-db-12345678";

    fn owner(name: &str) -> Owner {
        Owner {
            cluster: "prod".into(),
            namespace: "shop".into(),
            name: name.into(),
            uid: "u-1".into(),
        }
    }

    fn replica(id: &str, owner_name: &str) -> DbInstance {
        DbInstance::builder()
            .db_instance_identifier(id)
            .db_instance_class("db.r6g.large")
            .allocated_storage(100)
            .max_allocated_storage(500)
            .set_tag_list(Some(to_rds_tags(&resource_tags(
                &owner(owner_name),
                &BTreeMap::new(),
            ))))
            .build()
    }

    #[test]
    fn candidates_are_the_wanted_ids_and_listed_ones_of_this_primary_once_each() {
        let r1 = format!("{PRIMARY}-r1");
        let r3 = format!("{PRIMARY}-r3");
        let listed = [
            r1.as_str(),
            r1.as_str(),
            r3.as_str(),
            "someone-elses-db",
            "x-r2",
        ];
        assert_eq!(
            replica_candidates(PRIMARY, 2, listed),
            [r1.clone(), format!("{PRIMARY}-r2"), r3]
        );
        assert!(replica_candidates(PRIMARY, 0, []).is_empty());
    }

    /// Issue 10 part 3: moto lists a retried replica twice in the primary's
    /// `ReadReplicaDBInstanceIdentifiers`; counted twice, one replica looked like two
    /// and the "extra" was deleted over and over.
    #[test]
    fn a_replica_described_twice_counts_once_and_only_ours_count() {
        let r1 = format!("{PRIMARY}-r1");
        let r2 = format!("{PRIMARY}-r2");
        let described = vec![
            replica(&r2, "db"),
            replica(&r1, "db"),
            replica(&r1, "db"),
            replica(&format!("{PRIMARY}-r3"), "other"),
            replica("unrelated-r1", "db"),
        ];
        let ours = our_replicas(PRIMARY, described, &owner("db"));
        let ids: Vec<&str> = ours
            .iter()
            .filter_map(DbInstance::db_instance_identifier)
            .collect();
        assert_eq!(ids, [r1.as_str(), r2.as_str()]);
    }

    #[test]
    fn a_replica_follows_the_class_and_the_ceiling_of_its_primary() {
        let wanted = desired();
        let following = replica("r", "db");
        assert_eq!(replica_modification(&wanted, &following), None);

        let mut small = wanted.clone();
        small.instance_class = "db.t3.small".into();
        let change = replica_modification(&small, &following).unwrap();
        assert_eq!(change.changed_fields(), ["instanceClass"]);
        assert_eq!(change.instance_class.as_deref(), Some("db.t3.small"));

        let mut higher = wanted.clone();
        higher.max_allocated_storage = Some(800);
        let change = replica_modification(&higher, &following).unwrap();
        assert_eq!(change.changed_fields(), ["maxAllocatedStorage"]);
        assert_eq!(change.max_allocated_storage, Some(800));

        let mut pending = following.clone();
        pending.pending_modified_values = Some(
            PendingModifiedValues::builder()
                .db_instance_class("db.t3.small")
                .build(),
        );
        assert_eq!(
            replica_modification(&small, &pending),
            None,
            "a pending change is not sent again"
        );
    }
}
