//! `MULTI`/`EXEC` on the state machine: a transaction's commands applied in
//! order inside one log entry, so that no other command (and no read, no
//! snapshot) comes between them on any replica.

use super::KvStore;
use crate::command::{Command, ReadCommand, Reply, TxOp};
use crate::error::ErrorCode;

impl KvStore {
    /// Applies a transaction's `ops` in order; the reply holds each op's.
    /// What a session never queues (a transaction inside one, a backup) gets
    /// an error at its place, the same on every replica.
    pub(super) fn exec(&mut self, ops: &[TxOp]) -> Reply {
        let replies = ops
            .iter()
            .map(|op| match op {
                TxOp::Write(Command::Exec { .. }) => {
                    Reply::error(ErrorCode::Err, "MULTI calls can not be nested")
                }
                TxOp::Write(cmd) => self.apply(cmd),
                TxOp::Read(ReadCommand::Backup) => Reply::error(
                    ErrorCode::Err,
                    "RAFT.BACKUP is not allowed in a transaction",
                ),
                TxOp::Read(cmd) => self.read(cmd),
                TxOp::Fixed(reply) => reply.clone(),
            })
            .collect();
        Reply::Array(replies)
    }
}
