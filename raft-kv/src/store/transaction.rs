//! `MULTI`/`EXEC` on the state machine: a transaction's commands applied in
//! order inside one log entry, so that no other command (and no read, no
//! snapshot) comes between them on any replica. With WATCH, the entry also
//! carries the version of each watched key as the connection saw it, and
//! runs only if none changed.

use super::KvStore;
use crate::command::{Command, ReadCommand, Reply, TxOp};
use crate::error::ErrorCode;

impl KvStore {
    /// EXEC after WATCH: `ops` if no watched key changed since its version
    /// was seen, else the nil array and no change.
    pub(super) fn exec_watched(
        &mut self,
        watched: &[(serde_bytes::ByteBuf, Option<u64>)],
        ops: &[TxOp],
    ) -> Reply {
        let unchanged = watched
            .iter()
            .all(|(key, seen)| self.key_version(key) == *seen);
        if unchanged {
            self.exec(ops)
        } else {
            Reply::NullArray
        }
    }

    /// The version of the live key `key`: the index of the entry that last
    /// changed it.
    pub fn key_version(&self, key: &[u8]) -> Option<u64> {
        self.slot(key).map(|s| s.version)
    }

    /// Applies a transaction's `ops` in order; the reply holds each op's.
    /// What a session never queues (a transaction inside one, a backup) gets
    /// an error at its place, the same on every replica.
    pub(super) fn exec(&mut self, ops: &[TxOp]) -> Reply {
        Reply::Array(ops.iter().map(|op| self.run_op(op)).collect())
    }

    /// Applies one queued op (of a transaction, or a script's `redis.call`).
    /// What a session never queues (a transaction inside one, a backup, a
    /// script) gets an error, the same on every replica.
    pub(crate) fn run_op(&mut self, op: &TxOp) -> Reply {
        match op {
            TxOp::Write(Command::Exec { .. } | Command::ExecWatched { .. }) => {
                Reply::error(ErrorCode::Err, "MULTI calls can not be nested")
            }
            TxOp::Write(Command::Eval(_) | Command::ScriptMarker { .. }) => Reply::error(
                ErrorCode::Err,
                "scripts are not allowed inside a transaction or a script",
            ),
            TxOp::Write(cmd) => self.apply(cmd),
            TxOp::Read(ReadCommand::Backup) => Reply::error(
                ErrorCode::Err,
                "RAFT.BACKUP is not allowed in a transaction",
            ),
            TxOp::Read(cmd) => self.read(cmd),
            TxOp::Fixed(reply) => reply.clone(),
        }
    }
}
