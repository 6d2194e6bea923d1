//! The pure rules of the engine parameters: the group's family and name, what a pass
//! sets and resets, each parameter's apply method, which parameters a refusal names,
//! whether a reboot is pending or requested, and the calls `tiered render` lists. No client here: the AWS calls that use these rules are
//! in the parent module.

use aws_sdk_rds::types::{ApplyMethod, DbInstance};

use crate::api::ManagedDatabase;
use crate::api::managed_database::DatabaseEngine;
use crate::api::parameters::{ParameterGroupStatus, REBOOT_ANNOTATION};
use crate::aws::rds_actions::{
    CREATE_DB_PARAMETER_GROUP, MODIFY_DB_INSTANCE, MODIFY_DB_PARAMETER_GROUP,
};
use crate::controllers::data_tier;

use crate::controllers::managed_database::desired::DesiredInstance;

pub use crate::controllers::data_tier::parameters::{
    PARAMETERS_PER_CALL, PENDING_REBOOT, ParameterChanges, parameter_changes, parameter_group_name,
    refused,
};

/// The parameter group family of `engine` at `version`: `postgres16` (from 10 on the
/// major version alone, `postgres9.6` before), `mysql8.0`, `mariadb10.11`; `None` for a
/// version without a minor part where one is needed.
pub fn parameter_family(engine: DatabaseEngine, version: &str) -> Option<String> {
    let mut parts = version.split('.');
    let major = parts.next().filter(|major| !major.is_empty())?;
    let minor = parts.next();
    let two = || minor.map(|minor| format!("{major}.{minor}"));
    match engine {
        DatabaseEngine::Postgres => match major.parse::<u32>().ok()? {
            10.. => Some(format!("postgres{major}")),
            _ => Some(format!("postgres{}", two()?)),
        },
        DatabaseEngine::Mysql => Some(format!("mysql{}", two()?)),
        DatabaseEngine::Mariadb => Some(format!("mariadb{}", two()?)),
    }
}

/// How RDS should apply a parameter of `apply_type` (`dynamic` / `static`).
pub fn apply_method(apply_type: Option<&str>) -> ApplyMethod {
    if apply_type == Some("dynamic") {
        ApplyMethod::Immediate
    } else {
        ApplyMethod::PendingReboot
    }
}

/// The group's status on `instance`: its apply status and whether a reboot is pending.
pub fn group_status(instance: &DbInstance, name: &str, family: &str) -> ParameterGroupStatus {
    let apply_status = instance
        .db_parameter_groups()
        .iter()
        .find(|group| group.db_parameter_group_name() == Some(name))
        .and_then(|group| group.parameter_apply_status().map(str::to_owned));
    data_tier::parameters::group_status(name, family, apply_status)
}

/// The value of the reboot annotation when it asks for a reboot not handled yet.
pub fn reboot_requested<'a>(
    database: &'a ManagedDatabase,
    handled: Option<&str>,
) -> Option<&'a str> {
    database
        .metadata
        .annotations
        .as_ref()?
        .get(REBOOT_ANNOTATION)
        .map(String::as_str)
        .filter(|value| Some(*value) != handled)
}

/// The calls `spec.parameters` makes on a fresh instance, for `tiered render`:
/// CreateDBParameterGroup, ModifyDBParameterGroup (apply methods as RDS' `ApplyType`
/// decides, unknown offline) and the ModifyDBInstance that attaches the group.
pub fn planned_calls(desired: &DesiredInstance) -> Vec<serde_norway::Value> {
    use serde_norway::{Mapping, Value};
    if desired.parameters.is_empty() {
        return Vec::new();
    }
    let family = desired
        .engine_version
        .as_deref()
        .and_then(|version| parameter_family(desired.engine, version))
        .unwrap_or_else(|| "<family of the version RDS picks>".to_owned());
    let group = parameter_group_name(&desired.identifier, &family);
    let call = |action: &str, parameters: Vec<(&str, Value)>| {
        let parameters: Mapping = parameters
            .into_iter()
            .map(|(key, value)| (Value::from(key), value))
            .collect();
        let mut call = Mapping::new();
        call.insert(Value::from("action"), Value::from(action));
        call.insert(Value::from("parameters"), Value::Mapping(parameters));
        Value::Mapping(call)
    };
    let tags: Mapping = desired
        .common
        .tags
        .iter()
        .map(|(key, value)| (Value::from(key.as_str()), Value::from(value.as_str())))
        .collect();
    let values: Mapping = desired
        .parameters
        .iter()
        .map(|(name, value)| (Value::from(name.as_str()), Value::from(value.as_str())))
        .collect();
    vec![
        call(
            CREATE_DB_PARAMETER_GROUP,
            vec![
                ("DBParameterGroupName", Value::from(group.as_str())),
                ("DBParameterGroupFamily", Value::from(family.as_str())),
                ("Tags", Value::Mapping(tags)),
            ],
        ),
        call(
            MODIFY_DB_PARAMETER_GROUP,
            vec![
                ("DBParameterGroupName", Value::from(group.as_str())),
                ("Parameters", Value::Mapping(values)),
                (
                    "ApplyMethod",
                    Value::from("immediate for dynamic parameters, pending-reboot for static ones"),
                ),
            ],
        ),
        call(
            MODIFY_DB_INSTANCE,
            vec![
                (
                    "DBInstanceIdentifier",
                    Value::from(desired.identifier.as_str()),
                ),
                ("DBParameterGroupName", Value::from(group.as_str())),
            ],
        ),
    ]
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
