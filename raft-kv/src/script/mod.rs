//! Lua scripting (`EVAL` and its kin): the interpreter a script runs in
//! (`lua`, with Redis's `cjson` in `json`) and the cache that maps a
//! script's SHA1 to its source (`cache`).
//!
//! Every replica runs every script, from the log, so a script must compute
//! the same on all of them: it gets a fresh interpreter (no state survives
//! from one script to the next), no `os`, `io` or file loading, a
//! `math.random` seeded from its log entry, and it reaches the data only
//! through `redis.call` / `redis.pcall`, which the caller's [`Host`] runs
//! against the state machine. What the host does between the calls (the
//! check for `SCRIPT KILL`) is the runtime's business.

mod cache;
mod json;
mod lua;

pub use cache::{ScriptCache, sha1_hex};
pub use lua::check_syntax;
pub(crate) use lua::{Abort, Gate, HOOK_EVERY, Host, run};

#[cfg(test)]
mod tests;
