//! The AWS calls a ManagedDatabase makes on a fresh account, for `tiered render`: the
//! CreateDBInstance and CreateDBInstanceReadReplica requests, filled in by the same
//! request builders the controller uses (and never sent), and the connection Secret it
//! then writes. Every password is replaced by
//! [`REDACTED`]; values only RDS knows are
//! named in angle brackets. Pure: the offline client has no credentials and is never
//! used to send.

use std::collections::BTreeMap;

use aws_sdk_rds::operation::create_db_instance_read_replica::builders::CreateDBInstanceReadReplicaFluentBuilder;
use serde_norway::{Mapping, Value};

use crate::api::ManagedDatabaseSpec;
use crate::api::managed_database::CredentialSource;
use crate::aws::naming::{
    rds_instance_identifier, rds_replica_identifier, rds_replica_of_identifier, stored_identifier,
};
use crate::aws::rds_actions::{
    CREATE_DB_INSTANCE, CREATE_DB_INSTANCE_READ_REPLICA, MODIFY_DB_INSTANCE, PROMOTE_READ_REPLICA,
};
use crate::aws::tags::resource_tags;

use crate::controllers::data_tier::error::InvalidSpec;
use crate::controllers::data_tier::listing::{
    Parameters, REDACTED, claim_call, offline_config, offline_owner, strings,
};
use crate::controllers::data_tier::secret::{Password, Reach, connection_secret_name};
use crate::controllers::managed_database::desired::{
    DesiredInstance, create_instance_request, create_replica_request,
};
use crate::controllers::managed_database::replica_of::{
    PROMOTED_TAG, Source, promote_request, replica_of_request,
};
use crate::controllers::managed_database::restore::Restore;
use crate::controllers::managed_database::restore_plan::restore_calls;
use crate::controllers::managed_database::secret::{
    ConnectionDetails, Credential, PENDING_PASSWORD_KEY, connection_secret_data,
};

/// The plan of one ManagedDatabase, ready to print as YAML.
#[derive(Clone, Debug, PartialEq)]
pub struct DatabasePlan {
    /// The DB instance identifier.
    pub identifier: String,
    /// `{action, parameters}` per AWS call, in order.
    pub calls: Vec<Value>,
    /// The connection Secret: `{name, data}`, values redacted.
    pub secret: Value,
}

/// An RDS client that only builds requests ([`offline_config`]), for the plan and
/// the request builders' tests.
pub(crate) fn client() -> aws_sdk_rds::Client {
    aws_sdk_rds::Client::new(&offline_config())
}

/// The plan of `spec` for the object `namespace/name` in `cluster`.
pub fn database_plan(
    spec: &ManagedDatabaseSpec,
    cluster: &str,
    namespace: &str,
    name: &str,
) -> Result<DatabasePlan, InvalidSpec> {
    let owner = offline_owner(cluster, namespace, name);
    let identifier = match (&spec.adopt, &spec.replica_of) {
        (Some(adopt), _) => stored_identifier(&adopt.identifier),
        (None, Some(_)) => rds_replica_of_identifier(cluster, namespace, name),
        (None, None) => rds_instance_identifier(cluster, namespace, name),
    };
    let desired =
        DesiredInstance::from_spec(spec, identifier.clone(), resource_tags(&owner, &spec.tags))?;
    let client = client();
    let redacted = Password::from_secret_value(REDACTED.to_owned());
    let mut calls = Vec::new();
    if spec.adopt.is_some() {
        let instance = format!("DB instance {identifier}");
        calls.push(claim_call(
            crate::aws::rds_actions::ADD_TAGS_TO_RESOURCE,
            &instance,
            &desired.common.tags,
        ));
    } else if let Some(source) = &desired.replica_source {
        calls.extend(replica_of_calls(&client, &desired, source));
    } else if let Some(restore) = Restore::from_spec(spec)? {
        calls.extend(restore_calls(&client, &desired, &restore));
    } else {
        calls.push(create_call(&client, &desired, &redacted));
    }
    for index in 1..=desired.read_replicas {
        let replica_id = rds_replica_identifier(&identifier, index);
        calls.push(replica_call(&create_replica_request(
            client.create_db_instance_read_replica(),
            &desired,
            &replica_id,
        )));
    }
    calls.extend(crate::controllers::managed_database::parameters::planned_calls(&desired));
    for name in &desired.snapshots {
        calls.push(snapshot_call(&client, &desired, name));
    }
    if let Some(region) = &spec.region {
        // Every call of this object goes to its own region's endpoint.
        for call in &mut calls {
            if let Value::Mapping(call) = call {
                call.insert(Value::from("region"), Value::from(region.as_str()));
            }
        }
    }
    Ok(DatabasePlan {
        identifier,
        calls,
        secret: planned_secret(spec, name, namespace, desired.read_replicas > 0),
    })
}

