//! Membership administration: what a membership entry's context carries.

use crate::command::ProposalId;
use raft_core::NodeId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The context of a membership entry: who proposed it (for the reply) and the
/// peer address of every member after the change, so that every node, a new one
/// included, can reach all the others.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminContext {
    /// The proposal this entry answers.
    pub proposal: ProposalId,
    /// Peer addresses of the members.
    pub members: BTreeMap<NodeId, String>,
}

impl AdminContext {
    /// Encodes for a `ConfChange` context.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self).expect("an AdminContext always encodes")
    }

    /// Decodes a `ConfChange` context (None if it is not one of ours).
    pub fn decode(bytes: &[u8]) -> Option<AdminContext> {
        postcard::from_bytes(bytes).ok()
    }
}
