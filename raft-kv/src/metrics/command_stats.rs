//! `INFO commandstats` and `INFO errorstats` as Redis keeps them: per
//! command (and subcommand) the calls that ran, those that answered an
//! error (`failed_calls`) and those refused before they ran
//! (`rejected_calls`: unknown subcommand, arity, `NOAUTH`, `BUSY`, a refusal
//! inside `MULTI`, a key over the limit); per error code word, every error
//! reply (`errorstat_WRONGTYPE:count=N`).

use parking_lot::Mutex;
use raft_kv_state::registry::registry;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// One command's counters.
#[derive(Debug, Default)]
struct Counters {
    calls: AtomicU64,
    failed: AtomicU64,
    rejected: AtomicU64,
}

/// One command's line of `INFO commandstats`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandLine {
    /// Its full name (`get`, `config|get`).
    pub name: String,
    /// Calls that ran.
    pub calls: u64,
    /// Of those, calls answered with an error.
    pub failed: u64,
    /// Calls refused before they ran.
    pub rejected: u64,
}

/// The counters, indexed as the registry numbers its commands.
#[derive(Debug)]
pub(super) struct CommandStats {
    per_command: Vec<Counters>,
    errors: Mutex<BTreeMap<String, u64>>,
}

impl Default for CommandStats {
    fn default() -> Self {
        let n = registry().all().len();
        CommandStats {
            per_command: (0..n).map(|_| Counters::default()).collect(),
            errors: Mutex::default(),
        }
    }
}

impl CommandStats {
    /// The command at `index` ran; `error` is its reply's code word if it
    /// answered an error.
    pub(super) fn ran(&self, index: usize, error: Option<&str>) {
        if let Some(c) = self.per_command.get(index) {
            c.calls.fetch_add(1, Ordering::Relaxed);
            if error.is_some() {
                c.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        if let Some(code) = error {
            self.error(code);
        }
    }

    /// The command at `index` (`None`: no command has the name) was refused
    /// with an error of code word `code`.
    pub(super) fn refused(&self, index: Option<usize>, code: &str) {
        if let Some(c) = index.and_then(|i| self.per_command.get(i)) {
            c.rejected.fetch_add(1, Ordering::Relaxed);
        }
        self.error(code);
    }

    fn error(&self, code: &str) {
        *self.errors.lock().entry(code.to_string()).or_default() += 1;
    }

    /// The commands that were called or refused, by name.
    pub(super) fn lines(&self) -> Vec<CommandLine> {
        let names = registry().all();
        self.per_command
            .iter()
            .zip(names)
            .map(|(c, name)| CommandLine {
                name: name.clone(),
                calls: c.calls.load(Ordering::Relaxed),
                failed: c.failed.load(Ordering::Relaxed),
                rejected: c.rejected.load(Ordering::Relaxed),
            })
            .filter(|l| l.calls + l.rejected > 0)
            .collect()
    }

    /// Error replies by code word.
    pub(super) fn errors(&self) -> Vec<(String, u64)> {
        self.errors
            .lock()
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }

    /// Forgets every count (`CONFIG RESETSTAT`).
    pub(super) fn reset(&self) {
        for c in &self.per_command {
            c.calls.store(0, Ordering::Relaxed);
            c.failed.store(0, Ordering::Relaxed);
            c.rejected.store(0, Ordering::Relaxed);
        }
        self.errors.lock().clear();
    }
}
