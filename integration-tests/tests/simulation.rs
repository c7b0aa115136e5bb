//! Runs the deterministic simulator over many seeds.
//!
//! - default: 500 seeds (split over the machine's cores);
//! - `SIM_SEEDS=N`: N seeds starting at `SIM_FIRST_SEED` (default 0);
//! - `SIM_SEED=n`: replays seed n and prints its trace.
//!
//! A run of 500 seeds or more also prints how often each rare situation
//! happened (see `integration_tests::coverage`) and fails if one happened
//! fewer than three times.

use integration_tests::{Coverage, Sim, SimOptions};
use std::sync::atomic::{AtomicU64, Ordering};

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, got {v:?}"))
    })
}

#[test]
fn replay_or_run_many_seeds() {
    if let Some(seed) = env_u64("SIM_SEED") {
        let mut opts = SimOptions::for_seed(seed);
        opts.trace = true;
        let report = Sim::new(seed, opts).run();
        for line in &report.trace {
            eprintln!("{line}");
        }
        eprintln!(
            "seed {seed}: {} ops completed, {} entries committed, {} leaders",
            report.completed_ops, report.committed, report.elections
        );
        assert!(
            report.violation.is_none(),
            "seed {seed}: {}",
            report.violation.unwrap_or_default()
        );
        return;
    }
    let count = env_u64("SIM_SEEDS").unwrap_or(500);
    let first = env_u64("SIM_FIRST_SEED").unwrap_or(0);
    let next = AtomicU64::new(first);
    let failures = std::sync::Mutex::new(Vec::new());
    let ops = AtomicU64::new(0);
    let coverage = std::sync::Mutex::new(Coverage::default());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    // A panicking seed is reported below with the others (`Sim::run` catches
    // it); the default hook would print each one as it happens.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= first + count {
                        break;
                    }
                    let report = Sim::new(seed, SimOptions::for_seed(seed)).run();
                    ops.fetch_add(report.completed_ops, Ordering::Relaxed);
                    coverage.lock().expect("no poisoning").add(&report.coverage);
                    if let Some(v) = report.violation {
                        failures.lock().expect("no poisoning").push((seed, v));
                    }
                }
            });
        }
    });
    std::panic::set_hook(default_hook);
    let mut failures = failures.into_inner().expect("no poisoning");
    failures.sort();
    let coverage = coverage.into_inner().expect("no poisoning");
    eprintln!(
        "{count} seeds, {} client ops completed; rare situations:\n{}",
        ops.load(Ordering::Relaxed),
        coverage.report()
    );
    if let Some((seed, v)) = failures.first() {
        panic!(
            "{} of {count} seeds failed; first: seed {seed}: {v}\nreplay: SIM_SEED={seed} cargo test -p integration-tests --test simulation -- --nocapture",
            failures.len()
        );
    }
    // The default seeds (and any larger run) must reach every rare situation a
    // few times: one that never happens is a gap in the simulator.
    if count >= 500 {
        for (situation, n) in coverage.rows() {
            assert!(
                n >= MIN_OCCURRENCES,
                "coverage gap: '{situation}' happened {n} times in {count} seeds (want {MIN_OCCURRENCES})"
            );
        }
    }
}

/// How often each rare situation must happen in the default 500 seeds.
const MIN_OCCURRENCES: u64 = 3;
