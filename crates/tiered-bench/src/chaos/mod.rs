//! `tiered-bench chaos` (TESTING.md layer 4, run by `scripts/chaos.sh`): a mixed fleet
//! through create → edit → delete while the operator is SIGKILLed and restarted at
//! seeded random moments, the emulator injects 409s, 500s and dropped watches, and AWS
//! is the `aws-faults` proxy in front of moto (started by the script with the same
//! seed). It prints duplicates, orphans, missing final snapshots, stuck objects, secret
//! leaks, panics, time to converge after the last kill and AWS calls per object; with
//! `--assert-zero` it fails unless the first six are all zero.
//!
//! The emulator runs in this process: its fault handle is in-process only.

mod api_faults;
mod aws;
mod checks;
pub(crate) mod fleet;
mod operator;
mod report;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, ListParams, PostParams};
use kube_emulator::{Emulator, EmulatorHandle, EmulatorOptions};
use rand_core::{Rng, SeedableRng};
use rand_xorshift::XorShiftRng;

use self::fleet::{Kind, Member, State};
use self::operator::{Launch, NAMESPACE, Operator};
use crate::BenchResult;

/// Flags of `tiered-bench chaos`.
#[derive(Debug, clap::Args)]
pub struct ChaosArgs {
    /// The `tiered` binary to run, kill and restart.
    #[arg(long, env = "TIERED_BIN")]
    pub operator: PathBuf,
    /// The operator's AWS endpoint: the `aws-faults` proxy in front of moto.
    #[arg(long)]
    pub aws_endpoint: String,
    /// moto_server itself, read (without faults) for the verdicts.
    #[arg(long)]
    pub moto_endpoint: String,
    /// Seed of the kill moments and the emulator's faults (give the proxy the same).
    #[arg(long, env = "CHAOS_SEED")]
    pub seed: u64,
    /// SIGKILLs of the operator over the run, spread over the three phases.
    #[arg(long, env = "CHAOS_KILLS", default_value_t = 100)]
    pub kills: u32,
    /// Units of the fleet (each: 3 databases, 2 caches, 2 apps).
    #[arg(long, env = "CHAOS_SIZE", default_value_t = 1)]
    pub size: usize,
    /// Shortest time between two kills, in milliseconds.
    #[arg(long, default_value_t = 500)]
    pub kill_gap_min_ms: u64,
    /// Longest time between two kills, in milliseconds.
    #[arg(long, default_value_t = 3_000)]
    pub kill_gap_max_ms: u64,
    /// How long a phase may take to converge after its last kill, in seconds.
    #[arg(long, env = "CHAOS_DEADLINE_SECS", default_value_t = 300)]
    pub deadline_secs: u64,
    /// `--resync` of the operator (its default when absent).
    #[arg(long)]
    pub resync: Option<String>,
    /// No 409s, 500s or dropped watches from the emulator.
    #[arg(long)]
    pub no_api_faults: bool,
    /// Where the kubeconfig and the operator's log go.
    #[arg(long)]
    pub work_dir: PathBuf,
    /// Fail unless duplicates, orphans, missing snapshots, stuck, leaks and panics are 0.
    #[arg(long, env = "CHAOS_ASSERT_ZERO")]
    pub assert_zero: bool,
}

/// One phase's outcome.
#[derive(Debug, Clone)]
pub struct Phase {
    /// `create`, `edit`, `delete`.
    pub name: &'static str,
    /// Kills during the phase.
    pub kills: u32,
    /// Time from the phase's last kill (or its start) until every object converged.
    pub converged_after: Option<Duration>,
    /// Objects not converged by the deadline, with their state.
    pub stuck: Vec<String>,
    /// The objects that converged last, with the state they were in just before.
    pub last: Vec<String>,
}

/// Everything the run read, for [`report`].
pub struct Outcome {
    phases: Vec<Phase>,
    duplicates: Vec<String>,
    orphans: Vec<String>,
    missing_snapshots: Vec<String>,
    leaks: Vec<String>,
    panics: Vec<String>,
    calls: Vec<aws_faults::Call>,
    per_object: Vec<checks::ObjectCalls>,
    injected: Arc<api_faults::Injected>,
    starts: u32,
    log: PathBuf,
    took: Duration,
}

