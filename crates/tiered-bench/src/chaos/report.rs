//! What a chaos run prints: the set-up (seed first, so a run can be repeated), each
//! phase as it ends, then the verdicts with their details and the AWS call figures.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use aws_faults::Fate;

use super::fleet::{Kind, Member};
use super::{ChaosArgs, Outcome, Phase};

/// The run's set-up.
pub fn print_start(args: &ChaosArgs, members: &[Member]) {
    let count = |kind| members.iter().filter(|m| m.kind == kind).count();
    let with_replicas = members
        .iter()
        .filter(|m| m.kind == Kind::Database && m.read_replicas(false) > 0)
        .count();
    let cluster_mode = members
        .iter()
        .filter(|m| m.kind == Kind::Cache && m.spec["shards"].as_u64() > Some(1))
        .count();
    println!(
        "chaos: seed {} (CHAOS_SEED={} repeats the faults and kill moments)",
        args.seed, args.seed
    );
    println!(
        "  fleet: {} databases ({with_replicas} with read replicas), {} caches ({cluster_mode} in cluster mode), {} apps using them",
        count(Kind::Database),
        count(Kind::Cache),
        count(Kind::App)
    );
    println!(
        "  {} SIGKILLs of the operator, {}-{} ms apart; emulator faults {}; phase deadline {} s after its last kill",
        args.kills,
        args.kill_gap_min_ms,
        args.kill_gap_max_ms,
        if args.no_api_faults {
            "off"
        } else {
            "on (409, 500, dropped watches)"
        },
        args.deadline_secs
    );
}

/// One phase as it ends.
pub fn print_phase(phase: &Phase) {
    if let Some(after) = phase.converged_after {
        println!(
            "    {}: {} kills, converged {:.1} s after the last kill",
            phase.name,
            phase.kills,
            after.as_secs_f64()
        );
        for line in &phase.last {
            println!("      last to converge: {line}");
        }
    } else {
        println!(
            "    {}: {} kills, NOT converged by the deadline; stuck:",
            phase.name, phase.kills
        );
        for line in &phase.stuck {
            println!("      {line}");
        }
    }
}

fn verdict(name: &str, found: &[String]) -> usize {
    println!("{name:<26} {}", found.len());
    for line in found.iter().take(20) {
        println!("    {line}");
    }
    if found.len() > 20 {
        println!("    … and {} more", found.len() - 20);
    }
    found.len()
}

/// Every figure; returns the sum of the counts that must be zero.
pub fn print(args: &ChaosArgs, members: &[Member], outcome: &Outcome, secrets: usize) -> usize {
    let injected = &outcome.injected;
    println!("\n==> chaos figures (seed {})", args.seed);
    println!(
        "operator: {} lives, {} SIGKILLs; log {}",
        outcome.starts,
        outcome.phases.iter().map(|p| p.kills).sum::<u32>(),
        outcome.log.display()
    );
    println!(
        "emulator faults: {} × 409, {} × 500, {} × every watch dropped",
        injected.conflicts.load(Ordering::Relaxed),
        injected.errors.load(Ordering::Relaxed),
        injected.dropped_watches.load(Ordering::Relaxed)
    );
    let mut fates: BTreeMap<&str, usize> = BTreeMap::new();
    for call in &outcome.calls {
        let fate = match call.fate {
            Fate::Passed => "passed",
            Fate::Throttled => "throttled",
            Fate::Failed => "failed",
            Fate::Denied => "denied",
            Fate::Lost => "lost after AWS acted",
        };
        *fates.entry(fate).or_insert(0) += 1;
    }
    println!("AWS calls: {} ({fates:?})", outcome.calls.len());
    println!();

    let stuck: Vec<String> = outcome
        .phases
        .iter()
        .flat_map(|p| p.stuck.iter().map(move |s| format!("{}: {s}", p.name)))
        .collect();
    let mut failures = verdict("duplicates", &outcome.duplicates);
    failures += verdict("orphans", &outcome.orphans);
    failures += verdict("missing final snapshots", &outcome.missing_snapshots);
    failures += verdict("stuck", &stuck);
    failures += verdict(&format!("leaks ({secrets} secrets)"), &outcome.leaks);
    failures += verdict("panics", &outcome.panics);
    match outcome.phases.last().and_then(|p| p.converged_after) {
        Some(after) => println!(
            "{:<26} {:.1} s",
            "converged after last kill",
            after.as_secs_f64()
        ),
        None => println!("{:<26} never (stuck)", "converged after last kill"),
    }
    println!(
        "\nAWS calls per object ({} databases' replicas and final snapshots included):",
        members.iter().filter(|m| m.kind == Kind::Database).count()
    );
    println!(
        "  {:<20} {:>6} {:>9} {:>8} {:>5} {:>15}",
        "object", "calls", "mutating", "refused", "lost", "busiest minute"
    );
    for row in &outcome.per_object {
        println!(
            "  {:<20} {:>6} {:>9} {:>8} {:>5} {:>15}",
            row.object, row.total, row.mutating, row.refused, row.lost, row.busiest_minute
        );
    }
    let fleet_wide = outcome
        .calls
        .iter()
        .filter(|c| c.resource.is_empty())
        .count();
    println!("  fleet-wide reads naming no object: {fleet_wide}");
    if let Some(busiest) = outcome.per_object.iter().max_by_key(|r| r.busiest_minute) {
        println!(
            "most mutating calls one object made in any minute: {} ({})",
            busiest.busiest_minute, busiest.object
        );
        for call in &busiest.busiest_calls {
            println!("    {call}");
        }
    }
    println!(
        "\nchaos: {} in {:.0} s; {}",
        if failures == 0 {
            "all zeros"
        } else {
            "NOT all zeros"
        },
        outcome.took.as_secs_f64(),
        if failures == 0 {
            "no duplicate, orphan, lost snapshot, stuck object, leak or panic".to_owned()
        } else {
            format!("{failures} findings above")
        }
    );
    failures
}
