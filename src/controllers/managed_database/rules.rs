//! AWS' rules that a ManagedDatabase spec is checked against before any call, where
//! the CRD schema cannot say them: provisioned IOPS per storage type and size, and what
//! an instance to adopt must match. Pure; table-tested.

use crate::api::managed_database::{ManagedDatabaseSpec, StorageType};
use crate::controllers::data_tier::error::InvalidSpec;
use crate::controllers::data_tier::inspect::check_adopted_engine;
use crate::controllers::managed_database::desired::{engine_name, storage_type_name};

/// Checks that an instance to adopt runs the engine and has the master user the spec
/// names, before it is tagged as ours (issue 9: "every check (engine, master user, …)
/// runs before the first mutating call"): adopting a MySQL instance as a PostgreSQL
/// database, or under another user, would hand the tiers a connection that cannot
/// work, and both fields are immutable afterwards.
///
/// # Errors
/// [`InvalidSpec`] on `spec.engine` or `spec.masterUsername`, saying what the instance
/// has.
pub fn check_adoptable(
    spec: &ManagedDatabaseSpec,
    instance: &aws_sdk_rds::types::DbInstance,
) -> Result<(), InvalidSpec> {
    let id = instance.db_instance_identifier().unwrap_or_default();
    // RDS reports the engine as created (`postgres`, `mysql`, `mariadb`).
    let engine = engine_name(spec.engine);
    let fix = |_: &str| "adopt it with the engine it runs, or adopt another instance".to_owned();
    check_adopted_engine(&format!("DB instance {id}"), instance.engine(), engine, fix)?;
    if let Some(user) = instance.master_username()
        && user != spec.master_username
    {
        return Err(InvalidSpec {
            field: "spec.masterUsername",
            reason: format!(
                "DB instance {id} has the master user {user}, not {}; set masterUsername: {user} to adopt it",
                spec.master_username
            ),
        });
    }
    Ok(())
}

/// gp3 storage below this size (GiB) has a fixed baseline (3000 IOPS, 125 MiBps) and
/// takes no IOPS or throughput setting on MariaDB, MySQL and PostgreSQL.
pub const GP3_PROVISIONED_FROM_GIB: i32 = 400;

/// Checks `iops` against AWS' RDS storage rules for MariaDB, MySQL and PostgreSQL
/// before any call, so the spec stalls naming `spec.storage.iops` instead of AWS
/// refusing the create or modify. Sources: "Amazon RDS DB instance storage" (gp3: no
/// IOPS below 400 GiB, 12,000–64,000 from 400 GiB; io1: 1,000–256,000 IOPS at 0.5–50
/// per GiB; io2: up to 1,000 per GiB; io1/io2 need IOPS), the CreateDBInstance `Iops`
/// constraints, and cloudtools/troposphere#2141 ("You can't specify IOPS or storage
/// throughput for engine mysql and a storage size less than 400").
///
/// # Errors
/// [`InvalidSpec`] on `spec.storage.iops`, saying what AWS accepts.
pub fn check_provisioned_iops(
    storage_type: StorageType,
    allocated_gib: i32,
    iops: Option<i32>,
) -> Result<(), InvalidSpec> {
    let invalid = |reason: String| InvalidSpec {
        field: "spec.storage.iops",
        reason,
    };
    let per_gib = |iops: i32| f64::from(iops) / f64::from(allocated_gib.max(1));
    match (storage_type, iops) {
        (StorageType::Gp2, _) | (StorageType::Gp3, None) => Ok(()),
        (StorageType::Gp3, Some(_)) if allocated_gib < GP3_PROVISIONED_FROM_GIB => {
            Err(invalid(format!(
                "gp3 storage below {GP3_PROVISIONED_FROM_GIB} GiB has a fixed baseline of 3000 IOPS and 125 MiBps and takes no iops; remove iops or set allocatedGiB to {GP3_PROVISIONED_FROM_GIB} or more"
            )))
        }
        (StorageType::Gp3, Some(iops)) => (12_000..=64_000)
            .contains(&iops)
            .then_some(())
            .ok_or_else(|| {
                invalid(format!(
                    "gp3 storage of {GP3_PROVISIONED_FROM_GIB} GiB or more takes 12000 to 64000 iops, not {iops}"
                ))
            }),
        (StorageType::Io1 | StorageType::Io2, None) => Err(invalid(
            "io1 and io2 storage needs provisioned iops (1000 to 256000)".to_owned(),
        )),
        (StorageType::Io1 | StorageType::Io2, Some(iops)) if !(1_000..=256_000).contains(&iops) => {
            Err(invalid(format!(
                "provisioned iops must be 1000 to 256000, not {iops}"
            )))
        }
        (kind, Some(iops)) => {
            let max_ratio = if kind == StorageType::Io1 {
                50.0
            } else {
                1000.0
            };
            let ratio = per_gib(iops);
            if (0.5..=max_ratio).contains(&ratio) {
                Ok(())
            } else {
                Err(invalid(format!(
                    "{} storage takes 0.5 to {max_ratio} iops per GiB; {iops} iops on {allocated_gib} GiB is {ratio:.1}",
                    storage_type_name(kind)
                )))
            }
        }
    }
}

