//! A ManagedDatabase that is a read replica of another DB instance (`spec.replicaOf`),
//! possibly in another region (`spec.region`), and its promotion to a primary. Pure
//! parts: which source ([`Source`]), whether RDS reports the instance as a replica
//! still ([`is_replica`]), the CreateDBInstanceReadReplica and PromoteReadReplica
//! requests (built on the same replica builder as `highAvailability.readReplicas`),
//! and `status.replication`. The calls (resolving a same-cluster source's ARN,
//! creating, promoting, following the spec while a replica) are in `impl Rds` below.
//!
//! Promotion is recorded on the instance itself: after RDS accepted
//! PromoteReadReplica, tiered tags it `tiered.io/promoted` (the time it asked). RDS
//! drops `ReadReplicaSourceDBInstanceIdentifier` once promoted; moto 5.2.5 keeps it
//! (pinned in tests/it/database_replica_of.rs), and the tag is what makes a second pass
//! after a crash between the two calls, or a converged promoted instance, send nothing.

use aws_sdk_rds::operation::create_db_instance_read_replica::builders::CreateDBInstanceReadReplicaFluentBuilder;
use aws_sdk_rds::operation::promote_read_replica::builders::PromoteReadReplicaFluentBuilder;
use aws_sdk_rds::types::DbInstance;
use kube::Api;

use crate::api::ManagedDatabase;
use crate::api::ManagedDatabaseSpec;
use crate::api::replication::{ReplicationRole, ReplicationStatus};
use crate::aws::errors::{AwsError, ErrorKind, sent};
use crate::aws::rds_actions::CREATE_DB_INSTANCE_READ_REPLICA;
use crate::aws::rds_actions::PROMOTE_READ_REPLICA;
use crate::controllers::data_tier::error::{ConvergeError, InvalidSpec};
use crate::controllers::data_tier::kind::Target;
use crate::controllers::data_tier::status::Progress;
use crate::controllers::data_tier::tags::TagCalls;

use crate::aws::fleet::describe_instance;
use crate::controllers::managed_database::desired::{DesiredInstance, create_replica_request};
use crate::controllers::managed_database::parameters::{parameter_family, parameter_group_name};
use crate::controllers::managed_database::rds::Rds;
use crate::controllers::managed_database::status::Report;

/// The tag tiered puts on a replica once RDS accepted its promotion; the value is the
/// time tiered asked (RFC 3339).
pub const PROMOTED_TAG: &str = "tiered.io/promoted";

/// The source of a replica.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A ManagedDatabase in the same namespace; its ARN comes from its status.
    ManagedDatabase(String),
    /// A DB instance ARN.
    Arn(String),
}

impl Source {
    /// The source `spec.replicaOf` names; `None` for an instance that is no replica.
    ///
    /// # Errors
    /// [`InvalidSpec`] when it names none or both (the CRD's rules refuse these; an
    /// object stored before them still gets a clear condition).
    pub fn of(spec: &ManagedDatabaseSpec) -> Result<Option<Self>, InvalidSpec> {
        let Some(replica_of) = &spec.replica_of else {
            return Ok(None);
        };
        match (&replica_of.managed_database, &replica_of.source_arn) {
            (Some(name), None) => Ok(Some(Self::ManagedDatabase(name.clone()))),
            (None, Some(arn)) => Ok(Some(Self::Arn(arn.clone()))),
            _ => Err(InvalidSpec {
                field: "spec.replicaOf",
                reason: "set exactly one of managedDatabase and sourceArn".into(),
            }),
        }
    }

    /// How the source reads in messages and in `tiered render`.
    pub fn describe(&self) -> String {
        match self {
            Self::ManagedDatabase(name) => format!("<ARN of ManagedDatabase {name}>"),
            Self::Arn(arn) => arn.clone(),
        }
    }
}

/// When tiered promoted `instance` (its `tiered.io/promoted` tag), if it did.
pub fn promoted_at(instance: &DbInstance) -> Option<&str> {
    instance
        .tag_list()
        .iter()
        .find(|tag| tag.key() == Some(PROMOTED_TAG))
        .and_then(|tag| tag.value())
}

