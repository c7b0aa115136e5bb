//! Tunables of one Raft node, validated before the node starts.

use crate::error::{Error, Result};
use crate::types::NodeId;

/// The configuration of one [`crate::RawNode`].
#[derive(Clone, Debug)]
pub struct Config {
    /// This node's id (non-zero).
    pub id: NodeId,
    /// Ticks without hearing from a leader before campaigning; the actual timeout is
    /// drawn from `[election_tick, 2 * election_tick)`.
    pub election_tick: u64,
    /// Ticks between a leader's heartbeats (less than `election_tick`).
    pub heartbeat_tick: u64,
    /// Upper bound on the entry bytes of one append message (at least one entry is sent).
    pub max_size_per_msg: u64,
    /// Appends a leader keeps in flight to one follower in the Replicate state.
    pub max_inflight_msgs: usize,
    /// Bytes a leader keeps in flight to one follower (0: no byte limit).
    pub max_inflight_bytes: u64,
    /// Upper bound on committed-entry bytes handed out in one `Ready`.
    pub max_committed_size_per_ready: u64,
    /// Run a pre-vote before a real election (no term inflation by partitioned nodes).
    pub pre_vote: bool,
    /// A leader steps down when it has not heard from a quorum in an election
    /// timeout; followers with a live leader ignore vote requests (leader stickiness).
    pub check_quorum: bool,
    /// Seed of the election-timeout jitter.
    pub seed: u64,
    /// The applied index to resume from after a restart (0: the snapshot index).
    pub applied: u64,
    /// Ticks a leader waits for a follower to acknowledge a snapshot before it
    /// sends it again (a large snapshot takes a while to transfer).
    pub snapshot_timeout_ticks: u64,
    /// When the commit index moves, a leader tells every follower at once,
    /// with an empty append where it has no entries to send (etcd's way).
    /// Off, only followers with entries to receive get an append then; the
    /// rest learn the commit index from the next append or heartbeat (within
    /// `heartbeat_tick`), which saves a message round per commit. Committing
    /// and answering clients are the same either way; followers apply later.
    pub broadcast_commit: bool,
}

impl Config {
    /// Defaults for `id`: 10-tick elections, 1-tick heartbeats, PreVote and
    /// CheckQuorum on, 1 MiB appends, 256 appends in flight.
    pub fn new(id: NodeId) -> Self {
        Config {
            id,
            election_tick: 10,
            heartbeat_tick: 1,
            max_size_per_msg: 1 << 20,
            max_inflight_msgs: 256,
            max_inflight_bytes: 0,
            max_committed_size_per_ready: 64 << 20,
            pre_vote: true,
            check_quorum: true,
            seed: id,
            applied: 0,
            snapshot_timeout_ticks: 200,
            broadcast_commit: true,
        }
    }

    /// Checks every field; the error says which one is wrong.
    pub fn validate(&self) -> Result<()> {
        if self.id == 0 {
            return Err(Error::Config("node id must not be 0".into()));
        }
        if self.heartbeat_tick == 0 {
            return Err(Error::Config(
                "heartbeat_tick must be greater than 0".into(),
            ));
        }
        if self.election_tick <= self.heartbeat_tick {
            return Err(Error::Config(
                "election_tick must be greater than heartbeat_tick".into(),
            ));
        }
        if self.max_inflight_msgs == 0 {
            return Err(Error::Config(
                "max_inflight_msgs must be greater than 0".into(),
            ));
        }
        if self.max_size_per_msg == 0 {
            return Err(Error::Config(
                "max_size_per_msg must be greater than 0".into(),
            ));
        }
        Ok(())
    }
}
