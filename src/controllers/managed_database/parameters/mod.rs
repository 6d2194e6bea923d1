//! Engine parameters (issue 13 part 4): `spec.parameters` in a DB parameter group
//! tiered creates and owns for the engine family (`<identifier>-<family>`, tagged as
//! ours), attached to the instance. Each pass reads the group's user-set parameters
//! (DescribeDBParameters, `Source=user`), sets what differs (ModifyDBParameterGroup, at
//! most 20 a call), resets what the spec no longer names (ResetDBParameterGroup: the
//! family default), and attaches the group. The apply method comes from the
//! parameter's `ApplyType` as RDS lists it in the group (DescribeDBParameters):
//! `dynamic` is applied `immediate`, anything else (`static`, or a type RDS does not
//! give) `pending-reboot`, which RDS accepts for every parameter. Whether a reboot
//! is pending is the instance's `ParameterApplyStatus` for the group; tiered reboots
//! only on request (the `tiered.io/reboot` annotation, [`Rds::handle_reboot`]). A
//! parameter RDS refuses is `Stalled` naming `spec.parameters.<name>` and RDS' words.
//!
//! This module holds the AWS calls; the pure rules they follow are in [`rules`], and
//! the steps both kinds take on their group (claim, ownership, set and reset in
//! batches) in `crate::controllers::data_tier::parameter_calls`.

use std::collections::BTreeMap;

use aws_sdk_rds::types::{DbInstance, Parameter};

use crate::api::ManagedDatabase;
use crate::aws::errors::{AwsError, sent};
use crate::aws::rds_actions::{
    CREATE_DB_PARAMETER_GROUP, DELETE_DB_PARAMETER_GROUP, DESCRIBE_DB_PARAMETER_GROUPS,
    DESCRIBE_DB_PARAMETERS, MODIFY_DB_INSTANCE, MODIFY_DB_PARAMETER_GROUP, REBOOT_DB_INSTANCE,
    RESET_DB_PARAMETER_GROUP,
};
use crate::aws::tags::to_rds_tags;
use crate::controllers::data_tier::error::ConvergeError;
use crate::controllers::data_tier::status::Progress;

use crate::controllers::managed_database::desired::DesiredInstance;
use crate::controllers::managed_database::diff::Modification;
use crate::controllers::managed_database::rds::Rds;
use crate::controllers::managed_database::status::Report;

pub mod rules;

use crate::controllers::data_tier::parameter_calls::{
    GroupPass, GroupStep, ParameterCalls, applying, attaching, converge_group, set_parameters,
    values,
};
use crate::controllers::data_tier::parameter_groups::{Claim, claim_group, group_calls};
use crate::controllers::data_tier::parameters::foreign_group;

pub use rules::{
    PARAMETERS_PER_CALL, PENDING_REBOOT, ParameterChanges, apply_method, group_status,
    parameter_changes, parameter_family, parameter_group_name, planned_calls, reboot_requested,
    refused,
};

