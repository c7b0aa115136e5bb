//! How a ready's snapshot, entries and hard state become durable: written by
//! the consensus thread itself, or, for a leader's ready the core allows it
//! for, handed to the [`LogWriter`] so that the consensus thread goes on while
//! the disk works. Every write of the consensus thread first waits for the
//! writer's pending ones, so the storage sees the log in order.

use super::log_writer::LogWriter;
use super::storage::NodeStorage;
use crate::error::FatalError;
use crate::metrics::Metrics;
use raft_core::{Entry, HardState, LogIndex, Snapshot, Term};
use std::sync::Arc;
use std::time::Instant;

/// The consensus thread's write side of the storage.
pub(crate) struct Persistence<S: NodeStorage> {
    storage: S,
    writer: Option<LogWriter>,
    metrics: Arc<Metrics>,
}

impl<S: NodeStorage> Persistence<S> {
    /// Writes to `storage`; with `wake`, through a log writer thread (which
    /// calls `wake` when it made entries durable) when a ready allows it.
    pub(crate) fn start(
        id: u64,
        storage: S,
        metrics: Arc<Metrics>,
        wake: Option<Box<dyn Fn() + Send>>,
    ) -> std::io::Result<Self> {
        let writer = match wake {
            Some(wake) => Some(LogWriter::start(
                id,
                storage.clone(),
                metrics.clone(),
                wake,
            )?),
            None => None,
        };
        Ok(Persistence {
            storage,
            writer,
            metrics,
        })
    }

    /// The storage (reads).
    pub(crate) fn storage(&self) -> &S {
        &self.storage
    }

    /// True if writes may go to the log writer.
    pub(crate) fn has_writer(&self) -> bool {
        self.writer.is_some()
    }

    /// Hands a leader's entries to the log writer (reported by
    /// [`Persistence::take_written`] once durable) and records `hard_state`,
    /// whose commit index alone changed, at once: the store keeps a commit
    /// index in memory between elections (it is capped at the durable log on
    /// recovery), so a snapshot up to it need not wait for the writer.
    pub(crate) fn hand_over(
        &mut self,
        entries: Vec<Entry>,
        hard_state: Option<HardState>,
    ) -> Result<(), FatalError> {
        let Some(w) = self.writer.as_mut() else {
            return self.write(&entries, hard_state);
        };
        self.metrics.ready_processed();
        if let Some(hs) = hard_state {
            record_hard_state(&self.storage, hs)?;
        }
        w.hand_over(entries)
    }

    /// The last entry the log writer made durable since the previous call.
    pub(crate) fn take_written(&mut self) -> Result<Option<(LogIndex, Term)>, FatalError> {
        match self.writer.as_mut() {
            Some(w) => w.take_written(),
            None => Ok(None),
        }
    }

    /// True while the log writer holds entries not yet reported durable.
    pub(crate) fn writer_in_flight(&self) -> bool {
        self.writer.as_ref().is_some_and(LogWriter::in_flight)
    }

    /// Waits until the log writer's pending writes are durable.
    pub(crate) fn wait_for_writer(&mut self) -> Result<(), FatalError> {
        match self.writer.as_mut() {
            Some(w) => w.wait(),
            None => Ok(()),
        }
    }

    /// Installs the leader's snapshot in storage (after the writer's writes).
    pub(crate) fn install_snapshot(&mut self, snapshot: Snapshot) -> Result<(), FatalError> {
        self.wait_for_writer()?;
        self.storage
            .apply_snapshot(snapshot)
            .map_err(|source| FatalError::Storage {
                what: "installing the leader's snapshot",
                source,
            })
    }

    /// Appends `entries`, then records `hard_state`, durably, on this thread
    /// (after the writer's writes).
    pub(crate) fn write(
        &mut self,
        entries: &[Entry],
        hard_state: Option<HardState>,
    ) -> Result<(), FatalError> {
        self.wait_for_writer()?;
        let m = &self.metrics;
        m.ready_processed();
        if !entries.is_empty() {
            let t0 = Instant::now();
            self.storage
                .append(entries)
                .map_err(|source| FatalError::Storage {
                    what: "WAL append",
                    source,
                })?;
            m.entries_appended(entries.len(), t0.elapsed());
        }
        if let Some(hs) = hard_state {
            let t0 = Instant::now();
            record_hard_state(&self.storage, hs)?;
            m.hard_state_written(t0.elapsed());
        }
        Ok(())
    }

    /// Waits for the writer's pending writes and stops it.
    pub(crate) fn stop(&mut self) -> Result<(), FatalError> {
        match self.writer.as_mut() {
            Some(w) => w.stop(),
            None => Ok(()),
        }
    }
}

/// Records `hard_state` in `storage` (durably if its term or vote changed).
fn record_hard_state<S: NodeStorage>(storage: &S, hard_state: HardState) -> Result<(), FatalError> {
    storage
        .set_hard_state(hard_state)
        .map_err(|source| FatalError::Storage {
            what: "hard state write",
            source,
        })
}
