//! The one place a [`RequestError`] becomes a RESP error reply: its
//! [`ErrorCode`](crate::error::ErrorCode) word, then its text.

use crate::command::Reply;
use crate::error::RequestError;

/// The RESP error reply for `error`.
pub(crate) fn error_reply(error: &RequestError) -> Reply {
    Reply::error(error.code(), error)
}

/// The RESP reply for a request's outcome.
pub(crate) fn reply_of(outcome: Result<Reply, RequestError>) -> Reply {
    outcome.unwrap_or_else(|e| error_reply(&e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn every_request_error_reply_starts_with_its_code_and_parses_back() {
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
            RequestError::Refused(raft_core::Error::ConfChange("busy".into())),
            RequestError::SnapshotBusy,
            RequestError::SnapshotFailed {
                index: 3,
                reason: "disk".into(),
            },
            RequestError::SnapshotTimedOut,
        ];
        for e in all {
            let Reply::Error(text) = error_reply(&e) else {
                panic!("{e:?} is not an error reply");
            };
            assert_eq!(ErrorCode::of_error_text(&text), Some(e.code()), "{text}");
            assert!(text.ends_with(&e.to_string()), "{text}");
        }
    }
}
