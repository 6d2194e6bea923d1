//! The README's kubectl commands, run as written against the emulator (sandbox mode),
//! moto and the operator, so the README cannot drift from what works: every `kubectl`
//! line of a shell block in the sections below is either run, in the README's order,
//! and must succeed, or named in [`NEEDS_A_CLUSTER`] with what it needs that this
//! machine has not. A new kubectl line in those sections fails this test until it is
//! one or the other. Each section runs on a fresh emulator: they are alternative paths
//! (the quick "Use" against a cluster that has the operator, the EKS install).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::Duration;

use crate::e2e_newsread::prepare_account;
use crate::support::moto::{MotoServer, aws_config};
use crate::support::operator::{Running, emulator, launch_with_aws, test_config};
use crate::support::tools::{crate_root, kubectl_path};

/// The README's sections whose kubectl commands run here, as groups that each start on
/// a fresh emulator.
const PATHS: &[&[&str]] = &[
    &["Use"],
    &[
        "Install on EKS, end to end",
        "Use with Argo CD",
        "Deletion and your data",
        "Troubleshooting",
    ],
];

/// kubectl commands of those sections that need what this machine has not, by prefix.
const NEEDS_A_CLUSTER: &[(&str, &str)] = &[
    (
        "kubectl -n tiered-system rollout status deployment/tiered-operator",
        "the operator Deployment of `helm install` (the Helm install test of scripts/test.sh packaging)",
    ),
    (
        "kubectl apply -f deploy/argocd/application.yaml",
        "Argo CD's Application CRD",
    ),
    (
        "kubectl logs -n tiered-system deployment/tiered-operator",
        "a kubelet (the emulator runs no pods)",
    ),
];

/// The kubectl commands of `section` in the order they appear: the lines of its `sh`
/// blocks (continuations joined, comments cut) and the inline `` `kubectl … -n …` ``
/// spans of its text (a command to run names the example's namespace; a mention of
/// kubectl's behaviour in prose, like `kubectl get -w`, does not).
fn kubectl_lines(readme: &str, section: &str) -> Vec<String> {
    let heading = format!("## {section}\n");
    let start = readme
        .find(&heading)
        .unwrap_or_else(|| panic!("README has no section {section:?}"));
    let body = &readme[start + heading.len()..];
    let body = &body[..body.find("\n## ").unwrap_or(body.len())];
    let mut lines = Vec::new();
    for (index, part) in body.split("```").enumerate() {
        if index % 2 == 1 {
            // A fenced block: only shell blocks hold commands.
            let Some(block) = part.strip_prefix("sh\n") else {
                continue;
            };
            let joined = block.replace("\\\n", " ");
            for line in joined.lines().map(str::trim) {
                if line.starts_with("kubectl ") {
                    let command = line.split(" #").next().unwrap_or(line).trim();
                    lines.push(command.to_owned());
                }
            }
        } else {
            let spans = part.split('`').skip(1).step_by(2);
            lines.extend(
                spans
                    .filter(|span| span.starts_with("kubectl ") && span.contains(" -n "))
                    .map(str::to_owned),
            );
        }
    }
    lines
}

/// An emulator in sandbox mode with the CRDs and no namespace but `default`, moto with
/// the example's subnet groups, and the operator on every namespace.
async fn environment() -> (Running, MotoServer) {
    let moto = MotoServer::start();
    prepare_account(&moto);
    let emulator = emulator(&[], true).await;
    let client = emulator.client();
    let instance = launch_with_aws(client.clone(), test_config(&[]), &aws_config(&moto)).await;
    let op = Running {
        emulator,
        client,
        shutdown: instance.shutdown,
        http: instance.http,
        task: instance.task,
    };
    (op, moto)
}

