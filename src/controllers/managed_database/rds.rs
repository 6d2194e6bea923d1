//! The RDS side of a ManagedDatabase, behind the shared outline's [`DataTier`] trait
//! (wired in the kind's `mod.rs`): describe (from the shared fleet read when it shows
//! the instance settled), tags, create, a new master password, and the convergence
//! that is RDS' own: a minimal ModifyDBInstance (compared against
//! `PendingModifiedValues`, so a pending change is never sent again), then the read
//! replicas. AWS only; what to send comes from the pure `desired` and `diff`.
//!
//! [`DataTier`]: crate::controllers::data_tier::DataTier

use std::collections::BTreeSet;
use std::sync::Arc;

use aws_sdk_rds::types::{DbInstance, Filter, PendingModifiedValues, Tag};

use crate::api::ManagedDatabaseSpec;
use crate::aws::errors::{AwsError, ErrorKind, sent};
use crate::aws::fleet::{Fleet, describe_instance};
use crate::aws::naming::{rds_replica_identifier, rds_replica_index};
use crate::aws::rds_actions::DESCRIBE_DB_INSTANCES;
use crate::aws::rds_actions::{
    CREATE_DB_INSTANCE, CREATE_DB_INSTANCE_READ_REPLICA, DELETE_DB_INSTANCE, MODIFY_DB_INSTANCE,
};
use crate::controllers::data_tier::diff::tag_pairs;
use crate::controllers::data_tier::error::ConvergeError;
use crate::controllers::data_tier::kind::Target;
use crate::controllers::data_tier::secret::Password;
use crate::controllers::data_tier::status::{Phase, Progress, status_progress};
use crate::controllers::data_tier::tags::{tag_calls, write_tags};
use crate::runtime::aws_clients::RdsRegions;

use crate::controllers::managed_database::desired::{
    DesiredInstance, create_instance_request, create_replica_request,
};
use crate::controllers::managed_database::diff::{Modification, diff, storage_full_modification};
use crate::controllers::managed_database::replica_of::is_replica;
use crate::controllers::managed_database::replicas::{
    our_replicas, replica_candidates, replica_modification,
};
use crate::controllers::managed_database::status::{Observed, Report};
use crate::controllers::managed_database::status::{STORAGE_FULL, stalled_hint};

/// The RDS client and the operator's settings of the ManagedDatabase controller.
#[derive(Clone)]
pub struct Rds {
    /// RDS client.
    pub rds: aws_sdk_rds::Client,
    /// The shared fleet read; `None` describes each instance on its own.
    pub fleet: Option<Arc<Fleet>>,
    /// Namespaces allowed to adopt existing instances; empty allows none.
    pub adoption_namespaces: BTreeSet<String>,
    /// RDS clients of other regions (`spec.region`).
    pub regions: Arc<RdsRegions>,
    /// Reads the ManagedDatabase a replica's `spec.replicaOf.managedDatabase` names;
    /// `None` cannot (such a replica waits).
    pub kube: Option<kube::Client>,
}

impl std::fmt::Debug for Rds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rds")
            .field("rds", &self.rds)
            .field("adoption_namespaces", &self.adoption_namespaces)
            .field("regions", &self.regions)
            .finish_non_exhaustive()
    }
}

tag_calls!(Rds, rds, aws_sdk_rds, rds_actions, to_rds_tags);

/// Whether RDS reports modifications waiting to be applied.
pub fn has_pending_changes(instance: &DbInstance) -> bool {
    instance
        .pending_modified_values()
        .is_some_and(|pending| *pending != PendingModifiedValues::builder().build())
}

impl Rds {
    /// The kind on `rds`, in `rds`'s region and the regions built from its
    /// configuration, without a fleet read, reading no ManagedDatabases.
    pub fn new(rds: aws_sdk_rds::Client, adoption_namespaces: BTreeSet<String>) -> Self {
        Self {
            regions: Arc::new(RdsRegions::new(rds.config().clone())),
            rds,
            fleet: None,
            adoption_namespaces,
            kube: None,
        }
    }

    /// The instance `identifier`: from the fleet read when it shows it settled and
    /// nothing was changed on it since the read, else described on its own.
    pub async fn find(&self, identifier: &str) -> Result<Option<DbInstance>, AwsError> {
        if let Some(fleet) = &self.fleet {
            let view = fleet.view(&self.rds).await?;
            if let Some(instance) = view.read.get(identifier)
                && !view.is_stale(identifier)
                && instance.db_instance_status() == Some("available")
                && !has_pending_changes(instance)
            {
                return Ok(Some(instance.clone()));
            }
        }
        describe_instance(&self.rds, identifier).await
    }

