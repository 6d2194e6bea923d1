//! One ManagedDatabase against RDS: describe (the shared fleet read, else by
//! identifier), guard ownership, create with the deterministic identifier or correct
//! drift with a minimal ModifyDBInstance, and match the read replicas. AWS only: the
//! Kubernetes side (Secret, status) is the caller's, in `controller`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use aws_sdk_rds::types::DbInstance;

use crate::api::ManagedDatabaseSpec;
use crate::aws::errors::{AwsError, ErrorKind};
use crate::aws::naming::{rds_instance_identifier, rds_replica_identifier, rds_replica_index};
use crate::aws::rds_actions::{
    ADD_TAGS_TO_RESOURCE, CREATE_DB_INSTANCE, CREATE_DB_INSTANCE_READ_REPLICA, DELETE_DB_INSTANCE,
    MODIFY_DB_INSTANCE,
};
use crate::aws::tags::{Owner, Ownership, rds_ownership, resource_tags, to_rds_tags};
use crate::controllers::data_tier::progress::status_progress;

pub use crate::controllers::managed_database::outcome::{Error, Observed, Progress, Report};

use crate::aws::fleet::{Fleet, describe_instance};
use crate::controllers::managed_database::desired::{
    DesiredInstance, create_instance_request, create_replica_request,
};
use crate::controllers::managed_database::diff::diff;
use crate::controllers::managed_database::secret::Password;
use crate::controllers::managed_database::state::{phase, stalled_hint};

/// What every reconcile shares: the RDS client and the operator's settings.
#[derive(Clone, Debug)]
pub struct RdsContext {
    /// RDS client.
    pub rds: aws_sdk_rds::Client,
    /// Cluster name, the `tiered.io/cluster` tag and part of every identifier.
    pub cluster: String,
    /// The shared fleet read; `None` describes each instance on its own.
    pub fleet: Option<Arc<Fleet>>,
    /// Namespaces allowed to adopt existing instances; `None` allows all.
    pub adoption_namespaces: Option<BTreeSet<String>>,
}

/// The object being reconciled.
#[derive(Clone, Debug)]
pub struct Target<'a> {
    /// Who claims the instance.
    pub owner: Owner,
    /// The spec.
    pub spec: &'a ManagedDatabaseSpec,
}

impl Target<'_> {
    /// The DB instance identifier: the adopted one, else the deterministic one.
    pub fn identifier(&self) -> String {
        match &self.spec.adopt {
            Some(adopt) => adopt.identifier.clone(),
            None => rds_instance_identifier(
                &self.owner.cluster,
                &self.owner.namespace,
                &self.owner.name,
            ),
        }
    }

    /// The tags every instance of this object carries.
    pub fn tags(&self) -> BTreeMap<String, String> {
        resource_tags(&self.owner, &self.spec.tags)
    }
}

/// The master password for this reconcile.
#[derive(Clone, Copy, Debug)]
pub struct MasterPassword<'a> {
    /// The generated password (from the connection Secret); `None` with AWS-managed
    /// credentials.
    pub password: Option<&'a Password>,
    /// The password was generated for this reconcile (the Secret had none): an
    /// instance that already exists gets it set.
    pub is_new: bool,
}

/// Reconciles `target` against RDS once. Never fails: errors become [`Progress`].
pub async fn reconcile(
    ctx: &RdsContext,
    target: &Target<'_>,
    password: MasterPassword<'_>,
) -> Report {
    let mut report = Report {
        identifier: target.identifier(),
        observed: Observed::default(),
        progress: Progress::Ready {
            message: String::new(),
        },
        mutations: 0,
    };
    match Box::pin(run(ctx, target, password, &mut report)).await {
        Ok(progress) => report.progress = progress,
        Err(error) => report.progress = error.progress(),
    }
    if report.mutations > 0
        && let Some(fleet) = &ctx.fleet
    {
        fleet.invalidate().await;
    }
    report
}

