//! Swarm testing (Groce et al., ISSTA 2012; FoundationDB's and TigerBeetle's
//! simulators do the same): every seed draws its own mix of features and fault
//! rates. Each feature is switched on for about half of the seeds, so no single
//! average setting hides a corner: some seeds have no drops but constant leader
//! churn, some tiny messages and long partitions, some a crash at every other
//! persistence boundary.

use raft_core::DetRng;
use raft_testkit::CrashPoint;

/// The features and rates of one seed. Rates are per million steps (or per
/// million readies for crash points) unless named otherwise.
#[derive(Clone, Debug)]
pub struct Swarm {
    /// Messages dropped, per mille.
    pub drop_per_mille: u64,
    /// Messages duplicated, per mille.
    pub dup_per_mille: u64,
    /// Longest message delay (time units; a tick is 10).
    pub max_delay: u64,
    /// A random node crashes.
    pub crash: u64,
    /// The leader crashes.
    pub leader_crash: u64,
    /// A node just elected crashes or is cut off at once, per mille of elections.
    pub new_leader_fault_per_mille: u64,
    /// A down node restarts.
    pub restart: u64,
    /// A partition starts.
    pub partition: u64,
    /// A partition heals (low: long partitions).
    pub heal: u64,
    /// A node snapshots and compacts.
    pub snapshot: u64,
    /// A membership change or transfer.
    pub conf_change: u64,
    /// The leader starts a transfer and its own removal at once.
    pub remove_transferring_leader: u64,
    /// Two nodes campaign at the same moment (competing candidates).
    pub campaign_storm: u64,
    /// A client operation, per client.
    pub op: u64,
    /// A crash at each [`CrashPoint`], per million readies reaching it.
    pub ready_crash: [u64; CrashPoint::ALL.len()],
    /// After a node sends a vote grant, its next crash points crash with this
    /// chance per mille (a vote acted on, then lost if it was not durable).
    pub crash_after_vote_per_mille: u64,
    /// A ready's non-durable messages leave only in part before a crash, per
    /// mille of ready crashes at the first point.
    pub partial_send_per_mille: u64,
    /// PreVote on.
    pub pre_vote: bool,
    /// CheckQuorum on.
    pub check_quorum: bool,
    /// Largest append payload (bytes): small ones split catch-ups into many.
    pub max_size_per_msg: u64,
    /// A node that steps a message or takes a client request leaves its ready
    /// for later, per mille, as a runtime does that drains its inbox before
    /// each ready: several messages then land on one set of unstable entries.
    pub deferred_ready_per_mille: u64,
    /// Deferred readies run every this many time units (a tick is 10).
    pub ready_period: u64,
    /// A node with a stalling disk: until the network heals it runs its ready
    /// only every this many time units (several election timeouts at most),
    /// while it keeps stepping messages. 0: no such node.
    pub slow_disk_period: u64,
    /// A stalled split starts: a follower's disk stalls, the leader is cut
    /// off with only it and takes writes, the network heals while the disk is
    /// still stalled (see `sim/stall.rs`).
    pub stalled_split: u64,
}

/// On for about half of the seeds: a rate in `low..high`, else 0.
fn maybe(rng: &mut DetRng, low: u64, high: u64) -> u64 {
    if rng.range(0, 2) == 0 {
        rng.range(low, high)
    } else {
        0
    }
}

impl Swarm {
    /// The swarm of one seed, drawn from `rng`.
    pub fn draw(rng: &mut DetRng) -> Swarm {
        let mut ready_crash = [0; CrashPoint::ALL.len()];
        // A seed that crashes inside readies does so often (up to one ready in
        // five): the rare interleavings are what it is for.
        let ready_crashes = rng.range(0, 2) == 0;
        for rate in &mut ready_crash {
            *rate = if ready_crashes {
                maybe(rng, 5_000, 200_000)
            } else {
                rng.range(0, 200)
            };
        }
        // Few readies carry a snapshot: crash after one often, where enabled.
        let after_snapshot = CrashPoint::ALL
            .iter()
            .position(|p| *p == CrashPoint::AfterSnapshot)
            .expect("every point is in CrashPoint::ALL");
        if ready_crash[after_snapshot] > 0 {
            ready_crash[after_snapshot] = rng.range(200_000, 600_000);
        }
        let long_partitions = rng.range(0, 3) == 0;
        Swarm {
            drop_per_mille: maybe(rng, 1, 150),
            dup_per_mille: maybe(rng, 1, 80),
            max_delay: if rng.range(0, 3) == 0 {
                rng.range(20, 60)
            } else {
                rng.range(3, 16)
            },
            crash: maybe(rng, 100, 3_000),
            leader_crash: maybe(rng, 100, 4_000),
            new_leader_fault_per_mille: maybe(rng, 100, 800),
            restart: if rng.range(0, 2) == 0 {
                6_000
            } else {
                rng.range(20_000, 200_000)
            },
            partition: maybe(rng, 100, 3_000),
            heal: if long_partitions {
                rng.range(50, 300)
            } else {
                rng.range(1_000, 5_000)
            },
            snapshot: maybe(rng, 100, 5_000),
            conf_change: maybe(rng, 100, 2_000),
            remove_transferring_leader: maybe(rng, 50, 500),
            campaign_storm: maybe(rng, 200, 5_000),
            op: rng.range(20_000, 150_000),
            ready_crash,
            crash_after_vote_per_mille: maybe(rng, 100, 900),
            partial_send_per_mille: maybe(rng, 200, 900),
            pre_vote: rng.range(0, 5) != 0,
            check_quorum: rng.range(0, 2) == 0,
            max_size_per_msg: if rng.range(0, 2) == 0 {
                40 * rng.range(1, 4)
            } else {
                4096
            },
            deferred_ready_per_mille: maybe(rng, 300, 1001),
            ready_period: rng.range(1, 6),
            slow_disk_period: if rng.range(0, 3) == 0 {
                0
            } else {
                rng.range(50, 1000)
            },
            stalled_split: maybe(rng, 1000, 6000),
        }
    }

    /// The crash rate at `point`.
    pub fn ready_crash_at(&self, point: CrashPoint) -> u64 {
        let i = CrashPoint::ALL
            .iter()
            .position(|p| *p == point)
            .expect("every point is in CrashPoint::ALL");
        self.ready_crash[i]
    }

    /// One line for the trace.
    pub fn describe(&self) -> String {
        format!("{self:?}")
    }
}
