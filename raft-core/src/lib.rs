//! `raft-core`: the Raft consensus algorithm as a pure, deterministic state machine.
//!
//! No I/O, threads, clocks or ambient randomness: time advances through
//! [`RawNode::tick`], messages arrive through [`RawNode::step`], and everything the
//! node wants done comes out as data in a [`Ready`]. The caller persists, sends and
//! applies, then calls [`RawNode::advance`]. This is what makes deterministic
//! simulation of whole clusters possible.
//!
//! Implemented: leader election with PreVote, CheckQuorum and leader stickiness;
//! log replication with per-follower flow control (Probe / Replicate / Snapshot,
//! inflight window, message size limit) and fast conflict backtracking; commitment
//! by current-term majority (Figure 8); ReadIndex reads batched per heartbeat round;
//! snapshots to lagging followers; leadership transfer; membership as data with
//! majority and joint quorums.

pub mod confchange;
mod config;
mod error;
mod hash;
mod log;
mod message;
mod progress;
pub mod quorum;
mod raft;
mod raw_node;
pub mod rng;
mod storage;
mod tracker;
mod types;

pub use confchange::ConfChangeError;
pub use config::Config;
pub use error::{Error, Result, StorageError};
pub use hash::fnv1a;
pub use log::RaftLog;
pub use message::{Message, MessageBody, VoteKind};
pub use progress::{Inflights, Progress, ProgressState};
pub use raft::{Raft, ReadState};
pub use raw_node::{PeerStatus, RawNode, Ready, Status};
pub use rng::{DetRng, SplitMix64};
pub use storage::Storage;
pub use tracker::ProgressTracker;
pub use types::{
    ConfChange, ConfChangeStep, ConfState, Entry, EntryPayload, HardState, LogIndex, NodeId, Role,
    Snapshot, SnapshotMeta, SoftState, Term,
};