/// CreateDBInstance as the controller fills it in.
fn create_call(
    client: &aws_sdk_rds::Client,
    desired: &DesiredInstance,
    redacted: &Password,
) -> Value {
    let request = create_instance_request(client.create_db_instance(), desired, Some(redacted));
    let input = request.as_input();
    let mut p = Parameters::new();
    p.put("DBInstanceIdentifier", input.get_db_instance_identifier());
    p.put("Engine", input.get_engine());
    p.put("EngineVersion", input.get_engine_version());
    p.put("DBInstanceClass", input.get_db_instance_class());
    p.put("AllocatedStorage", input.get_allocated_storage());
    p.put("MaxAllocatedStorage", input.get_max_allocated_storage());
    p.put("StorageType", input.get_storage_type());
    p.put("Iops", input.get_iops());
    p.put("StorageThroughput", input.get_storage_throughput());
    p.put("StorageEncrypted", input.get_storage_encrypted());
    p.put("KmsKeyId", input.get_kms_key_id());
    p.put("MultiAZ", input.get_multi_az());
    p.put("DBName", input.get_db_name());
    p.put("MasterUsername", input.get_master_username());
    p.put(
        "MasterUserPassword",
        input.get_master_user_password().as_ref().map(|_| REDACTED),
    );
    p.put(
        "ManageMasterUserPassword",
        input.get_manage_master_user_password(),
    );
    p.put("DBSubnetGroupName", input.get_db_subnet_group_name());
    p.put(
        "VpcSecurityGroupIds",
        strings(input.get_vpc_security_group_ids().as_ref()),
    );
    p.put("BackupRetentionPeriod", input.get_backup_retention_period());
    p.put("PreferredBackupWindow", input.get_preferred_backup_window());
    p.put(
        "PreferredMaintenanceWindow",
        input.get_preferred_maintenance_window(),
    );
    p.put("DeletionProtection", input.get_deletion_protection());
    p.put("PubliclyAccessible", input.get_publicly_accessible());
    p.put("CopyTagsToSnapshot", input.get_copy_tags_to_snapshot());
    p.put(
        "EnablePerformanceInsights",
        input.get_enable_performance_insights(),
    );
    p.put(
        "PerformanceInsightsRetentionPeriod",
        input.get_performance_insights_retention_period(),
    );
    p.tags(input.get_tags().as_ref());
    p.call(CREATE_DB_INSTANCE)
}

/// The calls that make `desired` a replica of `source`: CreateDBInstanceReadReplica,
/// and with `promote` the promotion, its record and the new master password.
fn replica_of_calls(
    client: &aws_sdk_rds::Client,
    desired: &DesiredInstance,
    source: &Source,
) -> Vec<Value> {
    let mut calls = vec![replica_call(&replica_of_request(
        client.create_db_instance_read_replica(),
        desired,
        &source.describe(),
    ))];
    if desired.promote {
        let request = promote_request(client.promote_read_replica(), desired);
        let input = request.as_input();
        let mut p = Parameters::new();
        p.put("DBInstanceIdentifier", input.get_db_instance_identifier());
        p.put("BackupRetentionPeriod", input.get_backup_retention_period());
        p.put("PreferredBackupWindow", input.get_preferred_backup_window());
        calls.push(p.call(PROMOTE_READ_REPLICA));
        let mut tag = Parameters::new();
        tag.put(
            "ResourceName",
            Some(format!("<ARN of DB instance {}>", desired.identifier)),
        );
        tag.tag_map(&BTreeMap::from([(
            PROMOTED_TAG.to_owned(),
            "<time of the request>".to_owned(),
        )]));
        calls.push(tag.call(crate::aws::rds_actions::ADD_TAGS_TO_RESOURCE));
        calls.push(set_password_call(&desired.identifier));
    }
    calls
}

