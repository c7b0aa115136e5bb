//! The commands on collections (hashes, lists, sets, sorted sets, their
//! blocking pops), a few on keys (COPY, SCAN, RANDOMKEY, MEMORY, OBJECT, SORT,
//! DUMP/RESTORE, the expiry commands) and LCS, as their words: one table of
//! name, arity and function, which the client port uses to route and check
//! requests and the state machine uses to run them. A write travels through
//! the log as its words (`Command::Words`) and is parsed and run by every
//! replica, as Redis replicas run the commands they are sent, so an argument
//! error comes back from the apply, the same on every replica. Randomness
//! (SPOP) comes from a seed the proposing node put in the entry.

use super::KvStore;
use super::words::{Rng, Run, WordsSpec, arity_error};
use crate::command::Reply;
use crate::error::ErrorCode;

/// Every collection command, by type.
fn tables() -> [&'static [WordsSpec]; 11] {
    [
        super::keys::COMMANDS,
        super::expire::COMMANDS,
        super::hash::COMMANDS,
        super::list::COMMANDS,
        super::set::COMMANDS,
        super::zset::COMMANDS,
        super::zset_ops::COMMANDS,
        super::blocking::COMMANDS,
        super::sort::COMMANDS,
        super::lcs::COMMANDS,
        super::dump::COMMANDS,
    ]
}

/// Every collection command.
pub fn all() -> impl Iterator<Item = &'static WordsSpec> {
    tables().into_iter().flatten()
}

/// The entry of `name` (any case).
pub fn lookup(name: &[u8]) -> Option<&'static WordsSpec> {
    all().find(|c| c.name.as_bytes().eq_ignore_ascii_case(name))
}

/// The spec of `argv[0]` with `argv` checked against its arity.
fn checked(argv: &[Vec<u8>]) -> Result<&'static WordsSpec, Reply> {
    let name = argv
        .first()
        .ok_or_else(|| Reply::error(ErrorCode::Err, "empty command"))?;
    let spec = lookup(name).ok_or_else(|| {
        let shown = String::from_utf8_lossy(name);
        Reply::error(ErrorCode::Err, format!("unknown command '{shown}'"))
    })?;
    match spec.arity_ok(argv.len()) {
        true => Ok(spec),
        false => Err(arity_error(spec.name)),
    }
}

impl KvStore {
    /// Runs the write `argv` (the name first) with the entry's `seed`.
    pub(super) fn apply_words(&mut self, argv: &[Vec<u8>], seed: u64) -> Reply {
        let result = checked(argv).and_then(|spec| match spec.run() {
            Run::Write(f) => f(self, &argv[1..], &mut Rng::new(seed)),
            Run::Read(f) => f(self, &argv[1..]),
        });
        result.unwrap_or_else(|error| error)
    }

    /// Runs the read `argv` (the name first).
    pub(super) fn read_words(&self, argv: &[Vec<u8>]) -> Reply {
        let result = checked(argv).and_then(|spec| match spec.run() {
            Run::Read(f) => f(self, &argv[1..]),
            Run::Write(_) => Err(Reply::error(
                ErrorCode::Err,
                format!("{} changes state and cannot run as a read", spec.name),
            )),
        });
        result.unwrap_or_else(|error| error)
    }
}
