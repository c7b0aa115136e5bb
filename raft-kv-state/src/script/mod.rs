//! Lua scripting (`EVAL` and its kin): the interpreter a script runs in
//! (`lua`, with Redis's `cjson` in `json`, `cmsgpack` in `msgpack` and
//! `bit` in `bit`) and the host that runs its
//! `redis.call`s against the store (`host`).
//!
//! Every replica runs every script, from the log, so a script must compute
//! the same on all of them: it gets a fresh interpreter (no state survives
//! from one script to the next), no `os`, `io` or file loading, a
//! `math.random` seeded from its log entry, and it reaches the data only
//! through `redis.call` / `redis.pcall`, which plan through the registry as
//! any request does. What the [`Gate`] decides between the calls (the check
//! for `SCRIPT KILL`) is the runtime's business.

mod bit;
mod convert;
mod host;
mod json;
mod lua;
mod msgpack;

pub use host::run_script;
pub use lua::{Abort, Gate, HOOK_EVERY, Host, check_syntax, run};

/// The SHA1 of a script's source, in lower-case hex (`EVALSHA`'s name for it).
pub fn sha1_hex(body: &[u8]) -> String {
    sha1_smol::Sha1::from(body).digest().to_string()
}

#[cfg(test)]
mod tests;
