//! The node's view of the replicated log: persisted entries (read through
//! [`Storage`]) followed by unstable entries not yet handed out for persistence,
//! plus the commit and apply cursors.

use crate::error::StorageError;
use crate::storage::Storage;
use crate::types::{Entry, LogIndex, Snapshot, Term};

/// Entries (and possibly a snapshot) not yet persisted by the caller.
#[derive(Debug, Default)]
struct Unstable {
    /// A snapshot received from the leader, waiting to be installed.
    snapshot: Option<Snapshot>,
    /// Entries starting at `offset`.
    entries: Vec<Entry>,
    offset: LogIndex,
    /// The last entry handed out for persisting (`offset - 1` if none): the
    /// entries after it are what the next `Ready` carries. Entries at or before
    /// it stay here, readable, until the caller reports them durable.
    handed_out: LogIndex,
}

impl Unstable {
    fn maybe_last_index(&self) -> Option<LogIndex> {
        if !self.entries.is_empty() {
            return Some(self.offset + self.entries.len() as u64 - 1);
        }
        self.snapshot.as_ref().map(|s| s.meta.index)
    }

    fn maybe_term(&self, index: LogIndex) -> Option<Term> {
        if index < self.offset {
            return self
                .snapshot
                .as_ref()
                .filter(|s| s.meta.index == index)
                .map(|s| s.meta.term);
        }
        self.entries
            .get((index - self.offset) as usize)
            .map(|e| e.term)
    }

    /// Puts `ents` (contiguous, non-empty) at their indexes: everything
    /// unstable at or after the first of them is replaced. Appending right
    /// after the last entry is the case where nothing is cut.
    fn truncate_and_append(&mut self, ents: &[Entry]) {
        let first = ents[0].index;
        // A replaced entry must be handed out again, whatever happened to the
        // old one (a late report of it is ignored: its term differs).
        self.handed_out = self.handed_out.min(first - 1);
        if first <= self.offset {
            // Replace everything unstable; persisted entries at >= first are overwritten
            // when the caller persists these (the storage truncates its suffix).
            self.offset = first;
            self.entries = ents.to_vec();
        } else {
            self.entries.truncate((first - self.offset) as usize);
            self.entries.extend_from_slice(ents);
        }
    }
}

/// The log as the consensus core sees it.
#[derive(Debug)]
pub struct RaftLog<S: Storage> {
    storage: S,
    unstable: Unstable,
    committed: LogIndex,
    /// Highest index the application reported applied.
    applied: LogIndex,
    /// Highest index handed to the application for applying.
    applying: LogIndex,
}

impl<S: Storage> RaftLog<S> {
    /// A log over `storage`, with commit/apply cursors at the storage's snapshot.
    pub fn new(storage: S) -> Result<Self, StorageError> {
        let first = storage.first_index()?;
        let last = storage.last_index()?;
        Ok(RaftLog {
            storage,
            unstable: Unstable {
                offset: last + 1,
                handed_out: last,
                ..Unstable::default()
            },
            committed: first - 1,
            applied: first - 1,
            applying: first - 1,
        })
    }

    /// The storage this log reads from.
    pub fn storage(&self) -> &S {
        &self.storage
    }

    /// The first index not compacted.
    pub fn first_index(&self) -> LogIndex {
        if let Some(s) = &self.unstable.snapshot {
            return s.meta.index + 1;
        }
        self.storage.first_index().unwrap_or(1)
    }

    /// The last index, unstable entries included.
    pub fn last_index(&self) -> LogIndex {
        match self.unstable.maybe_last_index() {
            Some(i) => i,
            None => self.storage.last_index().unwrap_or(0),
        }
    }

    /// The term of the last entry.
    pub fn last_term(&self) -> Term {
        self.term(self.last_index()).unwrap_or(0)
    }

    /// The term of the entry at `index` (0 for index 0).
    pub fn term(&self, index: LogIndex) -> Result<Term, StorageError> {
        if index == 0 {
            return Ok(0);
        }
        let dummy = self.first_index() - 1;
        if index < dummy {
            return Err(StorageError::Compacted);
        }
        if index > self.last_index() {
            return Err(StorageError::Unavailable(index));
        }
        if let Some(t) = self.unstable.maybe_term(index) {
            return Ok(t);
        }
        self.storage.term(index)
    }

    /// True if the entry at `index` has term `term`.
    pub fn match_term(&self, index: LogIndex, term: Term) -> bool {
        self.term(index).is_ok_and(|t| t == term)
    }

