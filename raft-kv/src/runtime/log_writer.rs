//! The leader's log writer: a thread that makes a leader's new entries durable
//! while the consensus thread goes on sending, stepping acks and taking
//! proposals (raft-core's "A leader's log write in the background"; etcd and
//! raft-rs call it asynchronous storage writes).
//!
//! Writes are done in the order they were handed over. While one fdatasync
//! runs, later hand-overs queue up and the next round writes them all with one
//! fdatasync (group commit). After each round the writer records the last
//! entry it made durable and wakes the consensus thread, which reports it to
//! the core ([`LogWriter::take_written`]); the leader counts itself for those
//! entries only then. The wake-up never blocks: if the consensus thread's
//! queue is full, it is busy and will look anyway.
//!
//! Guarantees:
//! 1. An entry is reported written only after an fdatasync that covers it.
//! 2. [`LogWriter::wait`] returns once everything handed over before it is
//!    durable, so the caller may write to the storage itself afterwards
//!    without reordering the log.
//! 3. After a storage error the writer writes nothing more and every later
//!    call returns the error: the node must stop (an fsync failure leaves the
//!    page cache in an unknown state).

use super::storage::NodeStorage;
use crate::error::FatalError;
use crate::metrics::Metrics;
use parking_lot::Mutex;
use raft_core::{Entry, LogIndex, Term};
use raft_net::mailbox::{self, MailReceiver, MailSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

/// Most hand-overs merged into one fdatasync (bounds a round's memory and latency).
const MAX_JOBS_PER_ROUND: usize = 256;

enum Job {
    /// Entries, contiguous, after everything handed over before.
    Write(Vec<Entry>),
    /// Reply once everything before is durable.
    Wait(MailSender<()>),
}

/// What the writer thread shares with its owner.
#[derive(Default)]
struct Progress {
    /// The last entry made durable and not yet taken by the owner.
    written: Option<(LogIndex, Term)>,
    /// The first storage error; nothing is written after it.
    failed: Option<String>,
}

/// The owner's side of the log writer thread.
pub(crate) struct LogWriter {
    jobs: Option<MailSender<Job>>,
    progress: Arc<Mutex<Progress>>,
    /// The last entry handed over, and the last reported written.
    handed_to: LogIndex,
    written_to: LogIndex,
    thread: Option<JoinHandle<()>>,
}

impl LogWriter {
    /// Starts the writer over `storage`; `wake` is called (from the writer
    /// thread, and must not block) after each round of writes or a failure.
    pub(crate) fn start<S: NodeStorage>(
        id: u64,
        storage: S,
        metrics: Arc<Metrics>,
        wake: Box<dyn Fn() + Send>,
    ) -> std::io::Result<LogWriter> {
        // The project's mailbox, not a crossbeam channel: its receive never
        // spins or yields before it parks.
        let (tx, rx) = mailbox::unbounded();
        let progress = Arc::new(Mutex::new(Progress::default()));
        let worker = Worker {
            id,
            storage,
            metrics,
            wake,
            progress: progress.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("raft-kv-log-writer".into())
            .spawn(move || worker.run(rx))?;
        Ok(LogWriter {
            jobs: Some(tx),
            progress,
            handed_to: 0,
            written_to: 0,
            thread: Some(thread),
        })
    }

    /// Hands `entries` over to be made durable after everything handed over
    /// before.
    pub(crate) fn hand_over(&mut self, entries: Vec<Entry>) -> Result<(), FatalError> {
        let Some(last) = entries.last() else {
            return Ok(());
        };
        self.check()?;
        self.handed_to = last.index;
        let jobs = self.jobs.as_ref().ok_or(FatalError::LogWriterStopped)?;
        jobs.send(Job::Write(entries))
            .map_err(|_| FatalError::LogWriterStopped)?;
        Ok(())
    }

    /// Blocks until everything handed over is durable (at once if all of it
    /// was reported written).
    pub(crate) fn wait(&mut self) -> Result<(), FatalError> {
        if !self.in_flight() {
            return self.check();
        }
        let jobs = self.jobs.as_ref().ok_or(FatalError::LogWriterStopped)?;
        let (tx, rx) = mailbox::bounded(1);
        jobs.send(Job::Wait(tx))
            .map_err(|_| FatalError::LogWriterStopped)?;
        // The writer drops the reply sender without replying after a failure.
        let replied = rx.recv().is_some();
        self.check()?;
        if !replied {
            return Err(FatalError::LogWriterStopped);
        }
        self.written_to = self.handed_to;
        Ok(())
    }

    /// True while entries handed over are not yet reported written.
    pub(crate) fn in_flight(&self) -> bool {
        self.handed_to > self.written_to
    }

    /// The last entry written since the previous call, if any, or the
    /// writer's failure.
    pub(crate) fn take_written(&mut self) -> Result<Option<(LogIndex, Term)>, FatalError> {
        self.check()?;
        let written = self.progress.lock().written.take();
        if let Some((index, _)) = written {
            self.written_to = self.written_to.max(index);
        }
        Ok(written)
    }

    fn check(&self) -> Result<(), FatalError> {
        match &self.progress.lock().failed {
            Some(why) => Err(FatalError::LogWriteFailed(why.clone())),
            None => Ok(()),
        }
    }

    /// Waits for the pending writes and ends the thread.
    pub(crate) fn stop(&mut self) -> Result<(), FatalError> {
        let waited = self.wait();
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        waited
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The writer thread's state.
struct Worker<S: NodeStorage> {
    id: u64,
    storage: S,
    metrics: Arc<Metrics>,
    wake: Box<dyn Fn() + Send>,
    progress: Arc<Mutex<Progress>>,
}

impl<S: NodeStorage> Worker<S> {
    fn run(self, jobs: MailReceiver<Job>) {
        let mut round = Vec::new();
        while jobs
            .recv_batch(&mut round, MAX_JOBS_PER_ROUND, None)
            .is_ok()
        {
            if let Err(e) = self.write_round(&mut round) {
                log::error!("node {}: the log writer stops: {e}", self.id);
                self.progress.lock().failed = Some(e.to_string());
                (self.wake)();
                return; // dropping the jobs drops every waiter's reply sender
            }
        }
    }

    /// Writes every job of `round` with one fdatasync, then answers the waits.
    fn write_round(&self, round: &mut Vec<Job>) -> Result<(), raft_storage::StoreError> {
        let t0 = Instant::now();
        let mut last = None;
        let mut count = 0;
        let mut waiters = Vec::new();
        for job in round.drain(..) {
            match job {
                Job::Write(entries) => {
                    self.storage.append_unsynced(&entries)?;
                    count += entries.len();
                    last = entries.last().map(|e| (e.index, e.term)).or(last);
                }
                Job::Wait(reply) => waiters.push(reply),
            }
        }
        if count > 0 {
            self.storage.sync_log()?;
            self.metrics.entries_appended(count, t0.elapsed());
        }
        if let Some(written) = last {
            self.progress.lock().written = Some(written);
            (self.wake)();
        }
        for w in waiters {
            let _ = w.send(());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft_core::{ConfState, EntryPayload, Storage};
    use raft_storage::MemStorage;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn entries(range: std::ops::RangeInclusive<u64>) -> Vec<Entry> {
        range
            .map(|index| Entry {
                index,
                term: 2,
                payload: EntryPayload::Normal(vec![index as u8]),
            })
            .collect()
    }

    fn writer() -> (LogWriter, MemStorage, Arc<AtomicUsize>) {
        let storage = MemStorage::with_conf_state(ConfState::with_voters([1]));
        let wakes = Arc::new(AtomicUsize::new(0));
        let w = wakes.clone();
        let wake = Box::new(move || {
            w.fetch_add(1, Ordering::SeqCst);
        });
        let writer = LogWriter::start(1, storage.clone(), Arc::default(), wake).expect("thread");
        (writer, storage, wakes)
    }

    #[test]
    fn hand_overs_are_written_in_order_and_the_last_is_reported() {
        let (mut w, storage, wakes) = writer();
        w.hand_over(entries(1..=3)).expect("hand over");
        w.hand_over(entries(4..=4)).expect("hand over");
        w.hand_over(entries(5..=9)).expect("hand over");
        assert!(w.in_flight());
        w.wait().expect("wait");
        assert!(!w.in_flight(), "waited: nothing in flight");
        assert_eq!(storage.last_index(), Ok(9));
        assert_eq!(storage.entries(1, 10, None), Ok(entries(1..=9)));
        assert_eq!(w.take_written().expect("no failure"), Some((9, 2)));
        assert_eq!(w.take_written().expect("no failure"), None, "taken once");
        assert!(wakes.load(Ordering::SeqCst) >= 1, "the owner was woken");
    }

    #[test]
    fn an_empty_hand_over_is_nothing_to_wait_for() {
        let (mut w, storage, wakes) = writer();
        w.hand_over(Vec::new()).expect("hand over");
        assert!(!w.in_flight());
        w.wait().expect("wait");
        assert_eq!(storage.last_index(), Ok(0));
        assert_eq!(wakes.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn stop_waits_for_what_was_handed_over() {
        let (mut w, storage, _) = writer();
        w.hand_over(entries(1..=100)).expect("hand over");
        w.stop().expect("stop");
        assert_eq!(storage.last_index(), Ok(100));
        assert!(
            matches!(
                w.hand_over(entries(101..=101)),
                Err(FatalError::LogWriterStopped)
            ),
            "a stopped writer takes nothing more"
        );
    }
}