/// Whether RDS reports `instance` as a read replica that tiered has not promoted.
pub fn is_replica(instance: &DbInstance) -> bool {
    instance
        .read_replica_source_db_instance_identifier()
        .is_some()
        && promoted_at(instance).is_none()
}

/// Whether `instance` is the still-unpromoted replica `spec.replicaOf` asks for. Only
/// with `spec.replicaOf`: moto reports `ReadReplicaSourceDBInstanceIdentifier` on an
/// instance restored to a point in time (the restore's source), which is no replica.
pub fn replica_of_spec(spec: &ManagedDatabaseSpec, instance: &DbInstance) -> bool {
    spec.replica_of.is_some() && is_replica(instance)
}

/// CreateDBInstanceReadReplica of `source_arn` into `desired` (its deterministic id,
/// tags, class, storage, network, availability and access), encrypted with the KMS key
/// `spec.replicaOf.kmsKeyId` names; the same builder as the object's own replicas.
pub fn replica_of_request(
    request: CreateDBInstanceReadReplicaFluentBuilder,
    desired: &DesiredInstance,
    source_arn: &str,
) -> CreateDBInstanceReadReplicaFluentBuilder {
    create_replica_request(request, desired, &desired.identifier)
        .source_db_instance_identifier(source_arn)
        .set_kms_key_id(desired.replica_kms_key_id.clone())
        .multi_az(desired.multi_az)
        .set_db_subnet_group_name(desired.common.subnet_group_name.clone())
        .deletion_protection(desired.deletion_protection.unwrap_or(false))
}

/// PromoteReadReplica of `desired`'s instance, turning on the backups `spec.backup`
/// asks for (RDS' default of one day without it).
pub fn promote_request(
    request: PromoteReadReplicaFluentBuilder,
    desired: &DesiredInstance,
) -> PromoteReadReplicaFluentBuilder {
    request
        .db_instance_identifier(&desired.identifier)
        .set_backup_retention_period(desired.backup_retention_days.filter(|days| *days > 0))
        .set_preferred_backup_window(desired.backup_window.clone())
}

/// `status.replication` of `spec`: `None` without `spec.replicaOf`; the role and
/// source as RDS reports `instance` (the previous status's source once RDS no longer
/// names one), and the replication state of its `StatusInfos`.
pub fn replication_status(
    spec: &ManagedDatabaseSpec,
    instance: Option<&DbInstance>,
    previous: Option<&ReplicationStatus>,
) -> Option<ReplicationStatus> {
    let source = Source::of(spec).ok().flatten()?;
    let Some(instance) = instance else {
        return Some(previous.cloned().unwrap_or(ReplicationStatus {
            role: ReplicationRole::Replica,
            source: Some(source.describe()),
            state: None,
            promoted_at: None,
        }));
    };
    let role = if is_replica(instance) {
        ReplicationRole::Replica
    } else {
        ReplicationRole::Primary
    };
    let state = instance
        .status_infos()
        .iter()
        .find(|info| info.status_type() == Some("read replication"))
        .and_then(|info| {
            let status = info.status()?;
            Some(match info.message() {
                Some(message) if !message.is_empty() => format!("{status}: {message}"),
                _ => status.to_owned(),
            })
        });
    Some(ReplicationStatus {
        role,
        source: instance
            .read_replica_source_db_instance_identifier()
            .map(str::to_owned)
            .or_else(|| previous.and_then(|previous| previous.source.clone()))
            .or_else(|| Some(source.describe())),
        state: state.filter(|_| role == ReplicationRole::Replica),
        promoted_at: promoted_at(instance).map(str::to_owned),
    })
}

/// The source is not ready to be replicated yet (a ManagedDatabase without an ARN).
#[derive(Debug, thiserror::Error)]
#[error("failed to find the source's ARN: {0}")]
pub struct SourceNotReady(String);

fn source_not_ready(message: String) -> AwsError {
    AwsError {
        kind: ErrorKind::Transient,
        operation: CREATE_DB_INSTANCE_READ_REPLICA,
        code: Some("SourceNotReady".to_owned()),
        message: Some(message.clone()),
        source: Box::new(SourceNotReady(message)),
    }
}