/// The ModifyDBInstance that gives an instance tiered's generated password once it
/// can take one (after a restore or a promotion); the password redacted.
pub(crate) fn set_password_call(identifier: &str) -> Value {
    let mut set = Parameters::new();
    set.put("DBInstanceIdentifier", Some(identifier));
    set.put("MasterUserPassword", Some(REDACTED));
    set.put("ApplyImmediately", Some(true));
    set.call(MODIFY_DB_INSTANCE)
}

/// CreateDBInstanceReadReplica as the controller fills it in.
fn replica_call(request: &CreateDBInstanceReadReplicaFluentBuilder) -> Value {
    let input = request.as_input();
    let mut p = Parameters::new();
    p.put("DBInstanceIdentifier", input.get_db_instance_identifier());
    p.put(
        "SourceDBInstanceIdentifier",
        input.get_source_db_instance_identifier(),
    );
    p.put("DBInstanceClass", input.get_db_instance_class());
    p.put("StorageType", input.get_storage_type());
    p.put("MaxAllocatedStorage", input.get_max_allocated_storage());
    p.put("KmsKeyId", input.get_kms_key_id());
    p.put("MultiAZ", input.get_multi_az());
    p.put("DBSubnetGroupName", input.get_db_subnet_group_name());
    p.put(
        "VpcSecurityGroupIds",
        strings(input.get_vpc_security_group_ids().as_ref()),
    );
    p.put("DeletionProtection", input.get_deletion_protection());
    p.put("PubliclyAccessible", input.get_publicly_accessible());
    p.put("CopyTagsToSnapshot", input.get_copy_tags_to_snapshot());
    p.tags(input.get_tags().as_ref());
    p.call(CREATE_DB_INSTANCE_READ_REPLICA)
}

/// CreateDBSnapshot of a snapshot on request, as the controller fills it in.
fn snapshot_call(client: &aws_sdk_rds::Client, desired: &DesiredInstance, name: &str) -> Value {
    let request = crate::controllers::managed_database::snapshots::create_snapshot_request(
        client.create_db_snapshot(),
        desired,
        name,
    );
    let input = request.as_input();
    let mut p = Parameters::new();
    p.put("DBInstanceIdentifier", input.get_db_instance_identifier());
    p.put("DBSnapshotIdentifier", input.get_db_snapshot_identifier());
    p.tags(input.get_tags().as_ref());
    p.call(crate::aws::rds_actions::CREATE_DB_SNAPSHOT)
}

