//! What the store's unit tests share: calls as words, applied as the next
//! entry of the log.

use super::KvStore;
use crate::errors::{CommandError, ReplyError};
use crate::reply::Reply;

/// `ws` as a command's words.
pub(crate) fn words(ws: &[&str]) -> Vec<Vec<u8>> {
    ws.iter().map(|w| w.as_bytes().to_vec()).collect()
}

/// Applies `ws` as the entry after the last applied one.
pub(crate) fn run(s: &mut KvStore, ws: &[&str]) -> Reply {
    run_seeded(s, ws, 7)
}

/// Applies `ws` with the entry seed `seed`.
pub(crate) fn run_seeded(s: &mut KvStore, ws: &[&str], seed: u64) -> Reply {
    let reply = s.apply_call(&words(ws), seed);
    s.set_applied_index(s.applied_index() + 1);
    reply
}

/// Runs the read `ws`.
pub(crate) fn read(s: &KvStore, ws: &[&str]) -> Reply {
    s.read_call(&words(ws))
}

/// A bulk reply of `v`.
pub(crate) fn bulk(v: &str) -> Reply {
    Reply::Bulk(Some(v.as_bytes().to_vec()))
}

/// The reply of error `e`.
pub(crate) fn error(e: CommandError) -> Reply {
    Reply::Error(ReplyError::from(e))
}

/// True if `r` is `-WRONGTYPE`.
pub(crate) fn is_wrong_type(r: &Reply) -> bool {
    *r == error(CommandError::WrongType)
}
