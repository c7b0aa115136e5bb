//! Whole-cluster tests of the Raft implementation.
//!
//! - [`sim`]: a deterministic simulator of `raft-core` clusters with a seeded
//!   network (drop, delay, duplicate, reorder, partitions), crashes that lose
//!   unpersisted state, snapshots, and clients issuing writes and linearizable reads.
//! - [`invariants`]: the safety properties checked after every step.
//! - [`linearizability`]: the Wing-Gong/Lowe checker for client histories.
//!
//! `cargo test -p integration-tests` runs the default seeds; `SIM_SEEDS=N` runs N
//! seeds and `SIM_SEED=n` replays one with a readable trace.

pub mod invariants;
pub mod kv;
pub mod linearizability;
pub mod network;
pub mod sim;

pub use sim::{Sim, SimOptions, SimReport};