/// Runs `command` (a README line) with the kubeconfig of `op`, in `dir` (which holds the
/// files the line names); a `| grep x` tail is checked on the output. A watch (`-w`) runs
/// for three seconds and must have printed its first rows without an error.
async fn run(command: &str, dir: &Path, kubeconfig: &Path) -> String {
    let (command, grep) = match command.split_once(" | grep ") {
        Some((command, pattern)) => (command, Some(pattern.trim())),
        None => (command, None),
    };
    let words = shlex::split(command).unwrap_or_else(|| panic!("cannot split {command:?}"));
    let watch = words.iter().any(|w| w == "-w" || w == "--watch");
    let mut child = tokio::process::Command::new(kubectl_path())
        .args(&words[1..])
        .current_dir(dir)
        .env("KUBECONFIG", kubeconfig)
        .kill_on_drop(true)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (stdout, stderr, success) = if watch {
        // A watch runs until stopped: what it printed in three seconds, and that it
        // had not failed by then.
        use tokio::io::AsyncReadExt;
        let mut pipe = child.stdout.take().unwrap();
        let mut printed = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(3), pipe.read_to_end(&mut printed)).await;
        let failed = child
            .try_wait()
            .unwrap()
            .is_some_and(|status| !status.success());
        child.kill().await.unwrap();
        let mut stderr = String::new();
        let _ = child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .await;
        (
            String::from_utf8_lossy(&printed).into_owned(),
            stderr,
            !failed && !printed.is_empty(),
        )
    } else {
        let output = tokio::time::timeout(Duration::from_mins(1), child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("{command:?} did not finish within 60 s"))
            .unwrap();
        (
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
            output.status.success(),
        )
    };
    assert!(
        success,
        "README command {command:?} failed:\n{stdout}{stderr}"
    );
    if let Some(pattern) = grep {
        assert!(
            stdout.contains(pattern),
            "{command:?} | grep {pattern}: {stdout}"
        );
    }
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_local_kubectl_command_of_the_readme_works_as_written() {
    let readme = std::fs::read_to_string(crate_root().join("README.md")).unwrap();
    let mut unused_skips: Vec<&str> = NEEDS_A_CLUSTER.iter().map(|(prefix, _)| *prefix).collect();
    for sections in PATHS {
        let (op, _moto) = environment().await;
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = op.emulator.write_kubeconfig(dir.path()).unwrap();
        // What the lines name: the repository's files, and the `newsread.yaml` step 6
        // makes with sed from the example (its substitutions are AWS ids).
        std::os::unix::fs::symlink(crate_root().join("deploy"), dir.path().join("deploy")).unwrap();
        std::fs::copy(
            crate_root().join("deploy/examples/newsread.yaml"),
            dir.path().join("newsread.yaml"),
        )
        .unwrap();
        for section in *sections {
            if *section == "Use with Argo CD" {
                // What an Argo CD install has: its namespace and argocd-cm.
                run("kubectl create namespace argocd", dir.path(), &kubeconfig).await;
                run(
                    "kubectl -n argocd create configmap argocd-cm",
                    dir.path(),
                    &kubeconfig,
                )
                .await;
            }
            let lines = kubectl_lines(&readme, section);
            assert!(!lines.is_empty(), "no kubectl command in {section:?}");
            for line in lines {
                if let Some((prefix, _)) = NEEDS_A_CLUSTER.iter().find(|(p, _)| line.starts_with(p))
                {
                    unused_skips.retain(|p| p != prefix);
                    continue;
                }
                eprintln!("$ {line}");
                let out = run(&line, dir.path(), &kubeconfig).await;
                eprint!("{out}");
                if line.starts_with("kubectl get tiered") {
                    // The README promises the printer columns (server-side printing).
                    for column in ["READY", "REASON", "AGE"] {
                        assert!(out.contains(column), "{line}: no {column} column in\n{out}");
                    }
                }
            }
        }
        op.stop().await;
    }
    assert!(
        unused_skips.is_empty(),
        "NEEDS_A_CLUSTER names commands the README no longer has: {unused_skips:?}"
    );
}
