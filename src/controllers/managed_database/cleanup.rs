//! RDS' part of the finalizer (the outline is `crate::controllers::data_tier::cleanup`):
//! our read replicas go first, then the primary, with deletion protection turned off
//! in RDS when the spec already has it off (never on an adopted instance: the deletion
//! waits, saying how to release it), and with the final snapshot the outline names. An instance already `deleting` is waited for until it is gone, so the
//! object disappears only once the snapshot exists.

use aws_sdk_rds::types::DbInstance;

use crate::aws::errors::{AwsError, ErrorKind, sent};
use crate::aws::naming::{rds_instance_identifier, rds_replica_of_identifier};
use crate::aws::rds_actions::{DELETE_DB_INSTANCE, MODIFY_DB_INSTANCE};
use crate::aws::tags::{CLUSTER, NAME, NAMESPACE};
use crate::controllers::data_tier::cleanup::final_snapshot_name_held;
use crate::controllers::data_tier::kind::Deletion;

use crate::controllers::managed_database::rds::Rds;
use crate::controllers::managed_database::status::NOUNS;

/// Whether `instance` is one tiered created: its identifier is the deterministic one of
/// the object its own ownership tags name (an adopted instance keeps its own name).
pub fn created_by_tiered(instance: &DbInstance) -> bool {
    let tag = |key: &str| {
        instance
            .tag_list()
            .iter()
            .find(|tag| tag.key() == Some(key))
            .and_then(aws_sdk_rds::types::Tag::value)
    };
    match (tag(CLUSTER), tag(NAMESPACE), tag(NAME)) {
        (Some(cluster), Some(namespace), Some(name)) => {
            let id = instance.db_instance_identifier();
            id == Some(rds_instance_identifier(cluster, namespace, name).as_str())
                || id == Some(rds_replica_of_identifier(cluster, namespace, name).as_str())
        }
        _ => false,
    }
}

impl Rds {
    /// One deletion step of `primary` and its `replicas` (ours), with the final
    /// snapshot `snapshot`.
    pub async fn delete(
        &self,
        primary: &DbInstance,
        replicas: &[DbInstance],
        snapshot: Option<&str>,
    ) -> Result<Deletion, AwsError> {
        let identifier = primary.db_instance_identifier().unwrap_or_default();
        // RDS takes no final snapshot of a read replica: its data is its source's. Only a
        // `spec.replicaOf` instance (its `-rr` identifier) counts: moto names a source on
        // a point-in-time restore too.
        let replica = identifier.ends_with(crate::aws::naming::REPLICA_OF_SUFFIX)
            && crate::controllers::managed_database::replica_of::is_replica(primary);
        let snapshot = snapshot.filter(|_| !replica);
        if !replicas.is_empty() {
            for replica in replicas {
                if replica.db_instance_status() != Some("deleting") {
                    self.delete_replica(replica.db_instance_identifier().unwrap_or_default())
                        .await?;
                }
            }
            return Ok(Deletion::Waiting(format!(
                "deleting the read replicas of {identifier} first"
            )));
        }
        if primary.db_instance_status() == Some("deleting") {
            return Ok(Deletion::Waiting(format!(
                "DB instance {identifier} is deleting"
            )));
        }
        if primary.deletion_protection() == Some(true) {
            if !created_by_tiered(primary) {
                // An adopted instance keeps the deletion protection it came with unless
                // the spec turned it off (the reconcile did that, issue 9); tiered
                // never turns it off on its own while deleting.
                return Ok(Deletion::Waiting(format!(
                    "DB instance {identifier} was adopted and has deletion protection on in RDS; tiered does not turn it off while deleting: turn it off in RDS (aws rds modify-db-instance --db-instance-identifier {identifier} --no-deletion-protection --apply-immediately), or set deletionPolicy: Retain"
                )));
            }
            // Created by tiered, and the spec does not hold it (the outline checked):
            // RDS has not caught up with the spec yet.
            let request = self
                .rds
                .modify_db_instance()
                .db_instance_identifier(identifier)
                .deletion_protection(false)
                .apply_immediately(true);
            sent(MODIFY_DB_INSTANCE, request.send()).await?;
        }
        let request = self
            .rds
            .delete_db_instance()
            .db_instance_identifier(identifier)
            .set_final_db_snapshot_identifier(snapshot.map(str::to_owned))
            .skip_final_snapshot(snapshot.is_none())
            .delete_automated_backups(snapshot.is_none());
        let result = sent(DELETE_DB_INSTANCE, request.send()).await;
        match result {
            Ok(_) => Ok(Deletion::Requested),
            // The final snapshot's name exists: an earlier attempt got through (an SDK
            // retry after a lost answer) and the instance is on its way, or the name is
            // held by a snapshot this deletion did not take.
            Err(error) if error.kind == ErrorKind::Conflict => {
                let now = crate::aws::fleet::describe_instance(&self.rds, identifier).await?;
                match now.as_ref().and_then(DbInstance::db_instance_status) {
                    Some("deleting") | None => Ok(Deletion::Waiting(format!(
                        "DB instance {identifier} is deleting"
                    ))),
                    Some(_) => Err(final_snapshot_name_held(error, NOUNS, snapshot)),
                }
            }
            Err(error) => Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::tags::{Owner, resource_tags, to_rds_tags};

    fn tagged(id: &str) -> DbInstance {
        let owner = Owner {
            cluster: "prod".into(),
            namespace: "shop".into(),
            name: "db".into(),
            uid: "u".into(),
        };
        DbInstance::builder()
            .db_instance_identifier(id)
            .set_tag_list(Some(to_rds_tags(&resource_tags(
                &owner,
                &std::collections::BTreeMap::new(),
            ))))
            .build()
    }

    #[test]
    fn an_instance_is_tiereds_own_when_its_name_is_the_one_its_tags_give() {
        assert!(created_by_tiered(&tagged(&rds_instance_identifier(
            "prod", "shop", "db"
        ))));
        assert!(!created_by_tiered(&tagged("legacy-db")), "adopted");
        assert!(
            created_by_tiered(&tagged(&rds_replica_of_identifier("prod", "shop", "db"))),
            "a replica tiered created"
        );
        assert!(!created_by_tiered(
            &DbInstance::builder().db_instance_identifier("x").build()
        ));
    }
}