async fn start_emulator() -> BenchResult<EmulatorHandle> {
    let emulator = Emulator::start(EmulatorOptions {
        sandbox: true,
        sandbox_delay: Duration::from_millis(200),
        namespaces: ["default", "kube-system", NAMESPACE]
            .map(str::to_owned)
            .to_vec(),
        ..EmulatorOptions::default()
    })
    .await?;
    let crds: Api<CustomResourceDefinition> = Api::all(emulator.client());
    for crd in tiered::api::crds() {
        crds.create(&PostParams::default(), &crd).await?;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    for kind in [Kind::Database, Kind::Cache, Kind::App] {
        while fleet::api(&emulator.client(), kind)
            .list(&ListParams::default().limit(1))
            .await
            .is_err()
        {
            if Instant::now() > deadline {
                return Err("the tiered kinds were not served within 10 s".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok(emulator)
}

/// The driver's side of a run: the operator, the kill dice, the secrets seen.
struct Driver {
    client: kube::Client,
    operator: Operator,
    rng: XorShiftRng,
    gap: (u64, u64),
    deadline: Duration,
    last_kill: Option<Instant>,
    /// Lives that ended on their own (not by our kill).
    crashes: Vec<String>,
    /// `"<object> <key>"` → value of every password and token seen.
    secrets: BTreeMap<String, String>,
    /// Statuses seen at the end of each phase (checked for secret values).
    statuses: Vec<(String, String)>,
}

impl Driver {
    /// Restarts the operator if a life ended on its own (and records it).
    fn revive(&mut self) -> BenchResult<()> {
        if let Some(status) = self.operator.exited()? {
            self.crashes
                .push(format!("the operator exited on its own ({status})"));
            self.operator.start()?;
        }
        Ok(())
    }

    /// `kills` SIGKILLs at random gaps, each followed at once by a new life.
    async fn kill_repeatedly(&mut self, kills: u32) -> BenchResult<()> {
        for _ in 0..kills {
            let (low, high) = self.gap;
            let gap = low + self.rng.next_u64() % (high.saturating_sub(low) + 1);
            tokio::time::sleep(Duration::from_millis(gap)).await;
            self.revive()?;
            self.operator.kill()?;
            self.last_kill = Some(Instant::now());
            self.operator.start()?;
        }
        Ok(())
    }

    /// Waits until every member reaches `target` (`Ready` or `Gone`), or the deadline.
    /// The time is counted from the phase's last kill, else from `phase_start`.
    async fn converge(
        &mut self,
        members: &[Member],
        target: &State,
        phase_start: Instant,
    ) -> BenchResult<Phase> {
        let since = self
            .last_kill
            .filter(|at| *at >= phase_start)
            .unwrap_or(phase_start);
        let deadline = Instant::now() + self.deadline;
        let mut last = Vec::new();
        loop {
            self.revive()?;
            let mut stuck = Vec::new();
            for member in members {
                let state = fleet::state(&self.client, member).await;
                if &state != target {
                    stuck.push(format!(
                        "{} {}: {state:?}",
                        member.kind.label(),
                        member.name
                    ));
                }
            }
            if stuck.is_empty() {
                return Ok(Phase {
                    name: "",
                    kills: 0,
                    converged_after: Some(since.elapsed()),
                    stuck,
                    last,
                });
            }
            if Instant::now() > deadline {
                return Ok(Phase {
                    name: "",
                    kills: 0,
                    converged_after: None,
                    stuck,
                    last,
                });
            }
            last = stuck;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Records the connection Secrets' passwords and tokens and every status.
    async fn read_secrets_and_statuses(&mut self, members: &[Member], phase: &str) {
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), NAMESPACE);
        for member in members {
            if let Ok(Some(object)) = fleet::api(&self.client, member.kind)
                .get_opt(&member.name)
                .await
            {
                self.statuses.push((
                    format!(
                        "status of {} {} after {phase}",
                        member.kind.label(),
                        member.name
                    ),
                    object.data["status"].to_string(),
                ));
            }
            if member.kind == Kind::App {
                continue;
            }
            let Ok(Some(secret)) = secrets
                .get_opt(&format!("{}-connection", member.name))
                .await
            else {
                continue;
            };
            for key in ["password", "authToken"] {
                if let Some(value) = secret.data.as_ref().and_then(|d| d.get(key)) {
                    self.secrets.insert(
                        format!("{} {key}", member.name),
                        String::from_utf8_lossy(&value.0).into_owned(),
                    );
                }
            }
        }
    }
}

/// Every Event in the namespace (core and events.k8s.io), as text.
async fn events_text(client: &kube::Client) -> String {
    let mut text = String::new();
    for resource in [
        ApiResource::erase::<k8s_openapi::api::core::v1::Event>(&()),
        ApiResource::erase::<k8s_openapi::api::events::v1::Event>(&()),
    ] {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), NAMESPACE, &resource);
        if let Ok(list) = api.list(&ListParams::default()).await {
            for event in list {
                text.push_str(&serde_json::to_string(&event).unwrap_or_default());
                text.push('\n');
            }
        }
    }
    text
}

/// The kills of each phase: `kills` split over three, the remainder to the first.
fn split_kills(kills: u32) -> [u32; 3] {
    let third = kills / 3;
    let rest = kills % 3;
    [
        third + u32::from(rest > 0),
        third + u32::from(rest > 1),
        third,
    ]
}

/// Create, edit, delete: each phase writes the fleet, kills the operator `kills / 3`
/// times, waits for convergence; after create and edit it reads the secrets, statuses
/// and duplicates.
async fn run_phases(
    driver: &mut Driver,
    members: &[Member],
    moto: &aws::Moto,
    kills: u32,
) -> BenchResult<(Vec<Phase>, Vec<String>)> {
    let kills = split_kills(kills);
    let mut phases = Vec::new();
    let mut duplicates = Vec::new();
    for (index, name) in ["create", "edit", "delete"].into_iter().enumerate() {
        println!("--> {name}: {} kills", kills[index]);
        let phase_start = Instant::now();
        for member in members {
            match name {
                "create" => fleet::create(&driver.client, member).await?,
                "edit" => fleet::edit(&driver.client, member).await?,
                _ => fleet::delete(&driver.client, member).await?,
            }
        }
        driver.kill_repeatedly(kills[index]).await?;
        let target = if name == "delete" {
            State::Gone
        } else {
            State::Ready
        };
        let mut phase = driver.converge(members, &target, phase_start).await?;
        phase.name = name;
        phase.kills = kills[index];
        report::print_phase(&phase);
        if name != "delete" {
            driver.read_secrets_and_statuses(members, name).await;
            duplicates.extend(
                checks::duplicates(
                    members,
                    name == "edit",
                    &moto.instances().await?,
                    &moto.groups().await?,
                )
                .into_iter()
                .map(|line| format!("after {name}: {line}")),
            );
        }
        phases.push(phase);
    }

    Ok((phases, duplicates))
}

/// Runs the chaos and prints the figures; `Err` on `--assert-zero` with a non-zero.
pub async fn run(args: &ChaosArgs) -> BenchResult<()> {
    let started = Instant::now();
    let members = fleet::fleet(args.size);
    report::print_start(args, &members);
    std::fs::create_dir_all(&args.work_dir)?;
    let emulator = start_emulator().await?;
    let kubeconfig = args.work_dir.join("kubeconfig");
    std::fs::write(&kubeconfig, emulator.kubeconfig_yaml())?;
    let log = args.work_dir.join("operator.log");
    let _ = std::fs::remove_file(&log);
    let mut driver = Driver {
        client: emulator.client(),
        operator: Operator::new(Launch {
            bin: args.operator.clone(),
            kubeconfig,
            aws_endpoint: args.aws_endpoint.clone(),
            log: log.clone(),
            resync: args.resync.clone(),
        }),
        rng: XorShiftRng::seed_from_u64(args.seed),
        gap: (
            args.kill_gap_min_ms,
            args.kill_gap_max_ms.max(args.kill_gap_min_ms),
        ),
        deadline: Duration::from_secs(args.deadline_secs),
        last_kill: None,
        crashes: Vec::new(),
        secrets: BTreeMap::new(),
        statuses: Vec::new(),
    };
    driver.operator.start()?;

    let stop_faults = Arc::new(AtomicBool::new(false));
    let injected = Arc::new(api_faults::Injected::default());
    let faults_task = (!args.no_api_faults).then(|| {
        tokio::spawn(api_faults::inject(
            emulator.faults().clone(),
            args.seed,
            Arc::clone(&stop_faults),
            Arc::clone(&injected),
        ))
    });

    let moto = aws::Moto::new(&args.moto_endpoint);
    let (phases, duplicates) = run_phases(&mut driver, &members, &moto, args.kills).await?;
    stop_faults.store(true, Ordering::Relaxed);
    if let Some(task) = faults_task {
        task.await?;
    }
    driver.operator.stop().await?;
    let instances = moto.instances().await?;
    let groups = moto.groups().await?;
    let orphans = checks::orphans(&instances, &groups);
    let missing_snapshots = checks::missing_snapshots(&members, &moto.snapshots().await?);
    let calls = aws::calls(&args.aws_endpoint)?;
    let per_object = checks::calls_per_object(&members, &calls);
    let log_text = driver.operator.log_text();
    let mut places = vec![
        ("the operator's log".to_owned(), log_text.clone()),
        ("Events".to_owned(), events_text(&driver.client).await),
    ];
    places.append(&mut driver.statuses);
    let leaks = checks::leaks(&driver.secrets, &places);
    let mut panics = checks::panics(&log_text);
    panics.append(&mut driver.crashes);

    let outcome = Outcome {
        phases,
        duplicates,
        orphans,
        missing_snapshots,
        leaks,
        panics,
        calls,
        per_object,
        injected,
        starts: driver.operator.starts,
        log: driver.operator.log_path().to_owned(),
        took: started.elapsed(),
    };
    let failures = report::print(args, &members, &outcome, driver.secrets.len());
    drop(driver);
    emulator.shutdown().await;
    if args.assert_zero && failures > 0 {
        return Err(format!(
            "chaos: {failures} of duplicates, orphans, missing snapshots, stuck, leaks and panics are not zero (seed {})",
            args.seed
        )
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::split_kills;

    #[test]
    fn kills_are_spread_over_the_three_phases() {
        assert_eq!(split_kills(10), [4, 3, 3]);
        assert_eq!(split_kills(100), [34, 33, 33]);
        assert_eq!(split_kills(2), [1, 1, 0]);
        assert_eq!(split_kills(0), [0, 0, 0]);
    }
}