fn planned_secret(
    spec: &ManagedDatabaseSpec,
    name: &str,
    namespace: &str,
    replicas: bool,
) -> Value {
    let generated = spec
        .credentials
        .as_ref()
        .is_none_or(|credentials| credentials.source == CredentialSource::Generated);
    let replica_waits = spec
        .replica_of
        .as_ref()
        .is_some_and(|replica_of| !replica_of.promote);
    let details = ConnectionDetails {
        engine: spec.engine,
        reach: Reach {
            host: Some(if replica_waits {
                "<read-only replica endpoint from RDS>".to_owned()
            } else {
                "<writer endpoint from RDS>".to_owned()
            }),
            port: crate::controllers::managed_database::desired::default_port(spec.engine),
            reader_host: replicas.then(|| "<first read replica endpoint from RDS>".to_owned()),
        },
        username: spec.master_username.clone(),
        database: spec.database_name.clone(),
        credential: if generated && replica_waits {
            // The source's password works until promotion; tiered's own is pending.
            Credential::AwsManaged(None)
        } else if generated {
            Credential::Generated(Password::from_secret_value(REDACTED.to_owned()))
        } else {
            Credential::AwsManaged(Some("<Secrets Manager ARN from RDS>".to_owned()))
        },
    };
    let data: BTreeMap<String, String> = connection_secret_data(&details)
        .into_iter()
        .map(|(key, value)| (key, String::from_utf8_lossy(&value.0).into_owned()))
        .collect();
    // The URL percent-encodes the placeholders; show them as written elsewhere.
    let mut data: BTreeMap<String, String> = data;
    if generated && replica_waits {
        data.insert(PENDING_PASSWORD_KEY.to_owned(), REDACTED.to_owned());
    }
    let data: Mapping = data
        .into_iter()
        .map(|(key, value)| {
            let value = value
                .replace("%3Cgenerated%3E", REDACTED)
                .replace("%3C", "<")
                .replace("%3E", ">");
            (Value::from(key), Value::from(value))
        })
        .collect();
    let mut secret = Mapping::new();
    secret.insert(
        Value::from("name"),
        Value::from(format!("{namespace}/{}", connection_secret_name(name))),
    );
    secret.insert(Value::from("data"), Value::Mapping(data));
    Value::Mapping(secret)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::controllers::data_tier::listing::UID_PLACEHOLDER;
    use crate::controllers::managed_database::desired::tests::spec;

    fn parameters(plan: &DatabasePlan, index: usize) -> &Value {
        &plan.calls[index]["parameters"]
    }

    /// The actions of the plan's calls, in order.
    pub(crate) fn actions(plan: &DatabasePlan) -> Vec<&str> {
        plan.calls
            .iter()
            .filter_map(|call| call["action"].as_str())
            .collect()
    }

    #[test]
    fn a_fresh_database_plans_one_create_with_its_tags_and_a_redacted_password() {
        let plan = database_plan(&spec(), "prod", "shop", "db").unwrap();
        assert_eq!(plan.calls.len(), 1);
        assert_eq!(plan.calls[0]["action"], Value::from("rds:CreateDBInstance"));
        let create = parameters(&plan, 0);
        assert_eq!(
            create["DBInstanceIdentifier"],
            Value::from(plan.identifier.clone())
        );
        assert!(
            plan.identifier.starts_with("prod-shop-db"),
            "{}",
            plan.identifier
        );
        assert_eq!(create["MasterUserPassword"], Value::from(REDACTED));
        assert_eq!(create["Tags"]["team"], Value::from("news"));
        assert_eq!(create["Tags"]["tiered.io/cluster"], Value::from("prod"));
        assert_eq!(
            create["Tags"]["tiered.io/uid"],
            Value::from(UID_PLACEHOLDER)
        );
        assert_eq!(create["MaxAllocatedStorage"], Value::from(500));
    }

    #[test]
    fn each_replica_is_one_more_call_and_the_secret_gets_a_reader_host() {
        let mut spec = spec();
        spec.high_availability = Some(crate::api::managed_database::HighAvailability {
            multi_az: true,
            read_replicas: 2,
        });
        let plan = database_plan(&spec, "prod", "shop", "db").unwrap();
        assert_eq!(
            actions(&plan),
            [
                "rds:CreateDBInstance",
                "rds:CreateDBInstanceReadReplica",
                "rds:CreateDBInstanceReadReplica"
            ]
        );
        assert_eq!(
            parameters(&plan, 1)["SourceDBInstanceIdentifier"],
            Value::from(plan.identifier.clone())
        );
        assert!(plan.secret["data"].get("readerHost").is_some());
    }

    #[test]
    fn the_secret_shows_every_key_with_the_password_redacted() {
        let plan = database_plan(&spec(), "prod", "shop", "db").unwrap();
        assert_eq!(plan.secret["name"], Value::from("shop/db-connection"));
        let data = &plan.secret["data"];
        assert_eq!(data["password"], Value::from(REDACTED));
        assert_eq!(
            data["url"],
            Value::from("postgresql://app:<generated>@<writer endpoint from RDS>:5432/newsreadb")
        );
        for key in ["host", "port", "username", "database"] {
            assert!(data.get(key).is_some(), "{key}");
        }
    }
}
