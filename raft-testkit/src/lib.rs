//! `raft-testkit`: what every in-memory driver of `raft-core` shares (like
//! raft-rs's `harness/`).
//!
//! - [`drive_ready`]: one `Ready`, handled in exactly the order the contract in
//!   `raft-core/src/raw_node.rs` prescribes, with [`ReadyHooks`] at every step
//!   so that a caller can observe, check invariants, or crash the node at a
//!   persistence boundary.
//! - [`Cluster`]: a fault-free cluster with instant, in-order delivery, for
//!   scenario tests and benchmarks.
//! - [`certs`]: a test CA and the certificates it issues, for TLS tests.
//!
//! The core's scenario tests, the simulator and the benchmarks all drive
//! readies through [`drive_ready`]; none has a loop of its own.

pub mod certs;
mod cluster;
mod ready;

pub use cluster::Cluster;
pub use ready::{CrashPoint, Driven, ReadyHooks, drive_ready};