    /// A mutating call was sent for the instance `identifier` (or its replicas): the
    /// fleet read no longer shows them as they are, so they are described on their own
    /// until the next fleet read; the rest of the read stays in use.
    pub fn mark_stale(&self, identifier: &str) {
        if let Some(fleet) = &self.fleet {
            fleet.mark_stale(identifier);
        }
    }

    /// Sends CreateDBInstance for `desired`.
    pub async fn create(
        &self,
        desired: &DesiredInstance,
        password: Option<&Password>,
    ) -> Result<Option<DbInstance>, AwsError> {
        let request = create_instance_request(self.rds.create_db_instance(), desired, password);
        let output = sent(CREATE_DB_INSTANCE, request.send()).await?;
        Ok(output.db_instance)
    }

    /// Sets `password` as the master password of `identifier`, applied immediately.
    pub async fn set_password(
        &self,
        identifier: &str,
        password: &Password,
    ) -> Result<(), AwsError> {
        let request = self
            .rds
            .modify_db_instance()
            .db_instance_identifier(identifier)
            .master_user_password(password.expose())
            .apply_immediately(true);
        sent(MODIFY_DB_INSTANCE, request.send()).await?;
        Ok(())
    }

    /// The primary and our replicas of it in `observed`.
    pub async fn observe(
        &self,
        target: &Target<'_, ManagedDatabaseSpec>,
        primary: &DbInstance,
        observed: &mut Observed,
    ) -> Result<(), ConvergeError> {
        observed.primary = Some(primary.clone());
        observed.replicas = self.observe_replicas(target, primary).await?;
        Ok(())
    }

    /// Our replicas of `primary`, identified by their own tags and deterministic ids
    /// (`replicas`): from the fleet read when it shows them settled, the rest described
    /// in one DescribeDBInstances filtered by identifier.
    async fn observe_replicas(
        &self,
        target: &Target<'_, ManagedDatabaseSpec>,
        primary: &DbInstance,
    ) -> Result<Vec<DbInstance>, AwsError> {
        let identifier = primary.db_instance_identifier().unwrap_or_default();
        let wanted = target
            .spec
            .high_availability
            .as_ref()
            .map_or(0, |ha| u32::try_from(ha.read_replicas).unwrap_or(0));
        let listed = primary
            .read_replica_db_instance_identifiers()
            .iter()
            .map(String::as_str);
        let mut described = Vec::new();
        let view = match &self.fleet {
            // A primary changed since the read: its replicas may have too (created,
            // deleted, modified in its pass), so they are described on their own.
            Some(fleet) => {
                Some(fleet.view(&self.rds).await?).filter(|view| !view.is_stale(identifier))
            }
            None => None,
        };
        let to_describe = if let Some(view) = &view {
            // The fleet holds every instance tagged with this cluster: a replica of ours
            // absent from it does not exist.
            let instances = &view.read;
            let fleet_ids = instances.keys().map(String::as_str);
            let mut unsettled = Vec::new();
            for id in replica_candidates(identifier, wanted, listed.chain(fleet_ids)) {
                match instances.get(&id) {
                    Some(replica)
                        if replica.db_instance_status() == Some("available")
                            && !has_pending_changes(replica) =>
                    {
                        described.push(replica.clone());
                    }
                    Some(_) => unsettled.push(id),
                    None => {}
                }
            }
            unsettled
        } else {
            replica_candidates(identifier, wanted, listed)
        };
        described.extend(self.describe_instances(&to_describe).await?);
        Ok(our_replicas(identifier, described, &target.owner))
    }