    /// The commit index.
    pub fn committed(&self) -> LogIndex {
        self.committed
    }

    /// The applied index the application reported.
    pub fn applied(&self) -> LogIndex {
        self.applied
    }

    /// True if a candidate whose log ends at (`last_index`, `last_term`) is at least
    /// as up to date as this log (Raft §5.4.1).
    pub fn is_up_to_date(&self, last_index: LogIndex, last_term: Term) -> bool {
        let my_term = self.last_term();
        last_term > my_term || (last_term == my_term && last_index >= self.last_index())
    }

    /// The index of the first entry in `ents` that is new or conflicts (0 if none).
    fn find_conflict(&self, ents: &[Entry]) -> LogIndex {
        for e in ents {
            if !self.match_term(e.index, e.term) {
                return e.index;
            }
        }
        0
    }

    /// The largest index at or below `index` whose term is at most `term`, with
    /// that term: the fast-backtracking hint. Returns (index, term).
    pub fn find_conflict_by_term(&self, index: LogIndex, term: Term) -> (LogIndex, Term) {
        let mut i = index.min(self.last_index());
        loop {
            match self.term(i) {
                Ok(t) if t > term => i -= 1,
                Ok(t) => return (i, t),
                Err(_) => return (i, 0),
            }
        }
    }