impl Rds {
    /// This object's RDS in `spec.region`, when that is not the operator's own region:
    /// the region's client, without the fleet read (it covers the operator's region).
    pub fn in_region(&self, spec: &ManagedDatabaseSpec) -> Option<Self> {
        let region = spec.region.as_deref()?;
        if self.regions.home() == Some(region) {
            return None;
        }
        Some(Self {
            rds: self.regions.client(region),
            fleet: None,
            ..self.clone()
        })
    }

    /// The ARN to replicate: `sourceArn`, or the `status.arn` of the ManagedDatabase
    /// named (read from Kubernetes, same namespace).
    async fn source_arn(&self, namespace: &str, source: &Source) -> Result<String, AwsError> {
        let name = match source {
            Source::Arn(arn) => return Ok(arn.clone()),
            Source::ManagedDatabase(name) => name,
        };
        let Some(client) = &self.kube else {
            return Err(source_not_ready(format!(
                "ManagedDatabase {name}: this controller cannot read ManagedDatabases"
            )));
        };
        let databases: Api<ManagedDatabase> = Api::namespaced(client.clone(), namespace);
        let found = databases.get_opt(name).await.map_err(|error| {
            source_not_ready(format!("failed to read ManagedDatabase {name}: {error}"))
        })?;
        let Some(database) = found else {
            return Err(source_not_ready(format!(
                "ManagedDatabase {name} does not exist in this namespace (yet); waiting for it: if it is not being created, check spec.replicaOf.managedDatabase"
            )));
        };
        database.status.and_then(|status| status.arn).ok_or_else(|| {
            source_not_ready(format!(
                "waiting for ManagedDatabase {name} in this namespace to report its ARN (status.arn)"
            ))
        })
    }

    /// Sends CreateDBInstanceReadReplica for `target`, a replica of `source`.
    pub async fn create_replica_of(
        &self,
        target: &Target<'_, ManagedDatabaseSpec>,
        source: &Source,
        desired: &DesiredInstance,
    ) -> Result<Option<DbInstance>, AwsError> {
        let arn = self.source_arn(&target.owner.namespace, source).await?;
        let group = self.replica_parameter_group(desired, &arn).await?;
        let request = replica_of_request(self.rds.create_db_instance_read_replica(), desired, &arn)
            .set_db_parameter_group_name(group);
        let output = sent(CREATE_DB_INSTANCE_READ_REPLICA, request.send()).await?;
        Ok(output.db_instance)
    }

    /// The owned DB parameter group a new replica with `spec.parameters` starts with,
    /// made (empty; the values follow in the next pass) in the replica's region before
    /// CreateDBInstanceReadReplica, so the replica boots with it instead of RDS's
    /// default group of the family (or, in the same region, its source's) and no reboot
    /// is owed for attaching it later. The family comes from `spec.engineVersion`, else
    /// from the source instance, read in its own region. `None` without parameters, or
    /// when the family is not known (the group is then attached after creation).
    async fn replica_parameter_group(
        &self,
        desired: &DesiredInstance,
        source_arn: &str,
    ) -> Result<Option<String>, AwsError> {
        if desired.parameters.is_empty() {
            return Ok(None);
        }
        let version = match &desired.engine_version {
            Some(version) => Some(version.clone()),
            None => self.source_engine_version(source_arn).await?,
        };
        let Some(family) = version.and_then(|version| parameter_family(desired.engine, &version))
        else {
            return Ok(None);
        };
        let group = parameter_group_name(&desired.identifier, &family);
        if self.claim_group(&group, &family, desired).await?
            == crate::controllers::data_tier::parameter_groups::Claim::Foreign
        {
            // Not tiered's: the replica starts on RDS's default group, and the next
            // pass is Stalled naming spec.parameters (`converge_parameters`).
            return Ok(None);
        }
        Ok(Some(group))
    }

    /// The engine version of the DB instance `arn`, described in its own region;
    /// `None` when it cannot be read (not an ARN, or not found).
    async fn source_engine_version(&self, arn: &str) -> Result<Option<String>, AwsError> {
        let region = arn.split(':').nth(3).filter(|region| !region.is_empty());
        let (Some(region), Some(id)) = (region, arn.rsplit(':').next()) else {
            return Ok(None);
        };
        Ok(describe_instance(&self.regions.client(region), id)
            .await?
            .and_then(|source| source.engine_version().map(str::to_owned)))
    }

