//! The one place a [`RequestError`] becomes a RESP error reply: its
//! [`ErrorCode`](raft_kv_state::ErrorCode) word, then its text.

use raft_kv::RequestError;
use raft_kv_state::{Reply, ReplyError};

/// The RESP reply for a request's outcome.
pub(crate) fn reply_of(outcome: Result<Reply, RequestError>) -> Reply {
    outcome.unwrap_or_else(|e| Reply::Error(ReplyError::from(&e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_request_error_reply_starts_with_its_code_and_ends_with_its_text() {
        let all = [
            RequestError::NotProposed,
            RequestError::Dropped(raft_core::Error::ProposalDropped("x")),
            RequestError::Overloaded,
            RequestError::OutcomeUnknown,
            RequestError::LeaderChanged,
            RequestError::ReadTimedOut,
            RequestError::ReadAborted,
            RequestError::Shutdown,
            RequestError::NotLeader { leader: Some(2) },
            RequestError::NotVoter(4),
            RequestError::TransferTimedOut(3),
            RequestError::RemoveSelfAsFollower,
            RequestError::Refused(raft_core::Error::ConfChange(
                raft_core::ConfChangeError::InProgress,
            )),
            RequestError::SnapshotBusy,
            RequestError::SnapshotFailed {
                index: 3,
                reason: "disk".into(),
            },
            RequestError::SnapshotTimedOut,
        ];
        for e in all {
            let Reply::Error(reply) = reply_of(Err(e.clone())) else {
                panic!("{e:?} is not an error reply");
            };
            assert_eq!(reply.known_code(), Some(e.code()), "{reply}");
            assert!(reply.line().ends_with(&e.to_string()), "{reply}");
        }
    }
}
