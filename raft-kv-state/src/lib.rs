//! `raft-kv-state`: the state machine every replica of the store runs.
//!
//! Everything a replica computes from the log lives here, and nothing here
//! reads a clock, a socket or ambient randomness: given the same entries,
//! every replica and every binary that knows their version computes the same
//! state and the same replies.
//!
//! Modules, each depending only on those listed before it (the registry
//! collects the families' lists, so families and registry meet only
//! through `family`, the families' vocabulary):
//! - [`numbers`], [`limits`], [`errors`], [`reply`]: how Redis reads
//!   numbers, the request limits, every error a command answers with, and
//!   replies in RESP2 and RESP3;
//! - [`entry`]: the log's entry format, versioned, with the first format
//!   still read;
//! - [`store`]: [`KvStore`], the keys and values of Redis's types, and the
//!   command families that work on them; the snapshot format;
//! - `commands`: the families outside the data (connections, transactions,
//!   the server, scripting, cluster administration);
//! - [`registry`]: every command's facts and handler in one table
//!   ([`registry::registry`]), and what a request turns into
//!   ([`registry::plan::Plan`]);
//! - `machine`: what a log entry's [`Op`] does to the store, through the
//!   registry ([`KvStore::apply_op`]);
//! - [`script`]: Lua scripts, whose `redis.call` plans through the registry.

pub mod entry;
pub mod errors;
pub mod limits;
pub mod numbers;
pub mod reply;
pub mod store;

mod commands;
mod family;
mod machine;
pub mod registry;
pub mod script;

/// The Redis version whose commands and replies the store answers as
/// (`INFO`'s `redis_version`, `HELLO`'s `version`).
pub const REDIS_COMPAT_VERSION: &str = "7.0.0";

pub use commands::connection::reset_reply;
pub use commands::pubsub::ping_reply;
pub use entry::{Entry, Op, ProposalId};
pub use errors::{CommandError, ErrorCode, ReplyError};
pub use limits::Limits;
pub use reply::{Protocol, Reply};
pub use store::KvStore;
