//! Every manifest in deploy/examples renders with the built `tiered render`, and the
//! AWS plans of the day-2 examples (issue 13 part 5) list each call, passwords redacted.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

fn render(file: &Path) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_tiered"))
        .arg("render")
        .arg("-f")
        .arg(file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}: {}",
        file.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn example(name: &str) -> String {
    render(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("deploy/examples")
            .join(name),
    )
}

#[test]
fn every_example_renders() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/examples");
    let mut rendered = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "yaml") {
            let text = render(&path);
            for line in text.lines().filter(|line| line.contains("assword:")) {
                assert!(
                    line.contains("<generated>"),
                    "{}: a password is shown: {line}",
                    path.display()
                );
            }
            rendered += 1;
        }
    }
    assert!(rendered >= 3, "{rendered} examples");
}

/// Checks that the plan `text` holds each of `parts`.
fn assert_plans(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "{part}:\n{text}");
    }
}

/// Source: issue 13 part 5 ("`deploy/examples/dr.yaml` (a primary in one region and its
/// cross-region replica, with the promotion field shown commented)").
#[test]
fn the_dr_example_plans_a_primary_and_its_replica_in_another_region() {
    let text = example("dr.yaml");
    assert_plans(
        &text,
        &[
            "action: rds:CreateDBInstance\n",
            "action: rds:CreateDBInstanceReadReplica",
            "SourceDBInstanceIdentifier: <ARN of ManagedDatabase newsread-db>",
            "KmsKeyId: arn:aws:kms:eu-west-1:",
            "region: eu-west-1",
            "pendingPassword: <generated>",
        ],
    );
    assert!(
        !text.contains("PromoteReadReplica"),
        "promotion is commented out"
    );
    let manifest = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/examples/dr.yaml"),
    )
    .unwrap();
    assert!(manifest.contains("# promote: true"));
}

/// Source: issue 13 part 5 ("`deploy/examples/tuned-db.yaml` (the seed's
/// `max_connections` and `pg_stat_statements`, a snapshot request, a restore from
/// snapshot)").
#[test]
fn the_tuned_db_example_plans_parameters_a_snapshot_and_a_restore() {
    let text = example("tuned-db.yaml");
    assert_plans(
        &text,
        &[
            "action: rds:CreateDBParameterGroup",
            "max_connections: '200'",
            "shared_preload_libraries: pg_stat_statements",
            "action: rds:CreateDBSnapshot",
            "action: rds:RestoreDBInstanceFromDBSnapshot",
            "MasterUserPassword: <generated>",
        ],
    );
}

/// Source: issue 13 part 5 ("the IAM statement it prints respects the partition"): it
/// named `arn:aws:` for a role in China or GovCloud, a statement that matches nothing.
#[test]
fn the_printed_iam_statement_names_the_partition_of_the_roles() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/examples/newsread.yaml"),
    )
    .unwrap()
    .replace(
        "credentials: {source: Generated}",
        "credentials: {source: AWSManaged}",
    )
    .replace("arn:aws:iam::", "arn:aws-cn:iam::");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cn.yaml");
    std::fs::write(&file, text).unwrap();
    let rendered = render(&file);
    assert!(
        rendered.contains("\"Resource\": \"arn:aws-cn:secretsmanager:*:*:secret:rds!db-*\""),
        "{rendered}"
    );
    assert!(rendered.contains("arn:aws-cn:rds:*:*:db:"), "{rendered}");
    assert!(!rendered.contains("arn:aws:secretsmanager"), "{rendered}");
}
