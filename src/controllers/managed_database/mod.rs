//! The ManagedDatabase controller: an Amazon RDS DB instance and its read replicas,
//! run by the shared data-tier outline (`crate::controllers::data_tier`: one
//! reconcile, one finalizer). This file wires the kind into it ([`DataTier`] for
//! [`Rds`]); the steps that are RDS' own sit in their files: [`desired`], [`diff`],
//! [`replicas`] and [`rules`] (pure), [`rds`] (describe, create, modify, replicas),
//! [`cleanup`] (replicas first, deletion protection), [`rotation`] (password rotation
//! on request), [`snapshots`] (on demand), [`status`] and [`secret`] (pure), and
//! [`plan`] (what `tiered render` prints).

pub mod cleanup;
pub mod desired;
pub mod diff;
pub mod parameters;
pub mod plan;
pub mod rds;
pub mod replica_of;
pub mod replicas;
pub mod restore;
pub mod restore_plan;
pub mod rotation;
pub mod rules;
pub mod secret;
pub mod snapshots;
pub mod status;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use aws_sdk_rds::types::{DbInstance, Tag};
use k8s_openapi::ByteString;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Resource;

use crate::api::managed_database::{CredentialSource, ROTATE_PASSWORD_ANNOTATION};
use crate::api::{ManagedDatabase, ManagedDatabaseSpec, ManagedDatabaseStatus};
use crate::aws::errors::AwsError;
use crate::aws::naming::{rds_instance_identifier, rds_replica_of_identifier, stored_identifier};
use crate::aws::tags::Owner;
use crate::controllers::data_tier::diff::tag_pairs;
use crate::controllers::data_tier::error::{ConvergeError, Error, InvalidSpec, Nouns};
use crate::controllers::data_tier::kind::Deletion;
use crate::controllers::data_tier::kind::Target;
use crate::controllers::data_tier::secret::{Password, RandomError, generate_password};
use crate::controllers::data_tier::snapshots::requested_statuses;
use crate::controllers::data_tier::spec::shared_spec;
use crate::controllers::data_tier::status::{Phase, Progress};
use crate::controllers::data_tier::{self, DataTier};
use crate::runtime::context::Context;
use crate::runtime::events::Publisher;
use crate::runtime::scope::ControllerConfig;

use crate::controllers::managed_database::desired::DesiredInstance;
pub use crate::controllers::managed_database::rds::Rds;
use crate::controllers::managed_database::secret::Credential;
use crate::controllers::managed_database::status::{NOUNS, Observed, Report};

/// The finalizer that guards the DB instance.
pub const FINALIZER: &str = "tiered.io/database";
/// The `controller` label of this controller's metrics.
pub const CONTROLLER: &str = "manageddatabase";

/// Runs one ManagedDatabase controller until `shutdown` resolves. `synced` fires once
/// its caches (ManagedDatabases and connection Secrets) have their first full list.
pub async fn run(
    ctx: Context,
    config: ControllerConfig,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
    synced: tokio::sync::oneshot::Sender<()>,
) {
    let rds = Rds {
        rds: ctx.aws.rds.clone(),
        fleet: Some(Arc::clone(&ctx.aws.rds_fleet)),
        adoption_namespaces: ctx.adoption_namespaces(),
        regions: Arc::clone(&ctx.aws.rds_regions),
        kube: Some(ctx.client.clone()),
    };
    data_tier::run(ctx, rds, config, shutdown, synced).await;
}

shared_spec!(ManagedDatabaseSpec);

impl DataTier for Rds {
    type Object = ManagedDatabase;
    type Resource = DbInstance;
    type Desired = DesiredInstance;
    type Observed = Observed;
    /// The rotation request handled, for `status.passwordRotation`, and the reboot
    /// request handled, for `status.parameterGroup.reboot`.
    type Rotation = (Option<String>, Option<String>);