impl Rds {
    /// Brings the instance's parameters to `desired.parameters`; `None` when they are
    /// (also when the spec has none and tiered never made a group).
    pub async fn converge_parameters(
        &self,
        desired: &DesiredInstance,
        primary: &DbInstance,
        report: &mut Report,
    ) -> Result<Option<Progress>, ConvergeError> {
        let version = desired
            .engine_version
            .as_deref()
            .or_else(|| primary.engine_version());
        let Some(family) = version.and_then(|version| parameter_family(desired.engine, version))
        else {
            return Ok(None);
        };
        let group = parameter_group_name(&desired.identifier, &family);
        let attached = primary
            .db_parameter_groups()
            .iter()
            .any(|attached| attached.db_parameter_group_name() == Some(group.as_str()));
        // A group of this name tiered did not create (an administrator's, or one left
        // attached to an adopted instance) is never changed, attached or deleted.
        let description = group_description(&desired.identifier);
        let pass = GroupPass {
            group: &group,
            family: &family,
            wanted: &desired.parameters,
            requested: !desired.parameters.is_empty(),
            attached,
            description: &description,
            tags: &desired.common.tags,
        };
        let (mutated, changes) = match converge_group(self, pass, &mut report.mutations).await? {
            GroupStep::Stop(progress) => return Ok(progress),
            GroupStep::Applied { mutated, changes } => (mutated, changes),
        };
        report.observed.parameter_group = Some(group_status(primary, &group, &family));
        if !attached {
            self.rds
                .modify_db_instance()
                .db_instance_identifier(&desired.identifier)
                .db_parameter_group_name(&group)
                .apply_immediately(desired.common.apply_immediately)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(MODIFY_DB_INSTANCE, e))?;
            return Ok(Some(attaching::<Self>(
                &desired.identifier,
                &group,
                &mut report.mutations,
            )));
        }
        Ok(mutated.then(|| applying::<Self>(&desired.identifier, &group, &changes)))
    }

    /// Before a major version upgrade of an instance on tiered's DB parameter group:
    /// RDS refuses to upgrade an instance on a custom group unless the same
    /// ModifyDBInstance names a group of the new family ("The current DB instance
    /// parameter group … is custom. You must explicitly specify a new DB instance
    /// parameter group, either default or custom, for the engine version upgrade";
    /// RDS User Guide, "Upgrading the PostgreSQL DB engine for Amazon RDS", parameter
    /// groups). The new family's group is prepared (created, tagged, `spec.parameters`
    /// set) and named in `modification`; without `spec.parameters` the family's default
    /// group (`default.<family>`) is named. Nothing for a minor upgrade, or an instance
    /// on another group. Found by an outside review (mocked: moto does not enforce it).
    ///
    /// # Errors
    /// `Some(Stalled)` when the new family's group is not tiered's, or RDS refuses a
    /// parameter in it.
    pub async fn upgrade_parameter_group(
        &self,
        desired: &DesiredInstance,
        primary: &DbInstance,
        modification: &mut Modification,
        report: &mut Report,
    ) -> Result<Option<Progress>, ConvergeError> {
        let Some(version) = modification.engine_version.as_deref() else {
            return Ok(None);
        };
        let (Some(from), Some(to)) = (
            primary
                .engine_version()
                .and_then(|observed| parameter_family(desired.engine, observed)),
            parameter_family(desired.engine, version),
        ) else {
            return Ok(None);
        };
        let on_ours = primary.db_parameter_groups().iter().any(|attached| {
            attached.db_parameter_group_name()
                == Some(parameter_group_name(&desired.identifier, &from).as_str())
        });
        if from == to || !on_ours {
            return Ok(None);
        }
        if desired.parameters.is_empty() {
            modification.db_parameter_group_name = Some(format!("default.{to}"));
            return Ok(None);
        }
        let group = parameter_group_name(&desired.identifier, &to);
        match self.claim_group(&group, &to, desired).await? {
            Claim::Created => report.mutations += 1,
            Claim::Ours => {}
            Claim::Foreign => return Ok(Some(foreign_group(KIND, &group))),
        }
        let current = self.user_parameters(&group).await?;
        let changes = parameter_changes(&desired.parameters, &values::<Self>(&current));
        if let Some(refused) =
            set_parameters(self, &group, &changes.set, &mut report.mutations).await?
        {
            return Ok(Some(refused.stalled(Self::SERVICE)));
        }
        modification.db_parameter_group_name = Some(group);
        Ok(None)
    }

    /// The group `group` of `family` for `desired`, created (tagged like the instance)
    /// when missing ([`claim_group`]).
    pub(crate) async fn claim_group(
        &self,
        group: &str,
        family: &str,
        desired: &DesiredInstance,
    ) -> Result<Claim, AwsError> {
        claim_group(
            self,
            group,
            family,
            group_description(&desired.identifier),
            &desired.common.tags,
        )
        .await
    }

    /// The parameters of `group`, every page (the SDK's paginator follows `Marker`);
    /// `source` narrows them (`user`).
    async fn parameters(
        &self,
        group: &str,
        source: Option<&str>,
    ) -> Result<Vec<Parameter>, AwsError> {
        self.rds
            .describe_db_parameters()
            .db_parameter_group_name(group)
            .set_source(source.map(str::to_owned))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| AwsError::from_sdk(DESCRIBE_DB_PARAMETERS, e))
    }

    /// Reboots the instance once per new value of the `tiered.io/reboot` annotation
    /// (never on its own); returns the value handled, for the status.
    pub async fn handle_reboot(
        &self,
        database: &ManagedDatabase,
        report: &Report,
    ) -> Result<Option<String>, AwsError> {
        // Only with a parameter group in the status: that is where the handled value
        // is recorded, so a reboot is never repeated for the same value.
        let Some(group) = database
            .status
            .as_ref()
            .and_then(|status| status.parameter_group.as_ref())
        else {
            return Ok(None);
        };
        let handled = group.reboot.clone();
        let Some(requested) = reboot_requested(database, handled.as_deref()) else {
            return Ok(handled);
        };
        let available = report
            .observed
            .primary
            .as_ref()
            .is_some_and(|primary| primary.db_instance_status() == Some("available"));
        if !available {
            return Ok(handled);
        }
        self.rds
            .reboot_db_instance()
            .db_instance_identifier(&report.id)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(REBOOT_DB_INSTANCE, e))?;
        tracing::info!(identifier = %report.id, "rebooting DB instance on request");
        Ok(Some(requested.to_owned()))
    }
}

