//! Whole-cluster tests of the Raft implementation.
//!
//! - [`sim`]: a deterministic simulator of `raft-core` clusters with a seeded
//!   network (drop, delay, duplicate, reorder, partitions), crashes that lose
//!   unpersisted state, snapshots, and clients issuing writes and linearizable reads.
//! - [`invariants`]: the safety properties checked after every step.
//! - [`promises`]: every message that promises durable state is backed by
//!   the sender's storage when it leaves.
//! - [`linearizability`]: the Wing-Gong/Lowe checker for client histories.
//! - [`swarm`]: each seed's own mix of features and fault rates.
//! - [`coverage`]: how often the rare situations happened.
//! - [`expiry`]: the store's state machine on every node, with skewed clocks:
//!   expiry decided the same on every replica, never served past its time.
//!
//! `cargo test -p integration-tests` runs the default seeds; `SIM_SEEDS=N` runs N
//! seeds and `SIM_SEED=n` replays one with a readable trace.

pub mod coverage;
pub mod expiry;
pub mod invariants;
pub mod kv;
pub mod linearizability;
pub mod network;
pub mod promises;
pub mod sim;
pub mod swarm;

pub use coverage::Coverage;
pub use sim::{Sim, SimOptions, SimReport};
pub use swarm::Swarm;
