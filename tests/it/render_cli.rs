//! `tiered render` as a user runs it: the built binary on the example and on bad files,
//! asserting exit codes, messages and (by snapshot) the example's plan; and its output,
//! like `tiered crd`'s, piped into a reader that quits early.

#![allow(
    clippy::unwrap_used,
    reason = "helpers outside #[test] functions unwrap too; a failure is a test failure"
)]

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/examples/newsread.yaml");

fn tiered_render(files: &[&Path], stdin: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tiered"));
    command.arg("render");
    for file in files {
        command.arg("-f").arg(file);
    }
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin.unwrap_or_default().as_bytes())
        .unwrap();
    drop(pipe);
    child.wait_with_output().unwrap()
}

/// The file `name` holding `text` in a new temporary directory (alive as long as the
/// returned handle).
fn in_temp_dir(name: &str, text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn stderr_of(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// Renders `text` as the file `name` and expects a refusal with nothing printed to
/// apply, and each of `expected` in stderr (`{file}` standing for the file's path as
/// messages show it).
fn assert_rejected(name: &str, text: &str, expected: &[&str]) {
    let (_dir, file) = in_temp_dir(name, text);
    let output = tiered_render(&[&file], None);
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "nothing is printed to apply");
    let stderr = stderr_of(&output);
    for expected in expected {
        let expected = expected.replace("{file}", &file.display().to_string());
        assert!(
            stderr.contains(&expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
}

#[test]
fn the_example_renders_every_object_the_operator_would_apply() {
    let output = tiered_render(&[Path::new(EXAMPLE)], None);
    assert!(output.status.success(), "{}", stderr_of(&output));
    let stdout = String::from_utf8(output.stdout).unwrap();
    insta::assert_snapshot!("newsread_render", stdout);
}

#[test]
fn the_rendered_documents_are_complete_kubernetes_objects() {
    let output = tiered_render(&[Path::new(EXAMPLE)], None);
    let stdout = String::from_utf8(output.stdout).unwrap();
    let mut kinds = Vec::new();
    for document in serde_norway::Deserializer::from_str(&stdout) {
        let value = <serde_norway::Value as serde::Deserialize>::deserialize(document).unwrap();
        if value.is_null() {
            continue;
        }
        assert!(value.get("apiVersion").and_then(|v| v.as_str()).is_some());
        assert!(value.get("status").is_none());
        let metadata = value.get("metadata").unwrap();
        assert!(metadata.get("managedFields").is_none());
        assert_eq!(
            metadata.get("namespace").and_then(|v| v.as_str()),
            Some("newsread")
        );
        kinds.push(value.get("kind").unwrap().as_str().unwrap().to_owned());
    }
    // web, api, worker: 3 Deployments, 2 Services, 2 HPAs, 3 PDBs, 3 NetworkPolicies, 1 Ingress.
    let count = |kind: &str| kinds.iter().filter(|k| *k == kind).count();
    assert_eq!(
        [
            "Deployment",
            "Service",
            "HorizontalPodAutoscaler",
            "PodDisruptionBudget",
            "NetworkPolicy",
            "Ingress"
        ]
        .map(count),
        [3, 2, 2, 3, 3, 1]
    );
}

#[test]
fn standard_input_is_read_with_a_dash() {
    let example = std::fs::read_to_string(EXAMPLE).unwrap();
    let from_file = tiered_render(&[Path::new(EXAMPLE)], None);
    let from_stdin = tiered_render(&[Path::new("-")], Some(&example));
    assert!(from_stdin.status.success(), "{}", stderr_of(&from_stdin));
    assert_eq!(from_stdin.stdout, from_file.stdout);
}

#[test]
fn a_field_of_the_wrong_type_names_the_file_the_object_and_the_field() {
    assert_rejected(
        "bad.yaml",
        "apiVersion: tiered.io/v1alpha1\nkind: TieredApp\nmetadata: {name: newsread, namespace: shop}\nspec:\n  tiers:\n    - {name: web, role: presentation, image: w:1, port: eighty}\n",
        &["error: {file}: TieredApp shop/newsread: spec.tiers[0].port: invalid type"],
    );
}

#[test]
fn every_problem_in_every_file_is_reported() {
    let (dir, bad) = in_temp_dir(
        "bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n---\napiVersion: tiered.io/v1alpha1\nkind: TieredApp\nmetadata: {name: shop}\nspec:\n  tiers:\n    - {name: web, role: presentation, image: w:1, port: 80, calls: [jobs]}\n    - {name: jobs, role: worker, image: j:1}\n",
    );
    let missing = dir.path().join("missing.yaml");
    let output = tiered_render(&[&bad, &missing], None);
    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr_of(&output);
    let file = bad.display();
    for expected in [
        format!(
            "error: {file}: document 0: \"ConfigMap\" of apiVersion \"v1\" is not a tiered kind"
        ),
        format!(
            "error: {file}: TieredApp default/shop: spec.tiers[0].calls[0]: \"jobs\" has no port"
        ),
        format!("error: {}: failed to read the file", missing.display()),
        "error: failed to render: 3 problem(s)".to_owned(),
    ] {
        assert!(
            stderr.contains(&expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
}

#[test]
fn broken_yaml_names_the_file_and_document() {
    assert_rejected(
        "broken.yaml",
        "kind: TieredApp\n---\nspec: [\n",
        &[
            "error: {file}: document 0: \"TieredApp\" of apiVersion \"\"",
            "error: {file}: document 1: failed to parse YAML",
        ],
    );
}

#[test]
fn a_data_tier_object_with_a_bad_field_is_rejected() {
    assert_rejected(
        "db.yaml",
        "apiVersion: tiered.io/v1alpha1\nkind: ManagedDatabase\nmetadata: {name: db, namespace: shop}\nspec: {engine: oracle}\n",
        &["ManagedDatabase shop/db: spec.engine: unknown variant `oracle`"],
    );
}

#[test]
fn replicas_next_to_autoscaling_warns_but_renders() {
    let (_dir, app) = in_temp_dir(
        "app.yaml",
        "apiVersion: tiered.io/v1alpha1\nkind: TieredApp\nmetadata: {name: shop}\nspec:\n  tiers:\n    - {name: api, role: application, image: a:1, port: 80, replicas: 3, autoscaling: {minReplicas: 2, maxReplicas: 4}}\n",
    );
    let output = tiered_render(&[&app], None);
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert!(stderr_of(&output).contains("warning: "));
    assert!(
        stderr_of(&output).contains("TieredApp default/shop: spec.tiers[0].replicas: is ignored")
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("namespace: default"));
}

fn tiered_render_args(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tiered"))
        .arg("render")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// The comment block of the ManagedDatabase plan, without the `#` prefixes, as YAML.
fn database_plan(stdout: &str) -> serde_norway::Value {
    let lines = stdout
        .lines()
        .skip_while(|line| !line.starts_with("# ManagedDatabase "))
        .skip(2);
    serde_norway::from_str(&comment_block(lines)).unwrap()
}

/// The lines of the indented comment block (`#   …`) that `lines` start with, without
/// the prefix.
fn comment_block<'a>(lines: impl Iterator<Item = &'a str>) -> String {
    lines
        .take_while(|line| line.starts_with("#   "))
        .map(|line| &line[4..])
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_managed_database_renders_as_the_aws_calls_it_would_make_with_passwords_redacted() {
    let output = tiered_render_args(&["-f", EXAMPLE, "--cluster-name", "prod"]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let plan = database_plan(&stdout);
    let calls = plan["awsCalls"].as_sequence().unwrap();
    let actions: Vec<&str> = calls
        .iter()
        .map(|call| call["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["rds:CreateDBInstance", "rds:CreateDBInstanceReadReplica"],
        "one create and one replica (readReplicas: 1)"
    );
    let create = &calls[0]["parameters"];
    let identifier = create["DBInstanceIdentifier"].as_str().unwrap();
    assert!(
        identifier.starts_with("prod-newsread-newsread-db"),
        "{identifier}"
    );
    assert_eq!(create["DBInstanceClass"].as_str(), Some("db.r6g.large"));
    assert_eq!(create["MasterUserPassword"].as_str(), Some("<generated>"));
    assert_eq!(create["Tags"]["tiered.io/cluster"].as_str(), Some("prod"));
    assert_eq!(create["Tags"]["team"].as_str(), Some("news"));
    assert_eq!(
        calls[1]["parameters"]["SourceDBInstanceIdentifier"].as_str(),
        Some(identifier)
    );
    let secret = &plan["connectionSecret"];
    assert_eq!(
        secret["name"].as_str(),
        Some("newsread/newsread-db-connection")
    );
    for key in ["host", "port", "username", "database", "url", "readerHost"] {
        assert!(secret["data"].get(key).is_some(), "{key}");
    }
    assert_eq!(secret["data"]["password"].as_str(), Some("<generated>"));
    assert!(
        secret["data"]["url"]
            .as_str()
            .unwrap()
            .starts_with("postgresql://app:<generated>@"),
        "{:?}",
        secret["data"]["url"]
    );
}

#[test]
fn the_cluster_name_defaults_to_render_and_changes_the_identifier() {
    let output = tiered_render_args(&["-f", EXAMPLE]);
    let stdout = String::from_utf8(output.stdout).unwrap();
    let plan = database_plan(&stdout);
    let identifier = plan["awsCalls"][0]["parameters"]["DBInstanceIdentifier"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(identifier.starts_with("render-"), "{identifier}");
    assert_eq!(
        plan["awsCalls"][0]["parameters"]["Tags"]["tiered.io/cluster"].as_str(),
        Some("render")
    );
}

/// The example with `credentials.source: AWSManaged`, written to a temporary directory
/// (alive as long as the returned handle).
fn aws_managed_example() -> (tempfile::TempDir, std::path::PathBuf) {
    let text = std::fs::read_to_string(EXAMPLE).unwrap().replace(
        "credentials: {source: Generated}",
        "credentials: {source: AWSManaged}",
    );
    in_temp_dir("managed.yaml", &text)
}

#[test]
fn an_aws_managed_password_is_not_sent_and_the_secret_carries_the_arn() {
    let (_dir, file) = aws_managed_example();
    let output = tiered_render_args(&["-f", file.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    let plan = database_plan(&String::from_utf8(output.stdout).unwrap());
    let create = &plan["awsCalls"][0]["parameters"];
    assert!(create.get("MasterUserPassword").is_none());
    assert_eq!(create["ManageMasterUserPassword"].as_bool(), Some(true));
    let data = &plan["connectionSecret"]["data"];
    assert!(data.get("password").is_none());
    assert!(data.get("masterUserSecretArn").is_some());
}

/// The comment block of `tier` that lists the IAM statement, parsed back to JSON.
fn identity_statement(stdout: &str, tier: &str) -> serde_json::Value {
    let start = stdout
        .find(&format!(
            "# tier {tier}: ManagedDatabase newsread-db keeps its password"
        ))
        .unwrap_or_else(|| panic!("no identity note for tier {tier}:\n{stdout}"));
    let lines = stdout[start..]
        .lines()
        .skip_while(|line| !line.starts_with("#   {"));
    serde_json::from_str(&comment_block(lines)).unwrap()
}

#[test]
fn an_aws_managed_password_shows_the_iam_statement_each_tier_role_needs() {
    let (_dir, file) = aws_managed_example();
    let output = tiered_render_args(&["--cluster-name", "prod", "-f", file.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    assert!(
        stdout.contains(
            "Add this statement to the role arn:aws:iam::123456789012:role/newsread-api:"
        ),
        "{stdout}"
    );
    let statement = identity_statement(&stdout, "api");
    assert_eq!(statement["Effect"], "Allow");
    assert_eq!(
        statement["Action"],
        serde_json::json!([
            "secretsmanager:GetSecretValue",
            "secretsmanager:DescribeSecret"
        ])
    );
    let identifier =
        tiered::aws::naming::rds_instance_identifier("prod", "newsread", "newsread-db");
    assert_eq!(
        statement["Condition"]["StringLike"]["secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn"],
        format!("arn:aws:rds:*:*:db:{identifier}")
    );
    // The worker reads the same database but has no identity: the statement is shown,
    // and a warning says what is missing.
    assert_eq!(identity_statement(&stdout, "worker"), statement);
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("tier worker uses ManagedDatabase newsread-db")
            && stderr.contains("no serviceAccount.roleArn"),
        "{stderr}"
    );
    // The output still applies: the notes are comments.
    assert!(stdout.contains("kind: ServiceAccount"));
}

#[test]
fn a_pod_identity_tier_gets_the_association_command() {
    let text = std::fs::read_to_string(EXAMPLE).unwrap().replace(
        r#"serviceAccount: {roleArn: "arn:aws:iam::123456789012:role/newsread-api"}"#,
        r#"serviceAccount: {roleArn: "arn:aws:iam::123456789012:role/newsread-api", provider: PodIdentity}"#,
    );
    assert_ne!(text, std::fs::read_to_string(EXAMPLE).unwrap());
    let (_dir, file) = in_temp_dir("pod-identity.yaml", &text);
    let output = tiered_render_args(&["--cluster-name", "prod", "-f", file.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.contains("#   aws eks create-pod-identity-association --cluster-name prod --namespace newsread --service-account newsread-api --role-arn arn:aws:iam::123456789012:role/newsread-api"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("eks.amazonaws.com/role-arn"),
        "no IRSA annotation"
    );
}

/// Issue 13 part 5: a CacheCluster's ElastiCache calls, the day-2 ones included (the
/// owned parameter group, the restore, a snapshot on request), AUTH token redacted.
#[test]
fn a_cache_renders_every_elasticache_call_with_the_token_redacted() {
    let manifest = r"
apiVersion: tiered.io/v1alpha1
kind: CacheCluster
metadata: {name: tuned-cache, namespace: shop}
spec:
  engine: valkey
  engineVersion: '8.0'
  nodeType: cache.r7g.large
  replicasPerShard: 1
  network: {subnetGroupName: app-cache, securityGroupIds: [sg-0def1234]}
  snapshot: {retentionDays: 5, window: '04:00-05:00'}
  restoreFrom: {snapshotName: nightly-2026-11-29}
  parameters: {maxmemory-policy: allkeys-lru, timeout: '300'}
  snapshots: [{name: before-upgrade}]
  tags: {team: news}
";
    let output = tiered_render(&[Path::new("-")], Some(manifest));
    assert!(output.status.success(), "{}", stderr_of(&output));
    let stdout = String::from_utf8(output.stdout).unwrap();
    for action in [
        "elasticache:CreateCacheParameterGroup",
        "elasticache:ModifyCacheParameterGroup",
        "elasticache:CreateReplicationGroup",
        "elasticache:CreateSnapshot",
    ] {
        assert!(
            stdout.contains(&format!("action: {action}")),
            "{action}: {stdout}"
        );
    }
    assert!(stdout.contains("AuthToken: <generated>"), "{stdout}");
    insta::assert_snapshot!("cache_day2_render", stdout);
}

#[test]
fn a_reader_that_closes_the_pipe_early_is_not_an_error() {
    // `tiered crd | head -1`, `tiered render -f app.yaml | less` quit early: the rest of
    // the output has nowhere to go, and that is not a failure of the command (as with
    // other Unix tools). The CRDs are larger than a pipe's buffer, so the write fails.
    let mut child = Command::new(env!("CARGO_BIN_EXE_tiered"))
        .arg("crd")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert_eq!(stderr_of(&output), "");
    assert!(output.status.success(), "{:?}", output.status);
}
