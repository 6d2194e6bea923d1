//! The emulator's share of the chaos: at seeded random moments it answers the next
//! writes (patches) of a kind 409 or 500, fails a list with 500, or ends every open
//! watch (at most one scripted fault pending at a time), through the in-process emulator's fault handle ([`kube_emulator::Faults`]).
//! Only the operator patches and lists, so the driver's own requests are spared
//! (they retry anyway).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use kube_emulator::{Faults, Matcher};
use rand_core::{Rng, SeedableRng};
use rand_xorshift::XorShiftRng;

/// The resources whose writes get 409s and 500s.
const RESOURCES: [&str; 6] = [
    "manageddatabases",
    "cacheclusters",
    "tieredapps",
    "deployments",
    "secrets",
    "services",
];

/// Counts of what was injected.
#[derive(Debug, Default)]
pub struct Injected {
    /// 409 Conflict answers scripted.
    pub conflicts: AtomicUsize,
    /// 500 answers scripted.
    pub errors: AtomicUsize,
    /// Times every watch was ended.
    pub dropped_watches: AtomicUsize,
}

/// Injects faults every 0.5–3 s until `stop` is set.
pub async fn inject(faults: Faults, seed: u64, stop: Arc<AtomicBool>, injected: Arc<Injected>) {
    let mut rng = XorShiftRng::seed_from_u64(seed ^ 0x00A1_FA17);
    while !stop.load(Ordering::Relaxed) {
        let gap = 500 + rng.next_u64() % 2_500;
        tokio::time::sleep(Duration::from_millis(gap)).await;
        let pick =
            |rng: &mut XorShiftRng, len: u64| usize::try_from(rng.next_u64() % len).unwrap_or(0);
        let resource = RESOURCES[pick(&mut rng, RESOURCES.len() as u64)];
        let times = 1 + pick(&mut rng, 3);
        // Scripted failures wait for a matching request: without this, those of a kind
        // the operator rarely writes would pile up and fail every write for minutes.
        // At most one fault is pending at a time.
        faults.clear();
        match pick(&mut rng, 4) {
            0 => {
                faults.fail(Matcher::on("patch", resource), 409, times);
                injected.conflicts.fetch_add(times, Ordering::Relaxed);
            }
            1 => {
                faults.fail(Matcher::on("patch", resource), 500, times);
                injected.errors.fetch_add(times, Ordering::Relaxed);
            }
            2 => {
                faults.fail(Matcher::on("list", resource), 500, 1);
                injected.errors.fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                faults.close_watches(None);
                injected.dropped_watches.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    faults.clear();
}