/// gp3's IOPS from [`GP3_PROVISIONED_FROM_GIB`] on when the spec sets none.
pub const GP3_BASELINE_IOPS: i32 = 12_000;

/// Checks `throughput` (MiBps) against AWS' RDS gp3 rules before any call: none below
/// 400 GiB, 500–4000 from 400 GiB, and at most 0.25 MiBps per provisioned IOPS (the
/// `StorageThroughputToIopsRatio` RDS reports, 0–0.25). Sources: "Amazon RDS DB
/// instance storage" (gp3) and cloudtools/troposphere#2141 ("You can't specify IOPS or
/// storage throughput … a storage size less than 400").
///
/// # Errors
/// [`InvalidSpec`] on `spec.storage.throughputMiBps`, saying what AWS accepts.
pub fn check_storage_throughput(
    storage_type: StorageType,
    allocated_gib: i32,
    iops: Option<i32>,
    throughput: Option<i32>,
) -> Result<(), InvalidSpec> {
    let Some(throughput) = throughput else {
        return Ok(());
    };
    let invalid = |reason: String| InvalidSpec {
        field: "spec.storage.throughputMiBps",
        reason,
    };
    if storage_type != StorageType::Gp3 {
        return Err(invalid(format!(
            "{} storage takes no throughput setting; only gp3 does",
            storage_type_name(storage_type)
        )));
    }
    if allocated_gib < GP3_PROVISIONED_FROM_GIB {
        return Err(invalid(format!(
            "gp3 storage below {GP3_PROVISIONED_FROM_GIB} GiB has a fixed baseline of 125 MiBps and takes no throughput; remove throughputMiBps or set allocatedGiB to {GP3_PROVISIONED_FROM_GIB} or more"
        )));
    }
    if !(500..=4000).contains(&throughput) {
        return Err(invalid(format!(
            "gp3 storage of {GP3_PROVISIONED_FROM_GIB} GiB or more takes 500 to 4000 MiBps, not {throughput}"
        )));
    }
    let iops = iops.unwrap_or(GP3_BASELINE_IOPS);
    if f64::from(throughput) > f64::from(iops) * 0.25 {
        return Err(invalid(format!(
            "{throughput} MiBps is more than a quarter of {iops} IOPS; raise iops to {} or more, or lower throughputMiBps",
            throughput * 4
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::data_tier::testing::assert_mentions;
    use crate::controllers::managed_database::desired::DesiredInstance;
    use crate::controllers::managed_database::desired::tests::spec;
    use std::collections::BTreeMap;

    /// Asserts that the case `case` is accepted when `ok`, else refused naming `field`.
    fn assert_verdict(result: Result<(), InvalidSpec>, ok: bool, field: &str, case: &str) {
        assert_eq!(result.is_ok(), ok, "{case}: {result:?}");
        if let Err(error) = result {
            assert_eq!(error.field, field, "{case}");
        }
    }

    /// Source: issue 9 part 4 ("Every check (engine, master user, cluster mode,
    /// opt-in) runs before the first mutating call").
    #[test]
    fn adoption_checks_the_engine_and_the_master_user() {
        use aws_sdk_rds::types::DbInstance;
        let instance = |engine: &str, user: &str| {
            DbInstance::builder()
                .db_instance_identifier("legacy")
                .engine(engine)
                .master_username(user)
                .build()
        };
        assert_eq!(
            check_adoptable(&spec(), &instance("postgres", "app")),
            Ok(())
        );
        let engine = check_adoptable(&spec(), &instance("mysql", "app")).unwrap_err();
        assert_eq!(engine.field, "spec.engine");
        assert_mentions(&engine.reason, &["runs mysql"]);
        let user = check_adoptable(&spec(), &instance("postgres", "admin")).unwrap_err();
        assert_eq!(user.field, "spec.masterUsername");
        assert_mentions(&user.reason, &["masterUsername: admin"]);
    }

    /// Sources: "Amazon RDS DB instance storage" (gp3, io1, io2 ranges) and
    /// cloudtools/troposphere#2141 (AWS refuses IOPS on gp3 below 400 GiB).
    #[test]
    fn provisioned_iops_follow_aws_storage_rules() {
        use StorageType::{Gp2, Gp3, Io1, Io2};
        let cases = [
            (Gp3, 100, None, true),
            (Gp3, 100, Some(3000), false),
            (Gp3, 399, Some(12_000), false),
            (Gp3, 400, Some(12_000), true),
            (Gp3, 400, Some(11_000), false),
            (Gp3, 1000, Some(64_000), true),
            (Gp3, 1000, Some(80_000), false),
            (Gp2, 100, None, true),
            (Io1, 100, None, false),
            (Io1, 100, Some(1000), true),
            (Io1, 100, Some(5000), true),
            (Io1, 100, Some(6000), false),
            (Io1, 4000, Some(1000), false),
            (Io1, 100, Some(500), false),
            (Io2, 100, Some(50_000), true),
            (Io2, 100, Some(256_000), false),
        ];
        for (kind, gib, iops, ok) in cases {
            assert_verdict(
                check_provisioned_iops(kind, gib, iops),
                ok,
                "spec.storage.iops",
                &format!("{kind:?} {gib} GiB {iops:?}"),
            );
        }
    }

    /// Sources: "Amazon RDS DB instance storage" (gp3 throughput 500–4000 MiBps from 400
    /// GiB, ratio to IOPS at most 0.25) and cloudtools/troposphere#2141.
    #[test]
    fn storage_throughput_follows_aws_gp3_rules() {
        use StorageType::{Gp3, Io1};
        let cases = [
            (Gp3, 100, None, None, true),
            (Gp3, 100, None, Some(500), false),
            (Gp3, 400, None, Some(500), true),
            (Gp3, 400, None, Some(3000), true),
            (Gp3, 400, None, Some(3001), false),
            (Gp3, 400, Some(16_000), Some(4000), true),
            (Gp3, 400, None, Some(300), false),
            (Gp3, 400, Some(64_000), Some(4500), false),
            (Io1, 400, Some(10_000), Some(500), false),
        ];
        for (kind, gib, iops, throughput, ok) in cases {
            assert_verdict(
                check_storage_throughput(kind, gib, iops, throughput),
                ok,
                "spec.storage.throughputMiBps",
                &format!("{kind:?} {gib} GiB {iops:?} {throughput:?}"),
            );
        }
    }

    #[test]
    fn gp3_iops_below_400_gib_stall_before_any_call_naming_the_field() {
        let mut spec = spec();
        spec.storage.iops = Some(3000);
        let error = DesiredInstance::from_spec(&spec, "x".into(), BTreeMap::new()).unwrap_err();
        assert_eq!(error.field, "spec.storage.iops");
        assert!(error.reason.contains("400 GiB"), "{}", error.reason);
    }
}