/// What messages call RDS' parameter groups.
const KIND: &str = "DB parameter group";

/// The description of the group tiered owns for the DB instance `identifier`.
fn group_description(identifier: &str) -> String {
    format!("tiered: spec.parameters of DB instance {identifier}")
}

/// RDS' calls on the parameters of a DB parameter group, for the shared steps.
impl ParameterCalls for Rds {
    const SERVICE: &'static str = "RDS";
    /// With its `ApplyType`, which a reset needs.
    type Parameter = Parameter;
    /// Each parameter's `ApplyType`, defaults included, by name.
    type ApplyTypes = BTreeMap<String, String>;

    fn value(parameter: &Parameter) -> &str {
        parameter.parameter_value().unwrap_or_default()
    }

    async fn user_parameters(&self, group: &str) -> Result<BTreeMap<String, Parameter>, AwsError> {
        Ok(self
            .parameters(group, Some("user"))
            .await?
            .into_iter()
            .filter_map(|parameter| Some((parameter.parameter_name()?.to_owned(), parameter)))
            .collect())
    }

    async fn apply_types(&self, group: &str) -> Result<BTreeMap<String, String>, AwsError> {
        Ok(self
            .parameters(group, None)
            .await?
            .into_iter()
            .filter_map(|parameter| {
                Some((
                    parameter.parameter_name()?.to_owned(),
                    parameter.apply_type()?.to_owned(),
                ))
            })
            .collect())
    }

    /// Each parameter with the apply method of its `ApplyType`.
    async fn send_set(
        &self,
        group: &str,
        batch: &[(String, String)],
        types: &BTreeMap<String, String>,
    ) -> Result<(), AwsError> {
        let parameters = batch
            .iter()
            .map(|(name, value)| {
                Parameter::builder()
                    .parameter_name(name)
                    .parameter_value(value)
                    .apply_method(apply_method(types.get(name).map(String::as_str)))
                    .build()
            })
            .collect();
        let request = self
            .rds
            .modify_db_parameter_group()
            .db_parameter_group_name(group)
            .set_parameters(Some(parameters));
        sent(MODIFY_DB_PARAMETER_GROUP, request.send())
            .await
            .map(drop)
    }

    /// ResetDBParameterGroup, each parameter with the apply method of its `ApplyType`
    /// as `current` lists it.
    async fn send_reset(
        &self,
        group: &str,
        batch: &[String],
        current: &BTreeMap<String, Parameter>,
    ) -> Result<(), AwsError> {
        let parameters = batch
            .iter()
            .map(|name| {
                Parameter::builder()
                    .parameter_name(name)
                    .apply_method(apply_method(
                        current.get(name).and_then(Parameter::apply_type),
                    ))
                    .build()
            })
            .collect();
        let request = self
            .rds
            .reset_db_parameter_group()
            .db_parameter_group_name(group)
            .reset_all_parameters(false)
            .set_parameters(Some(parameters));
        sent(RESET_DB_PARAMETER_GROUP, request.send())
            .await
            .map(drop)
    }
}

// RDS' calls on DB parameter groups, for the shared steps.
group_calls! {
    Rds, rds, kind: KIND, tags: to_rds_tags,
    describe: describe_db_parameter_groups(DESCRIBE_DB_PARAMETER_GROUPS)
        -> db_parameter_groups,
    create: create_db_parameter_group(CREATE_DB_PARAMETER_GROUP),
    delete: delete_db_parameter_group(DELETE_DB_PARAMETER_GROUP),
    fields: db_parameter_group_name, db_parameter_group_family, db_parameter_group_arn,
}