async fn run(
    ctx: &RdsContext,
    target: &Target<'_>,
    password: MasterPassword<'_>,
    report: &mut Report,
) -> Result<Progress, Error> {
    let identifier = report.identifier.clone();
    let desired = DesiredInstance::from_spec(target.spec, identifier.clone(), target.tags())?;
    let adopting = target.spec.adopt.is_some();
    if adopting
        && let Some(allowed) = &ctx.adoption_namespaces
        && !allowed.contains(&target.owner.namespace)
    {
        return Err(Error::AdoptionNotAllowed {
            identifier,
            namespace: target.owner.namespace.clone(),
        });
    }

    let primary = match observe(ctx, &identifier).await? {
        Some(instance) => {
            claim(ctx, target, &instance, &desired, report).await?;
            if password.is_new && !desired.manage_master_user_password {
                // An existing instance whose password tiered does not know (adopted,
                // or its Secret was lost): set the one just generated.
                let secret = password.password.ok_or(Error::MissingPassword {
                    identifier: identifier.clone(),
                })?;
                ctx.rds
                    .modify_db_instance()
                    .db_instance_identifier(&identifier)
                    .master_user_password(secret.expose())
                    .apply_immediately(true)
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk(MODIFY_DB_INSTANCE, e))?;
                report.mutations += 1;
            }
            instance
        }
        None if adopting => return Err(Error::AdoptTargetMissing { identifier }),
        None => create(ctx, &desired, password.password, report).await?,
    };
    report.observed.primary = Some(primary.clone());
    report.observed.replicas = observe_replicas(ctx, target, &primary).await?;

    let status = primary.db_instance_status().unwrap_or("unknown").to_owned();
    let resource = format!("DB instance {identifier}");
    if let Some(waiting) =
        status_progress(&resource, &status, phase(&status), stalled_hint(&status))
    {
        return Ok(waiting);
    }

    if let Some(modification) = diff(&desired, &primary)? {
        let fields = modification.changed_fields().join(", ");
        modification
            .request(ctx.rds.modify_db_instance(), &identifier)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(MODIFY_DB_INSTANCE, e))?;
        report.mutations += 1;
        tracing::info!(identifier = %identifier, fields = %fields, "modified DB instance");
        return Ok(Progress::aws_in_progress(format!(
            "modifying DB instance {identifier}: {fields}"
        )));
    }

    if let Some(progress) = match_replicas(ctx, &desired, report).await? {
        return Ok(progress);
    }

    let message = if has_pending_changes(&primary) {
        "changes are pending for the next maintenance window (spec.applyImmediately is false)"
            .to_owned()
    } else {
        String::new()
    };
    Ok(Progress::Ready { message })
}

/// Whether RDS reports modifications waiting to be applied.
pub fn has_pending_changes(instance: &DbInstance) -> bool {
    instance.pending_modified_values().is_some_and(|pending| {
        *pending != aws_sdk_rds::types::PendingModifiedValues::builder().build()
    })
}

/// The instance `identifier`: from the fleet read when it shows it settled, else
/// described on its own.
pub async fn observe(ctx: &RdsContext, identifier: &str) -> Result<Option<DbInstance>, AwsError> {
    if let Some(fleet) = &ctx.fleet {
        let instances = fleet.instances(&ctx.rds).await?;
        if let Some(instance) = instances.get(identifier)
            && instance.db_instance_status() == Some("available")
            && !has_pending_changes(instance)
        {
            return Ok(Some(instance.clone()));
        }
    }
    describe_instance(&ctx.rds, identifier).await
}

