//! RDS' part of the finalizer (the outline is `crate::controllers::data_tier::cleanup`):
//! our read replicas go first, then the primary, with deletion protection turned off
//! in RDS when the spec already has it off, and with the final snapshot the outline
//! names. An instance already `deleting` is waited for until it is gone, so the
//! object disappears only once the snapshot exists.

use aws_sdk_rds::types::DbInstance;

use crate::aws::errors::{AwsError, ErrorKind};
use crate::aws::rds_actions::{DELETE_DB_INSTANCE, MODIFY_DB_INSTANCE};
use crate::controllers::data_tier::kind::Deletion;

use crate::controllers::managed_database::rds::Rds;

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
            // The spec says false (the outline checked); RDS has not caught up yet.
            self.rds
                .modify_db_instance()
                .db_instance_identifier(identifier)
                .deletion_protection(false)
                .apply_immediately(true)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(MODIFY_DB_INSTANCE, e))?;
        }
        let result = self
            .rds
            .delete_db_instance()
            .db_instance_identifier(identifier)
            .set_final_db_snapshot_identifier(snapshot.map(str::to_owned))
            .skip_final_snapshot(snapshot.is_none())
            .delete_automated_backups(snapshot.is_none())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(DELETE_DB_INSTANCE, e));
        match result {
            Ok(_) => Ok(Deletion::Requested),
            // The snapshot exists: an earlier attempt got through and the instance is
            // on its way.
            Err(error) if error.kind == ErrorKind::Conflict => Ok(Deletion::Waiting(format!(
                "DB instance {identifier} is deleting"
            ))),
            Err(error) => Err(error),
        }
    }
}