    const CONTROLLER: &'static str = CONTROLLER;
    const FINALIZER: &'static str = FINALIZER;
    const COMPONENT: &'static str = "database";
    const TRIGGER_ANNOTATIONS: &'static [&'static str] = &[
        ROTATE_PASSWORD_ANNOTATION,
        crate::api::parameters::REBOOT_ANNOTATION,
    ];
    const CREDENTIAL_KEY: &'static str = secret::PASSWORD_KEY;
    const PENDING_CREDENTIAL_KEY: &'static str = secret::PENDING_PASSWORD_KEY;
    const NOUNS: &'static Nouns = NOUNS;

    fn adopt_id(spec: &ManagedDatabaseSpec) -> Option<&str> {
        spec.adopt.as_ref().map(|adopt| adopt.identifier.as_str())
    }

    fn deletion_protected(spec: &ManagedDatabaseSpec) -> bool {
        spec.deletion_protection == Some(true)
    }

    fn credential_reset_requested(database: &ManagedDatabase) -> bool {
        crate::controllers::managed_database::rotation::rotation_requested(database).is_some()
    }

    fn generates_credential(spec: &ManagedDatabaseSpec) -> bool {
        spec.credentials
            .as_ref()
            .is_none_or(|credentials| credentials.source == CredentialSource::Generated)
    }

    /// A restored instance keeps the snapshot's (unknown) password until tiered sets
    /// the generated one; a replica has its source's until it is promoted.
    fn credential_pending(spec: &ManagedDatabaseSpec) -> bool {
        spec.restore_from.is_some() || spec.replica_of.is_some()
    }

    /// RDS refuses a new master password on a read replica: it gets one once promoted.
    fn accepts_credential(spec: &ManagedDatabaseSpec, instance: &DbInstance) -> bool {
        !replica_of::replica_of_spec(spec, instance)
    }

    fn for_spec(&self, spec: &ManagedDatabaseSpec) -> Option<Self> {
        self.in_region(spec)
    }

    fn generate_credential() -> Result<Password, RandomError> {
        generate_password()
    }

    fn connection_data(
        spec: &ManagedDatabaseSpec,
        observed: &Observed,
        credential: Option<&Password>,
    ) -> BTreeMap<String, ByteString> {
        // No generated password: RDS keeps it in Secrets Manager.
        let credential = credential.map_or(Credential::AwsManaged(None), |password| {
            Credential::Generated(password.clone())
        });
        secret::connection_secret_data(&secret::connection_details(spec, observed, credential))
    }

    fn compute_status(
        database: &ManagedDatabase,
        report: &Report,
        connection_secret: String,
        (rotation, reboot): (Option<String>, Option<String>),
        now: &Time,
    ) -> ManagedDatabaseStatus {
        let mut status = status::compute_status(
            database.meta().generation,
            report,
            Some(connection_secret),
            database.status.as_ref(),
            now,
        );
        status.password_rotation = rotation;
        status.snapshots =
            requested_statuses(database, &report.id, report.observed.snapshots.as_deref());
        status.replication = replica_of::replication_status(
            &database.spec,
            report.observed.primary.as_ref(),
            database
                .status
                .as_ref()
                .and_then(|status| status.replication.as_ref()),
        );
        if let Some(group) = &report.observed.parameter_group {
            status.parameter_group = Some(group.clone());
        }
        if let Some(group) = status.parameter_group.as_mut() {
            group.reboot = reboot;
        }
        status
    }

    fn deterministic_id(owner: &Owner) -> String {
        rds_instance_identifier(&owner.cluster, &owner.namespace, &owner.name)
    }

    /// The adopted identifier, a replica's (`-rr`, see [`rds_replica_of_identifier`]),
    /// or the deterministic one.
    fn resource_id(target: &Target<'_, ManagedDatabaseSpec>) -> String {
        match (&target.spec.adopt, &target.spec.replica_of) {
            (Some(adopt), _) => stored_identifier(&adopt.identifier),
            (None, Some(_)) => rds_replica_of_identifier(
                &target.owner.cluster,
                &target.owner.namespace,
                &target.owner.name,
            ),
            (None, None) => Self::deterministic_id(&target.owner),
        }
    }

    fn desired(
        spec: &ManagedDatabaseSpec,
        id: String,
        tags: BTreeMap<String, String>,
    ) -> Result<DesiredInstance, InvalidSpec> {
        restore::Restore::from_spec(spec)?;
        DesiredInstance::from_spec(spec, id, tags)
    }

    fn check_adoption(
        spec: &ManagedDatabaseSpec,
        instance: &DbInstance,
    ) -> Result<(), InvalidSpec> {
        rules::check_adoptable(spec, instance)
    }

    /// A restore's source must be this namespace's or opted in for this object; a
    /// replica's source must be another object (found by an outside review: a
    /// ManagedDatabase naming itself in `spec.replicaOf.managedDatabase` waited for
    /// its own ARN forever).
    async fn check_create(
        &self,
        target: &Target<'_, ManagedDatabaseSpec>,
    ) -> Result<(), ConvergeError> {
        if let Some(replica_of::Source::ManagedDatabase(name)) =
            replica_of::Source::of(target.spec)?
            && *name == target.owner.name
        {
            return Err(InvalidSpec {
                field: "spec.replicaOf.managedDatabase",
                reason: format!(
                    "names this ManagedDatabase ({name}) itself; name the primary's ManagedDatabase in this namespace, or its instance ARN in spec.replicaOf.sourceArn"
                ),
            }
            .into());
        }
        self.check_restore_source(target.spec, &target.owner).await
    }

    fn uses_credential(desired: &DesiredInstance) -> bool {
        !desired.manage_master_user_password
    }

    fn arn(instance: &DbInstance) -> Option<&str> {
        instance.db_instance_arn()
    }

    fn aws_status(instance: &DbInstance) -> Option<&str> {
        instance.db_instance_status()
    }

    fn phase(status: &str) -> Phase {
        status::phase(status)
    }

    fn stalled_hint(status: &str) -> &'static str {
        status::stalled_hint(status)
    }

    fn creating(id: &str) -> DbInstance {
        DbInstance::builder()
            .db_instance_identifier(id)
            .db_instance_status("creating")
            .build()
    }

    /// The primary's listed replicas of our form, once each (moto lists a retried one
    /// twice); the cleanup deletes only those whose own tags are ours.
    fn related_ids(primary: &DbInstance) -> Vec<String> {
        replicas::replica_candidates(
            primary.db_instance_identifier().unwrap_or_default(),
            0,
            primary
                .read_replica_db_instance_identifiers()
                .iter()
                .map(String::as_str),
        )
    }

    fn adoption_namespaces(&self) -> &BTreeSet<String> {
        &self.adoption_namespaces
    }

    async fn describe(&self, id: &str) -> Result<Option<DbInstance>, AwsError> {
        crate::aws::fleet::describe_instance(&self.rds, id).await
    }

    async fn find(&self, id: &str) -> Result<Option<DbInstance>, AwsError> {
        Rds::find(self, id).await
    }

    async fn tags(&self, instance: &DbInstance) -> Result<Vec<(String, String)>, AwsError> {
        Ok(tag_pairs(instance.tag_list(), Tag::key, Tag::value))
    }

    async fn create(
        &self,
        target: &Target<'_, ManagedDatabaseSpec>,
        desired: &DesiredInstance,
        credential: Option<&Password>,
    ) -> Result<Option<DbInstance>, AwsError> {
        // `desired` already passed `Restore::from_spec`: an invalid source never gets here.
        if let Some(source) = &desired.replica_source {
            return self.create_replica_of(target, source, desired).await;
        }
        match restore::Restore::from_spec(target.spec).ok().flatten() {
            Some(restore) => self.restore(&restore, desired).await,
            None => Rds::create(self, desired, credential).await,
        }
    }

    async fn set_credential(&self, id: &str, credential: &Password) -> Result<(), AwsError> {
        self.set_password(id, credential).await
    }

    async fn observe(
        &self,
        target: &Target<'_, ManagedDatabaseSpec>,
        primary: &DbInstance,
        observed: &mut Observed,
    ) -> Result<(), ConvergeError> {
        restore::check_restored(target.spec, primary)?;
        Rds::observe(self, target, primary, observed).await
    }

    async fn converge(
        &self,
        desired: &DesiredInstance,
        primary: &DbInstance,
        report: &mut Report,
    ) -> Result<Progress, ConvergeError> {
        Rds::converge(self, desired, primary, report).await
    }

    async fn mutated(&self, id: &str) {
        self.mark_stale(id);
    }

    async fn delete(
        &self,
        primary: &DbInstance,
        replicas: &[DbInstance],
        snapshot: Option<&str>,
    ) -> Result<Deletion, AwsError> {
        Rds::delete(self, primary, replicas, snapshot).await
    }

    async fn rotate(
        &self,
        events: &Publisher,
        database: &ManagedDatabase,
        report: &Report,
        credential: &mut Option<Password>,
    ) -> Result<(Option<String>, Option<String>), Error> {
        let rotation = self
            .handle_rotation(events, database, report, credential)
            .await?;
        let reboot = match self.handle_reboot(database, report).await {
            Ok(reboot) => reboot,
            Err(error) => {
                // Retried on the next reconcile: the request stays unhandled.
                tracing::warn!(identifier = %report.id, error = %error.aws_message(), "failed to reboot the DB instance on request");
                database
                    .status
                    .as_ref()
                    .and_then(|status| status.parameter_group.as_ref())
                    .and_then(|group| group.reboot.clone())
            }
        };
        Ok((rotation, reboot))
    }
}
