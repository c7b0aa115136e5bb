//! The state machine's entry point: what a log entry's [`Op`] does to the
//! [`KvStore`], every logged call applied through the registry's handler
//! for it, and the reads that run through the same handlers.
//!
//! `MULTI`/`EXEC` is here too: a transaction's commands applied in order
//! inside one log entry, so that no other command (and no read, no
//! snapshot) comes between them on any replica. With WATCH, the entry also
//! carries the version of each watched key as the connection saw it, and
//! runs only if none changed.

use crate::entry::{Op, Queued, Transaction};
use crate::errors::CommandError;
use crate::registry::registry;
use crate::reply::Reply;
use crate::store::{Answers, KvStore};
use raft_core::SplitMix64;

impl KvStore {
    /// Applies `op` (the entry's time already applied, [`KvStore::advance_clock`]);
    /// the reply is what the proposing client gets. A script and its markers
    /// are the applier's to run: here they get an error, the same on every
    /// replica.
    pub fn apply_op(&mut self, op: &Op) -> Reply {
        match op {
            Op::Call(call) => {
                let from = self.published_len();
                let reply = self.apply_call(&call.argv, call.seed);
                self.published_answer(from, Answers::Reply);
                reply
            }
            Op::Transaction(tx) => self.exec(tx),
            Op::Tick => Reply::ok(),
            Op::Member(m) => {
                self.record_member(m);
                Reply::ok()
            }
            Op::LegacyIncrBy { key, delta } => self.legacy_incr_by(key, *delta),
            Op::Script(_) | Op::ScriptMarker { .. } => CommandError::ScriptOutsideApplier.into(),
        }
    }

    /// Applies the logged call `argv` (the name first) with the entry's
    /// `seed`, through the registry: a write, or a read inside a transaction.
    pub fn apply_call(&mut self, argv: &[Vec<u8>], seed: u64) -> Reply {
        match registry().lookup_logged(argv, self.entry_version()) {
            Ok(c) if c.arity_fits(argv.len()) => c.apply(self, argv, seed),
            Ok(c) => CommandError::arity(c.name()).into(),
            Err(e) => e.into(),
        }
    }

    /// Runs the read `argv` (the name first) against the state, its random
    /// choices (if any) this node's own.
    pub(crate) fn read_call(&self, argv: &[Vec<u8>]) -> Reply {
        self.read_call_with(argv, &mut SplitMix64::from_entropy())
    }

    /// Runs the read `argv` with random choices from `rng` (a script's, so
    /// that every replica reads the same).
    pub(crate) fn read_call_with(&self, argv: &[Vec<u8>], rng: &mut SplitMix64) -> Reply {
        let c = match registry().lookup(argv) {
            Ok(c) if c.arity_fits(argv.len()) => c,
            Ok(c) => return CommandError::arity(c.name()).into(),
            Err(e) => return e.into(),
        };
        c.run_read(self, argv, rng).unwrap_or_else(|| {
            CommandError::NotARead {
                command: c.name().to_string(),
            }
            .into()
        })
    }

    /// A transaction: its commands in order if no watched key changed since
    /// its version was seen (the array of their replies), else the nil
    /// array and no change.
    fn exec(&mut self, tx: &Transaction) -> Reply {
        let unchanged = tx
            .watched
            .iter()
            .all(|(key, seen)| self.key_version(key) == *seen);
        if !unchanged {
            return Reply::NullArray;
        }
        let mut replies = Vec::with_capacity(tx.queued.len());
        for (i, q) in tx.queued.iter().enumerate() {
            let from = self.published_len();
            replies.push(self.run_queued(q));
            self.published_answer(from, Answers::InTransaction(i));
        }
        Reply::Array(replies)
    }

    /// Applies one queued command at its place.
    fn run_queued(&mut self, q: &Queued) -> Reply {
        match q {
            Queued::Call(call) => self.apply_call(&call.argv, call.seed),
            Queued::Fixed(reply) => reply.clone(),
            Queued::LegacyIncrBy { key, delta } => self.legacy_incr_by(key, *delta),
        }
    }

    /// Version 1's first INCRBY: the stored value read with Rust's parse.
    fn legacy_incr_by(&mut self, key: &[u8], delta: i64) -> Reply {
        crate::store::strings::incr_by(self, key, delta, |v| {
            std::str::from_utf8(v).ok()?.parse::<i64>().ok()
        })
        .unwrap_or_else(Reply::from)
    }
}
