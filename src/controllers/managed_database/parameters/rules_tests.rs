//! Table tests of the engine parameters: family, changes, apply methods, refusals,
//! pending reboot, and what `tiered render` lists.

use std::collections::BTreeMap;

use super::*;

#[test]
fn the_family_comes_from_the_engine_and_its_version() {
    use DatabaseEngine::{Mariadb, Mysql, Postgres};
    let cases = [
        (Postgres, "16.4", Some("postgres16")),
        (Postgres, "17", Some("postgres17")),
        (Postgres, "9.6.24", Some("postgres9.6")),
        (Mysql, "8.0.35", Some("mysql8.0")),
        (Mysql, "8.4.3", Some("mysql8.4")),
        (Mariadb, "10.11.6", Some("mariadb10.11")),
        (Mysql, "8", None),
        (Postgres, "", None),
    ];
    for (engine, version, family) in cases {
        assert_eq!(
            parameter_family(engine, version).as_deref(),
            family,
            "{engine:?} {version}"
        );
    }
    assert_eq!(
        parameter_group_name("Prod-Shop-DB", "mysql8.0"),
        "prod-shop-db-mysql8-0"
    );
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn only_differing_parameters_are_set_and_removed_ones_reset() {
    let wanted = map(&[("max_connections", "200"), ("work_mem", "8192")]);
    let current = map(&[
        ("max_connections", "100"),
        ("log_min_duration_statement", "500"),
    ]);
    let changes = parameter_changes(&wanted, &current);
    assert_eq!(
        changes.set,
        vec![
            ("max_connections".to_owned(), "200".to_owned()),
            ("work_mem".to_owned(), "8192".to_owned())
        ]
    );
    assert_eq!(changes.reset, vec!["log_min_duration_statement".to_owned()]);
    assert!(parameter_changes(&wanted, &wanted).is_empty());
}

#[test]
fn dynamic_parameters_apply_now_and_the_rest_at_the_next_reboot() {
    assert_eq!(apply_method(Some("dynamic")), ApplyMethod::Immediate);
    assert_eq!(apply_method(Some("static")), ApplyMethod::PendingReboot);
    assert_eq!(apply_method(None), ApplyMethod::PendingReboot);
}

#[test]
fn a_refusal_names_the_parameters_it_quotes_or_the_whole_batch() {
    let batch = vec![
        ("max_connections".to_owned(), "x".to_owned()),
        ("work_mem".to_owned(), "1".to_owned()),
    ];
    assert_eq!(
        refused(
            &batch,
            "Could not find parameter with name: max_connections"
        ),
        ["max_connections"]
    );
    assert_eq!(refused(&batch, "invalid"), ["max_connections", "work_mem"]);
}

#[test]
fn a_reboot_is_pending_only_when_rds_says_so_for_our_group() {
    let instance = |status: &str| {
        DbInstance::builder()
            .db_parameter_groups(
                aws_sdk_rds::types::DbParameterGroupStatus::builder()
                    .db_parameter_group_name("db-postgres16")
                    .parameter_apply_status(status)
                    .build(),
            )
            .build()
    };
    assert!(group_status(&instance(PENDING_REBOOT), "db-postgres16", "postgres16").pending_reboot);
    assert!(!group_status(&instance("in-sync"), "db-postgres16", "postgres16").pending_reboot);
    assert!(!group_status(&instance(PENDING_REBOOT), "other", "postgres16").pending_reboot);
}

#[test]
fn render_lists_the_group_its_parameters_and_the_attach() {
    use crate::controllers::managed_database::plan::database_plan;
    use crate::controllers::managed_database::plan::tests::actions;
    use serde_norway::Value;

    let mut spec = crate::controllers::managed_database::desired::tests::spec();
    spec.engine_version = Some("16.4".into());
    spec.parameters = BTreeMap::from([("max_connections".to_owned(), "200".to_owned())]);
    let plan = database_plan(&spec, "prod", "shop", "db").unwrap();
    assert_eq!(
        actions(&plan),
        [
            "rds:CreateDBInstance",
            "rds:CreateDBParameterGroup",
            "rds:ModifyDBParameterGroup",
            "rds:ModifyDBInstance"
        ]
    );
    let group = format!("{}-postgres16", plan.identifier);
    assert_eq!(
        plan.calls[1]["parameters"]["DBParameterGroupName"],
        Value::from(group)
    );
    assert_eq!(
        plan.calls[1]["parameters"]["Tags"]["tiered.io/cluster"],
        "prod"
    );
    assert_eq!(
        plan.calls[2]["parameters"]["Parameters"]["max_connections"],
        "200"
    );
}