    /// The instances among `ids` that exist, in one DescribeDBInstances (filter
    /// `db-instance-id`); none and no call for no ids.
    async fn describe_instances(&self, ids: &[String]) -> Result<Vec<DbInstance>, AwsError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let filter = Filter::builder()
            .name("db-instance-id")
            .set_values(Some(ids.to_vec()))
            .build();
        let request = self.rds.describe_db_instances().filters(filter);
        let output = sent(DESCRIBE_DB_INSTANCES, request.send()).await?;
        Ok(output.db_instances().to_vec())
    }

    /// Sends the one change that brings an available instance closer to `desired`:
    /// owned fields first, then the replicas; `Ready` when nothing differs (saying so
    /// when changes wait for the maintenance window).
    pub async fn converge(
        &self,
        desired: &DesiredInstance,
        primary: &DbInstance,
        report: &mut Report,
    ) -> Result<Progress, ConvergeError> {
        let identifier = &desired.identifier;
        if desired.replica_source.is_some() && is_replica(primary) {
            return self.converge_replica(desired, primary, report).await;
        }
        if let Some(progress) = self.record_promotion(desired, primary, report).await? {
            return Ok(progress);
        }
        if primary.db_instance_status() == Some(STORAGE_FULL) {
            return self.recover_storage(desired, primary, report).await;
        }
        if let Some(mut modification) = diff(desired, primary)? {
            if let Some(stalled) = self
                .upgrade_parameter_group(desired, primary, &mut modification, report)
                .await?
            {
                return Ok(stalled);
            }
            let fields = self.modify(&modification, identifier).await?;
            report.mutations += 1;
            tracing::info!(identifier = %identifier, fields = %fields, "modified DB instance");
            return Ok(Progress::aws_in_progress(format!(
                "modifying DB instance {identifier}: {fields}"
            )));
        }
        if let Some(progress) = self.converge_parameters(desired, primary, report).await? {
            return Ok(progress);
        }
        if let Some(progress) = self.match_replicas(desired, report).await? {
            return Ok(progress);
        }
        if let Some(progress) = self.take_snapshots(desired, report).await? {
            return Ok(progress);
        }
        let message = if has_pending_changes(primary) {
            "changes are pending for the next maintenance window (spec.applyImmediately is false)"
                .to_owned()
        } else {
            String::new()
        };
        Ok(Progress::Ready { message })
    }

    /// An instance out of storage (`storage-full`): sends the storage increase the
    /// spec asks for, alone and at once; Stalled with what to do when it asks for none.
    async fn recover_storage(
        &self,
        desired: &DesiredInstance,
        primary: &DbInstance,
        report: &mut Report,
    ) -> Result<Progress, ConvergeError> {
        let identifier = &desired.identifier;
        let named = format!("DB instance {identifier}");
        let Some(modification) = storage_full_modification(desired, primary) else {
            return Ok(status_progress(
                &named,
                STORAGE_FULL,
                Phase::Stalled,
                stalled_hint(STORAGE_FULL),
            )
            .unwrap_or(Progress::Ready {
                message: String::new(),
            }));
        };
        self.modify(&modification, identifier).await?;
        report.mutations += 1;
        tracing::info!(identifier = %identifier, allocated = desired.allocated_storage, "growing the storage of a storage-full DB instance");
        Ok(Progress::aws_in_progress(format!(
            "{named} is storage-full: growing its storage to {} GiB",
            desired.allocated_storage
        )))
    }

    /// Creates or deletes replicas to match the spec; `None` when they match and all
    /// are available.
    async fn match_replicas(
        &self,
        desired: &DesiredInstance,
        report: &mut Report,
    ) -> Result<Option<Progress>, AwsError> {
        let live: Vec<&DbInstance> = report
            .observed
            .replicas
            .iter()
            .filter(|replica| replica.db_instance_status() != Some("deleting"))
            .collect();
        let wanted = usize::try_from(desired.read_replicas).unwrap_or(usize::MAX);
        if live.len() < wanted {
            let taken: BTreeSet<u32> = live
                .iter()
                .filter_map(|replica| {
                    rds_replica_index(&desired.identifier, replica.db_instance_identifier()?)
                })
                .collect();
            let free = (1..)
                .filter(|index| !taken.contains(index))
                .take(wanted - live.len());
            let mut created = Vec::new();
            for index in free {
                let replica_id = rds_replica_identifier(&desired.identifier, index);
                let request = create_replica_request(
                    self.rds.create_db_instance_read_replica(),
                    desired,
                    &replica_id,
                );
                let result = sent(CREATE_DB_INSTANCE_READ_REPLICA, request.send()).await;
                report.mutations += 1;
                if let Err(error) = result
                    && error.kind != ErrorKind::Conflict
                {
                    return Err(error);
                }
                created.push(replica_id);
            }
            return Ok(Some(Progress::aws_in_progress(format!(
                "creating read replicas {}",
                created.join(", ")
            ))));
        }
        if live.len() > wanted {
            let mut newest_first = live;
            newest_first.sort_by(|a, b| {
                (b.instance_create_time(), b.db_instance_identifier())
                    .cmp(&(a.instance_create_time(), a.db_instance_identifier()))
            });
            let extra = newest_first.len() - wanted;
            let mut deleting = Vec::new();
            let mut gone = Vec::new();
            for replica in newest_first.into_iter().take(extra) {
                let replica_id = replica
                    .db_instance_identifier()
                    .unwrap_or_default()
                    .to_owned();
                let deletion = self.delete_replica(&replica_id).await?;
                report.mutations += 1;
                match deletion {
                    ReplicaDeletion::Requested => deleting.push(replica_id),
                    ReplicaDeletion::AlreadyGone => gone.push(replica_id),
                }
            }
            return Ok(Some(Progress::aws_in_progress(replica_deletion_message(
                &deleting, &gone,
            ))));
        }
        if let Some(busy) = live
            .iter()
            .find(|replica| replica.db_instance_status() != Some("available"))
        {
            return Ok(Some(Progress::aws_in_progress(format!(
                "read replica {} is {}",
                busy.db_instance_identifier().unwrap_or_default(),
                busy.db_instance_status().unwrap_or("unknown")
            ))));
        }
        self.follow_primary(desired, report).await
    }

    /// Brings each available replica's tags, class and storage ceiling to the
    /// primary's spec; `None` when all follow already (a tag change alone needs no
    /// wait).
    async fn follow_primary(
        &self,
        desired: &DesiredInstance,
        report: &mut Report,
    ) -> Result<Option<Progress>, AwsError> {
        let mut modified = Vec::new();
        for replica in &report.observed.replicas {
            let replica_id = replica.db_instance_identifier().unwrap_or_default();
            if let Some(arn) = replica.db_instance_arn() {
                let current = tag_pairs(replica.tag_list(), Tag::key, Tag::value);
                report.mutations += write_tags(self, arn, &current, &desired.common.tags).await?;
            }
            if let Some(fields) = self.follow(desired, replica, replica_id).await? {
                report.mutations += 1;
                modified.push(format!("{replica_id}: {fields}"));
            }
        }
        Ok((!modified.is_empty()).then(|| {
            Progress::aws_in_progress(format!(
                "modifying read replicas to follow the primary: {}",
                modified.join("; ")
            ))
        }))
    }

    /// Sends ModifyDBInstance of `modification` for the instance `identifier`; the
    /// changed fields, for the log and the status.
    async fn modify(
        &self,
        modification: &Modification,
        identifier: &str,
    ) -> Result<String, AwsError> {
        let request = modification.request(self.rds.modify_db_instance(), identifier);
        sent(MODIFY_DB_INSTANCE, request.send()).await?;
        Ok(modification.changed_fields().join(", "))
    }

    /// Sends the ModifyDBInstance that makes the read replica `replica_id` follow
    /// `desired` (class, storage ceiling: `replica_modification`); the changed fields,
    /// `None` when it follows already.
    pub async fn follow(
        &self,
        desired: &DesiredInstance,
        replica: &DbInstance,
        replica_id: &str,
    ) -> Result<Option<String>, AwsError> {
        let Some(modification) = replica_modification(desired, replica) else {
            return Ok(None);
        };
        let fields = self.modify(&modification, replica_id).await?;
        tracing::info!(identifier = %replica_id, fields = %fields, "modified read replica");
        Ok(Some(fields))
    }

    /// Deletes a read replica (replicas have no final snapshot); one already gone is
    /// said so (and logged so), not reported as deleted.
    pub async fn delete_replica(&self, replica_id: &str) -> Result<ReplicaDeletion, AwsError> {
        let request = self
            .rds
            .delete_db_instance()
            .db_instance_identifier(replica_id)
            .skip_final_snapshot(true)
            .delete_automated_backups(true);
        match sent(DELETE_DB_INSTANCE, request.send()).await {
            Ok(_) => {
                tracing::info!(identifier = %replica_id, "deleting read replica");
                Ok(ReplicaDeletion::Requested)
            }
            Err(error) if error.kind == ErrorKind::NotFound => {
                tracing::info!(identifier = %replica_id, "read replica already gone");
                Ok(ReplicaDeletion::AlreadyGone)
            }
            Err(error) => Err(error),
        }
    }
}

/// What a replica's DeleteDBInstance did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplicaDeletion {
    /// RDS accepted the delete.
    Requested,
    /// RDS said the replica does not exist (a lost response of an earlier delete, or
    /// deleted by someone else).
    AlreadyGone,
}

/// The progress message of a replica scale-down: those being deleted, and those that
/// were already gone (issue 10 part 3: "already gone" is not "deleted").
pub fn replica_deletion_message(deleting: &[String], gone: &[String]) -> String {
    match (deleting.is_empty(), gone.is_empty()) {
        (false, true) => format!("deleting read replicas {}", deleting.join(", ")),
        (true, false) => format!("read replicas {} are already gone", gone.join(", ")),
        _ => format!(
            "deleting read replicas {}; {} already gone",
            deleting.join(", "),
            gone.join(", ")
        ),
    }
}