    /// Records the promotion on `instance` (the `tiered.io/promoted` tag, with the time).
    async fn tag_promoted(
        &self,
        instance: &DbInstance,
        report: &mut Report,
    ) -> Result<(), AwsError> {
        if let Some(arn) = instance.db_instance_arn() {
            let now = crate::runtime::kstatus::now().0.to_string();
            let tags = std::collections::BTreeMap::from([(PROMOTED_TAG.to_owned(), now)]);
            self.add_tags(arn, &tags).await?;
            report.mutations += 1;
        }
        Ok(())
    }

    /// A `spec.replicaOf` instance with `promote: true` that RDS no longer reports as a
    /// replica but that carries no `tiered.io/promoted` tag (the promotion's answer was
    /// lost, or RDS refused a repeat while it was under way): the tag is written now, so
    /// status shows the promotion; `None` otherwise.
    ///
    /// # Errors
    /// The tagging call's.
    pub async fn record_promotion(
        &self,
        desired: &DesiredInstance,
        instance: &DbInstance,
        report: &mut Report,
    ) -> Result<Option<Progress>, AwsError> {
        if !desired.promote
            || desired.replica_source.is_none()
            || instance
                .read_replica_source_db_instance_identifier()
                .is_some()
            || promoted_at(instance).is_some()
        {
            return Ok(None);
        }
        self.tag_promoted(instance, report).await?;
        Ok(Some(Progress::aws_in_progress(format!(
            "recording the promotion of {}",
            desired.identifier
        ))))
    }

    /// The convergence of an instance RDS reports as a replica: promotion when the
    /// spec asks for it (PromoteReadReplica, then the `tiered.io/promoted` tag), else
    /// the class and storage ceiling of the spec; `Ready` when it follows.
    pub async fn converge_replica(
        &self,
        desired: &DesiredInstance,
        instance: &DbInstance,
        report: &mut Report,
    ) -> Result<Progress, ConvergeError> {
        let identifier = &desired.identifier;
        let source = instance
            .read_replica_source_db_instance_identifier()
            .unwrap_or_default();
        if desired.promote {
            let request = promote_request(self.rds.promote_read_replica(), desired);
            let promoted = sent(PROMOTE_READ_REPLICA, request.send()).await;
            report.mutations += 1;
            match promoted {
                Ok(_) => {}
                // RDS answers InvalidDBInstanceState for any replica that is not
                // `available` (`storage-full`, …) as well as for one already promoting:
                // not a promotion, so nothing is recorded (an outside review found the
                // refusal tagged as promoted and never asked again). The next pass looks
                // again: a promotion under way shows `modifying` and is waited through,
                // one done no longer reports a source ([`Rds::record_promotion`]), and a
                // refusal is asked again.
                Err(error) if error.code.as_deref() == Some("InvalidDBInstanceState") => {
                    tracing::info!(identifier = %identifier, error = %error.aws_message(), "promotion not accepted now");
                    return Ok(Progress::aws_in_progress(format!(
                        "RDS did not accept the promotion of read replica {identifier} now ({}); asking again",
                        error.aws_message()
                    )));
                }
                Err(error) => return Err(error.into()),
            }
            self.tag_promoted(instance, report).await?;
            tracing::info!(identifier = %identifier, source = %source, "promoting read replica");
            return Ok(Progress::aws_in_progress(format!(
                "promoting read replica {identifier} (of {source}) to a standalone primary"
            )));
        }
        if let Some(fields) = self.follow(desired, instance, identifier).await? {
            report.mutations += 1;
            return Ok(Progress::aws_in_progress(format!(
                "modifying read replica {identifier}: {fields}"
            )));
        }
        // RDS gives a read replica a DB parameter group of its own (its source's is not
        // copied): `spec.parameters` go into the replica's owned group in its region,
        // as for a primary, and stay when it is promoted.
        if let Some(progress) = self.converge_parameters(desired, instance, report).await? {
            return Ok(progress);
        }
        Ok(Progress::Ready {
            message: format!(
                "read replica of {source}; set spec.replicaOf.promote: true to promote it"
            ),
        })
    }
}

#[cfg(test)]
#[path = "replica_of_tests.rs"]
mod tests;