/// Checks ownership of an existing instance; adopts an untagged one when asked to,
/// and brings the tags up to date.
async fn claim(
    ctx: &RdsContext,
    target: &Target<'_>,
    instance: &DbInstance,
    desired: &DesiredInstance,
    report: &mut Report,
) -> Result<(), Error> {
    let identifier = desired.identifier.clone();
    match rds_ownership(instance.tag_list(), &target.owner) {
        Ownership::Ours => {}
        Ownership::Unowned if target.spec.adopt.is_some() => {
            tracing::info!(identifier = %identifier, "adopting untagged DB instance");
        }
        Ownership::Unowned => return Err(Error::NotOwned { identifier }),
        Ownership::OwnedElsewhere {
            cluster,
            namespace,
            name,
        } => {
            return Err(Error::OwnedElsewhere {
                identifier,
                cluster,
                namespace,
                name,
            });
        }
    }
    let current: BTreeMap<&str, &str> = instance
        .tag_list()
        .iter()
        .filter_map(|tag| Some((tag.key()?, tag.value().unwrap_or_default())))
        .collect();
    let missing: BTreeMap<String, String> = desired
        .tags
        .iter()
        .filter(|(key, value)| current.get(key.as_str()) != Some(&value.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    if let (false, Some(arn)) = (missing.is_empty(), instance.db_instance_arn()) {
        ctx.rds
            .add_tags_to_resource()
            .resource_name(arn)
            .set_tags(Some(to_rds_tags(&missing)))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(ADD_TAGS_TO_RESOURCE, e))?;
        report.mutations += 1;
    }
    Ok(())
}

/// Creates the primary; when it already exists (a crash after an earlier create, or a
/// lost response), describes it instead.
async fn create(
    ctx: &RdsContext,
    desired: &DesiredInstance,
    password: Option<&Password>,
    report: &mut Report,
) -> Result<DbInstance, Error> {
    let identifier = desired.identifier.clone();
    if !desired.manage_master_user_password && password.is_none() {
        return Err(Error::MissingPassword { identifier });
    }
    let created = create_instance_request(ctx.rds.create_db_instance(), desired, password)
        .send()
        .await;
    report.mutations += 1;
    match created {
        Ok(output) => {
            tracing::info!(identifier = %identifier, "created DB instance");
            match output.db_instance {
                Some(instance) => Ok(instance),
                None => Ok(describe_instance(&ctx.rds, &identifier)
                    .await?
                    .unwrap_or_else(|| {
                        DbInstance::builder()
                            .db_instance_identifier(&identifier)
                            .db_instance_status("creating")
                            .build()
                    })),
            }
        }
        Err(error) => {
            let error = AwsError::from_sdk(CREATE_DB_INSTANCE, error);
            if error.kind != ErrorKind::Conflict {
                return Err(error.into());
            }
            describe_instance(&ctx.rds, &identifier)
                .await?
                .ok_or(Error::Aws(error))
        }
    }
}

/// Our replicas of `primary` (tagged ours, named `<id>-r<n>`), by index.
async fn observe_replicas(
    ctx: &RdsContext,
    target: &Target<'_>,
    primary: &DbInstance,
) -> Result<Vec<DbInstance>, Error> {
    let identifier = primary.db_instance_identifier().unwrap_or_default();
    let mut replicas = Vec::new();
    for replica_id in primary.read_replica_db_instance_identifiers() {
        if rds_replica_index(identifier, replica_id).is_none() {
            continue;
        }
        if let Some(replica) = observe(ctx, replica_id).await?
            && rds_ownership(replica.tag_list(), &target.owner) == Ownership::Ours
        {
            replicas.push(replica);
        }
    }
    replicas.sort_by_key(|replica| {
        rds_replica_index(
            identifier,
            replica.db_instance_identifier().unwrap_or_default(),
        )
    });
    Ok(replicas)
}

/// Creates or deletes replicas to match the spec; `None` when they match and all are
/// available.
async fn match_replicas(
    ctx: &RdsContext,
    desired: &DesiredInstance,
    report: &mut Report,
) -> Result<Option<Progress>, Error> {
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
            let result = create_replica_request(
                ctx.rds.create_db_instance_read_replica(),
                desired,
                &replica_id,
            )
            .send()
            .await;
            report.mutations += 1;
            if let Err(error) = result {
                let error = AwsError::from_sdk(CREATE_DB_INSTANCE_READ_REPLICA, error);
                if error.kind != ErrorKind::Conflict {
                    return Err(error.into());
                }
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
        let mut deleted = Vec::new();
        for replica in newest_first.into_iter().take(extra) {
            let replica_id = replica
                .db_instance_identifier()
                .unwrap_or_default()
                .to_owned();
            delete_replica(ctx, &replica_id).await?;
            report.mutations += 1;
            deleted.push(replica_id);
        }
        return Ok(Some(Progress::aws_in_progress(format!(
            "deleting read replicas {}",
            deleted.join(", ")
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
    Ok(None)
}

/// Deletes a read replica (replicas have no final snapshot); already gone is fine.
pub async fn delete_replica(ctx: &RdsContext, replica_id: &str) -> Result<(), AwsError> {
    let result = ctx
        .rds
        .delete_db_instance()
        .db_instance_identifier(replica_id)
        .skip_final_snapshot(true)
        .delete_automated_backups(true)
        .send()
        .await;
    match result.map_err(|e| AwsError::from_sdk(DELETE_DB_INSTANCE, e)) {
        Err(error) if error.kind != ErrorKind::NotFound => Err(error),
        _ => {
            tracing::info!(identifier = %replica_id, "deleted read replica");
            Ok(())
        }
    }
}
