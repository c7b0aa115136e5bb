//! Raft's safety properties, checked by the simulator after every ready:
//!
//! - **Election safety**: at most one leader per term.
//! - **Log matching**: two entries with the same index and term carry the same
//!   payload and follow the same previous term (so the prefixes are identical).
//! - **Leader completeness**: a new leader of term T holds every entry
//!   committed in a term below T. The term an entry was committed in is not
//!   observable, but a node that learns of a commit while in term t learned it
//!   from a leader of term at most t; so every entry some node saw committed
//!   while in a term below T is required. (A leader of a lower term may still
//!   win its election after a higher term committed entries, with delayed vote
//!   responses; it need not hold those: simulator seed 920166.)
//! - **Committed entries are immutable**: no node ever writes a different entry at
//!   a committed index.
//! - **State machine safety**: no two nodes apply different entries at one index.
//! - **Commitment rule** (Figure 8): a leader moves its commit index only onto an
//!   entry of its own term.
//! - Commit never decreases on a node; applied never exceeds committed.
//! - Every node's state machine at index `i` is the same (snapshots included).

use raft_core::{Entry, EntryPayload, LogIndex, NodeId, RawNode, Role, Term};
use raft_storage::MemStorage;
use std::collections::{BTreeMap, HashMap};

/// The invariant state of one run; the first violation is kept.
#[derive(Debug, Default)]
pub struct Invariants {
    leaders: BTreeMap<Term, NodeId>,
    committed: BTreeMap<LogIndex, (Term, u64)>,
    /// The lowest term a node was in when it saw each index committed.
    committed_seen_in: BTreeMap<LogIndex, Term>,
    applied: BTreeMap<LogIndex, (Term, u64)>,
    entries: HashMap<(LogIndex, Term), (u64, Option<Term>)>,
    node_commit: BTreeMap<NodeId, LogIndex>,
    /// The term each node led in at the end of its previous ready.
    led_term: BTreeMap<NodeId, Term>,
    /// Fingerprint of the state machine after applying each index.
    state_at: HashMap<LogIndex, u64>,
    violation: Option<String>,
}

fn payload_hash(p: &EntryPayload) -> u64 {
    let bytes: Vec<u8> = match p {
        EntryPayload::Noop => b"noop".to_vec(),
        EntryPayload::Normal(d) => d.clone(),
        EntryPayload::ConfChange(cc) => format!("{cc:?}").into_bytes(),
    };
    raft_core::fnv1a(&bytes)
}

impl Invariants {
    /// Records a violation (the first one wins).
    pub fn fail(&mut self, what: String) {
        if self.violation.is_none() {
            self.violation = Some(what);
        }
    }

    /// The first violation, if any.
    pub fn violation(&self) -> Option<&str> {
        self.violation.as_deref()
    }

    /// Entries known committed.
    pub fn committed_count(&self) -> u64 {
        self.committed.len() as u64
    }

    /// Distinct (term, leader) pairs seen.
    pub fn elections(&self) -> u64 {
        self.leaders.len() as u64
    }

    /// Election safety and leader completeness, when `raw` is a leader.
    pub fn check_role(&mut self, raw: &Option<RawNode<MemStorage>>, id: NodeId) {
        let Some(raw) = raw else { return };
        let r = raw.raft();
        if r.role() != Role::Leader {
            return;
        }
        match self.leaders.get(&r.term()) {
            Some(&other) if other != id => {
                return self.fail(format!(
                    "election safety: n{other} and n{id} both lead term {}",
                    r.term()
                ));
            }
            Some(_) => return,
            None => {
                self.leaders.insert(r.term(), id);
            }
        }
        let first = r.log().first_index();
        for (&idx, &(term, _)) in self.committed.range(first..) {
            let seen_in = self.committed_seen_in.get(&idx).copied().unwrap_or(0);
            if seen_in >= r.term() {
                continue; // possibly committed in a term at or above this leader's
            }
            match r.log().term(idx) {
                Ok(t) if t == term => {}
                other => {
                    return self.fail(format!(
                        "leader completeness: n{id}, leader of term {}, lacks committed entry {idx}/{term} (has {other:?})",
                        r.term()
                    ));
                }
            }
        }
    }

