//! The administration commands: membership (`RAFT.ADDNODE`,
//! `RAFT.REMOVENODE`), snapshots (`SAVE`, `BGSAVE`) and `SHUTDOWN`.

use super::outcome::{Outcome, arity, now};
use super::session::Session;
use crate::command::Reply;
use crate::error::ErrorCode;
use raft_core::ConfChangeStep;

type Args<'a> = &'a [Vec<u8>];

/// RAFT.REMOVENODE id: `+OK` once the whole change is applied here.
pub(super) fn remove_node(s: &mut Session, a: Args) -> Outcome {
    match parse_id(&a[0]) {
        Some(id) => Outcome::Reply(s.node.conf_change(ConfChangeStep::Remove(id), None)),
        None => now(bad_id()),
    }
}

/// RAFT.ADDNODE id peer_addr [LEARNER]: adds a voter or a learner, or
/// promotes a learner.
pub(super) fn add_node(s: &mut Session, a: Args) -> Outcome {
    let learner = match a.get(2) {
        None => false,
        Some(flag) if a.len() == 3 && flag.eq_ignore_ascii_case(b"LEARNER") => true,
        Some(_) if a.len() > 3 => return now(arity("RAFT.ADDNODE")),
        Some(_) => {
            return now(Reply::error(
                ErrorCode::Err,
                "syntax error: the third argument can only be LEARNER",
            ));
        }
    };
    let Some(id) = parse_id(&a[0]) else {
        return now(bad_id());
    };
    let addr = String::from_utf8_lossy(&a[1]).into_owned();
    if !addr.contains(':') {
        return now(Reply::error(
            ErrorCode::Err,
            format!("peer address '{addr}' is not HOST:PORT"),
        ));
    }
    let step = if learner {
        ConfChangeStep::AddLearner(id)
    } else {
        ConfChangeStep::AddVoter(id)
    };
    Outcome::Reply(s.node.conf_change(step, Some(addr)))
}

/// BGSAVE [SCHEDULE]: this node takes a snapshot (and compacts its log) in
/// the background.
pub(super) fn bgsave(s: &mut Session, a: Args) -> Outcome {
    let reply = match a {
        [] => "Background saving started",
        [w] if w.eq_ignore_ascii_case(b"SCHEDULE") => "Background saving scheduled",
        _ => return now(Reply::error(ErrorCode::Err, "syntax error")),
    };
    let node = s.node.clone();
    let started = std::thread::Builder::new()
        .name("raft-kv-bgsave".into())
        .spawn(move || {
            if let Err(e) = node.snapshot() {
                log::warn!("BGSAVE: the snapshot was not taken: {e}");
            }
        });
    match started {
        Ok(_) => now(Reply::Simple(reply.into())),
        Err(e) => now(Reply::error(
            ErrorCode::Err,
            format!("cannot start the snapshot: {e}"),
        )),
    }
}

/// SHUTDOWN [NOSAVE | SAVE] [NOW] [FORCE]: stops this node gracefully, as
/// SIGTERM does (the other members keep serving), and closes the connection
/// without a reply, as Redis does. Its log is durable already: there is
/// nothing to save.
pub(super) fn shutdown(s: &mut Session, a: Args) -> Outcome {
    for word in a {
        match word.to_ascii_uppercase().as_slice() {
            b"NOSAVE" | b"SAVE" | b"NOW" | b"FORCE" => {}
            b"ABORT" => {
                return now(Reply::error(ErrorCode::Err, "No shutdown in progress."));
            }
            _ => return now(Reply::error(ErrorCode::Err, "syntax error")),
        }
    }
    log::info!("SHUTDOWN from a client: stopping this node gracefully");
    s.node.request_stop();
    Outcome::Hangup
}

/// A node id: a positive integer.
pub(super) fn parse_id(bytes: &[u8]) -> Option<u64> {
    std::str::from_utf8(bytes)
        .ok()?
        .parse::<u64>()
        .ok()
        .filter(|&id| id > 0)
}

/// The reply to a node id that is not one.
pub(super) fn bad_id() -> Reply {
    Reply::error(ErrorCode::Err, "node id must be a positive integer")
}