    /// Appends `ents` after (`prev_index`, `prev_term`) if that entry matches, and
    /// advances commit to `min(leader_commit, last new index)`. Returns the last index
    /// of the leader's log known to match and the position in `ents` from which
    /// entries were actually written (`ents.len()` if all were already there),
    /// `Ok(None)` on mismatch, and an error for an append that would rewrite a
    /// committed entry (only a faulty leader sends one).
    pub fn maybe_append(
        &mut self,
        prev_index: LogIndex,
        prev_term: Term,
        leader_commit: LogIndex,
        ents: &[Entry],
    ) -> Result<Option<(LogIndex, usize)>, &'static str> {
        if !self.match_term(prev_index, prev_term) {
            return Ok(None);
        }
        let last_new = prev_index + ents.len() as u64;
        let conflict = self.find_conflict(ents);
        let mut start = ents.len();
        if conflict != 0 {
            if conflict <= self.committed {
                return Err("the append conflicts with a committed entry");
            }
            start = (conflict - (prev_index + 1)) as usize;
            self.append(&ents[start..]);
        }
        self.commit_to(leader_commit.min(last_new));
        Ok(Some((last_new, start)))
    }

    /// Appends entries at the end (or truncating an uncommitted suffix). Returns the
    /// new last index.
    pub fn append(&mut self, ents: &[Entry]) -> LogIndex {
        if let Some(first) = ents.first() {
            assert!(
                first.index > self.committed,
                "append at {} would overwrite committed {}",
                first.index,
                self.committed
            );
            self.unstable.truncate_and_append(ents);
        }
        self.last_index()
    }

    /// Entries in `[low, high)`, at most `max_bytes` (but at least one).
    pub fn slice(
        &self,
        low: LogIndex,
        high: LogIndex,
        max_bytes: Option<u64>,
    ) -> Result<Vec<Entry>, StorageError> {
        if low >= high {
            return Ok(Vec::new());
        }
        if low < self.first_index() {
            return Err(StorageError::Compacted);
        }
        if high > self.last_index() + 1 {
            return Err(StorageError::Unavailable(high - 1));
        }
        let mut out = Vec::new();
        let off = self.unstable.offset;
        if low < off {
            out = self.storage.entries(low, high.min(off), max_bytes)?;
            if (out.len() as u64) < high.min(off) - low {
                return Ok(out); // hit the byte limit inside storage
            }
        }
        if high > off {
            let mut size: u64 = out.iter().map(Entry::size_hint).sum();
            let from = (low.max(off) - off) as usize;
            let to = (high - off) as usize;
            for e in &self.unstable.entries[from..to] {
                size += e.size_hint();
                if !out.is_empty() && max_bytes.is_some_and(|m| size > m) {
                    break;
                }
                out.push(e.clone());
            }
        }
        Ok(out)
    }

    /// Entries from `from` to the end, at most `max_bytes`.
    pub fn entries_from(
        &self,
        from: LogIndex,
        max_bytes: Option<u64>,
    ) -> Result<Vec<Entry>, StorageError> {
        self.slice(from, self.last_index() + 1, max_bytes)
    }

    /// Moves commit forward to `index` (never backward).
    pub fn commit_to(&mut self, index: LogIndex) {
        if index > self.committed {
            assert!(
                index <= self.last_index(),
                "commit {index} beyond last index {}",
                self.last_index()
            );
            self.committed = index;
        }
    }

    /// Commits `index` if its entry is from `term` (Figure 8: only current-term
    /// entries are committed by counting replicas). Returns true if commit moved.
    pub fn maybe_commit(&mut self, index: LogIndex, term: Term) -> bool {
        if index > self.committed && self.term(index).is_ok_and(|t| t == term) {
            self.commit_to(index);
            return true;
        }
        false
    }

    /// True if committed entries are waiting to be handed to the application.
    pub fn has_next_committed_entries(&self) -> bool {
        self.committed > self.applying && self.applying + 1 >= self.first_index()
    }

    /// Committed entries not yet handed out, at most `max_bytes`; marks them handed out.
    pub fn take_committed_entries(
        &mut self,
        max_bytes: Option<u64>,
    ) -> Result<Vec<Entry>, StorageError> {
        if !self.has_next_committed_entries() {
            return Ok(Vec::new());
        }
        let ents = self.slice(self.applying + 1, self.committed + 1, max_bytes)?;
        if let Some(last) = ents.last() {
            self.applying = last.index;
        }
        Ok(ents)
    }

    /// Records that the application applied everything up to `index`.
    pub fn applied_to(&mut self, index: LogIndex) {
        if index > self.applied {
            assert!(
                index <= self.committed,
                "applied {index} beyond committed {}",
                self.committed
            );
            self.applied = index;
            self.applying = self.applying.max(index);
        }
    }

    /// Unstable entries: not yet reported durable (handed out or not).
    pub fn unstable_entries(&self) -> &[Entry] {
        &self.unstable.entries
    }

    /// Unstable entries not yet handed out for persisting.
    pub fn entries_to_persist(&self) -> &[Entry] {
        let u = &self.unstable;
        let from = (u.handed_out + 1).saturating_sub(u.offset) as usize;
        &u.entries[from.min(u.entries.len())..]
    }

    /// The entries up to `index` were handed out for persisting: the next
    /// [`RaftLog::entries_to_persist`] starts after it. They stay unstable
    /// until [`RaftLog::stable_to`].
    pub fn handed_out_to(&mut self, index: LogIndex) {
        debug_assert!(index <= self.last_index(), "handing out beyond the log");
        self.unstable.handed_out = self.unstable.handed_out.max(index);
    }

    /// A snapshot waiting to be installed, if any.
    pub fn unstable_snapshot(&self) -> Option<&Snapshot> {
        self.unstable.snapshot.as_ref()
    }

    /// The caller persisted entries up to (`index`, `term`): drop them from unstable.
    pub fn stable_to(&mut self, index: LogIndex, term: Term) {
        let u = &mut self.unstable;
        if index < u.offset {
            return;
        }
        let pos = (index - u.offset) as usize;
        if u.entries.get(pos).is_some_and(|e| e.term == term) {
            u.entries.drain(..=pos);
            u.offset = index + 1;
            u.handed_out = u.handed_out.max(index);
        }
    }

    /// The caller installed the snapshot at `index`, in storage and in the
    /// application: it now counts as applied.
    pub fn stable_snapshot_to(&mut self, index: LogIndex) {
        if self
            .unstable
            .snapshot
            .as_ref()
            .is_some_and(|s| s.meta.index == index)
        {
            self.unstable.snapshot = None;
        }
        self.applied_to(index);
    }

    /// Replaces the log with `snapshot` (the caller will install it). Nothing
    /// at or below its index is handed out for applying any more, but
    /// [`RaftLog::applied`] moves only once the ready carrying the snapshot is
    /// advanced: until then the application has not installed it.
    pub fn restore(&mut self, snapshot: Snapshot) {
        let index = snapshot.meta.index;
        self.committed = index;
        self.applying = index;
        self.unstable.offset = index + 1;
        self.unstable.handed_out = index;
        self.unstable.entries.clear();
        self.unstable.snapshot = Some(snapshot);
    }

    /// A snapshot for a follower, from storage.
    pub fn snapshot(&self, request_index: LogIndex) -> Result<Snapshot, StorageError> {
        if let Some(s) = &self.unstable.snapshot {
            return Ok(s.clone());
        }
        self.storage.snapshot(request_index)
    }
}