    /// Log matching and immutability of committed entries, for entries a node is
    /// about to persist.
    pub fn check_new_entries(&mut self, id: NodeId, raw: &RawNode<MemStorage>, ents: &[Entry]) {
        for e in ents {
            let prev = raw.raft().log().term(e.index - 1).ok();
            let key = (e.index, e.term);
            let val = (payload_hash(&e.payload), prev);
            match self.entries.get(&key) {
                Some(&(h, p)) if h != val.0 || (p.is_some() && prev.is_some() && p != prev) => {
                    return self.fail(format!(
                        "log matching: n{id} writes {}/{} with a different payload or predecessor",
                        e.index, e.term
                    ));
                }
                Some(_) => {}
                None => {
                    self.entries.insert(key, val);
                }
            }
            // A stale leader may append a different entry at an index that is
            // committed elsewhere; rewriting an index the node itself knows is
            // committed is the violation.
            if let Some(&(t, _)) = self.committed.get(&e.index)
                && t != e.term
                && e.index <= raw.raft().log().committed()
            {
                return self.fail(format!(
                    "committed entry overwritten: n{id} writes term {} at committed index {} (term {t})",
                    e.term, e.index
                ));
            }
        }
    }

    /// Commit monotonicity; records newly committed entries and checks they agree
    /// with what other nodes committed.
    pub fn check_commit(&mut self, id: NodeId, raw: &RawNode<MemStorage>, commit: LogIndex) {
        let prev = self.node_commit.get(&id).copied().unwrap_or(0);
        if commit < prev {
            return self.fail(format!(
                "n{id}'s commit index went back from {prev} to {commit}"
            ));
        }
        self.node_commit.insert(id, commit);
        let log = raw.raft().log();
        let r = raw.raft();
        let steady_leader = r.role() == Role::Leader && self.led_term.get(&id) == Some(&r.term());
        if steady_leader && commit > prev && log.term(commit).is_ok_and(|t| t != r.term()) {
            return self.fail(format!(
                "commitment rule: n{id}, leader of term {}, committed index {commit} of term {:?} by counting replicas",
                r.term(),
                log.term(commit)
            ));
        }
        let from = (prev + 1).max(log.first_index());
        if from > commit {
            return;
        }
        let ents = match log.slice(from, commit + 1, None) {
            Ok(e) => e,
            Err(e) => return self.fail(format!("n{id} cannot read its committed entries: {e}")),
        };
        for e in ents {
            let seen = self.committed_seen_in.entry(e.index).or_insert(r.term());
            *seen = (*seen).min(r.term());
            let val = (e.term, payload_hash(&e.payload));
            match self.committed.get(&e.index) {
                Some(&c) if c != val => {
                    return self.fail(format!(
                        "n{id} committed {}/{} but {}/{} was committed before",
                        e.index, e.term, e.index, c.0
                    ));
                }
                Some(_) => {}
                None => {
                    self.committed.insert(e.index, val);
                }
            }
        }
    }

    /// State machine safety for an entry node `id` applies.
    pub fn check_apply(&mut self, id: NodeId, e: &Entry) {
        let val = (e.term, payload_hash(&e.payload));
        if let Some(&c) = self.committed.get(&e.index)
            && c != val
        {
            return self.fail(format!(
                "n{id} applies {}/{} but {}/{} is committed",
                e.index, e.term, e.index, c.0
            ));
        }
        match self.applied.get(&e.index) {
            Some(&a) if a != val => self.fail(format!(
                "state machine safety: n{id} applies {}/{} where another node applied term {}",
                e.index, e.term, a.0
            )),
            Some(_) => {}
            None => {
                self.applied.insert(e.index, val);
            }
        }
    }

    /// Every node's state machine after applying `index` (or installing a snapshot
    /// at it) equals every other node's at that index.
    pub fn check_state(&mut self, id: NodeId, index: LogIndex, fingerprint: u64) {
        match self.state_at.get(&index) {
            Some(&f) if f != fingerprint => self.fail(format!(
                "n{id}'s state after index {index} differs from another node's at that index"
            )),
            Some(_) => {}
            None => {
                self.state_at.insert(index, fingerprint);
            }
        }
    }

    /// Applied never exceeds committed; remembers whether the node leads.
    pub fn check_applied(&mut self, id: NodeId, raw: &RawNode<MemStorage>) {
        if raw.raft().role() == Role::Leader {
            self.led_term.insert(id, raw.raft().term());
        } else {
            self.led_term.remove(&id);
        }
        let log = raw.raft().log();
        if log.applied() > log.committed() {
            self.fail(format!(
                "n{id} applied {} beyond committed {}",
                log.applied(),
                log.committed()
            ));
        }
    }
}
