//! The stalled split: a follower's disk stalls (it keeps stepping messages
//! but runs no ready); as soon as it holds a committed entry it has not
//! persisted, the leader is cut off with only that follower and takes writes
//! the rest never see; as the rest campaign, the follower rejoins them (the
//! old leader stays cut off) while its disk is still stalled, until a new
//! leader's first appends have reached it. The follower then holds,
//! unpersisted, entries the new leader shares followed by entries only the
//! old leader had, and the new leader's append cuts that unstable suffix in
//! its middle: the state where a log that forgets to drop the rest of its
//! unstable suffix goes wrong.

use super::{Client, ELECTION_TICK, Sim, TICK_EVERY};
use raft_core::{ProgressState, Role, Storage};

/// Election timeouts a phase of a stalled split may last at most.
const PHASE_TIMEOUTS: u64 = 8;

/// Where a stalled split is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// The disk stalls; waiting for it to hold a committed unpersisted entry.
    Stalled,
    /// The leader and the follower are cut off from the rest.
    Split,
    /// The follower is back with the rest; waiting for a new leader.
    Rejoined,
    /// A new leader rules; its first appends are on their way.
    Led,
}

/// One stalled split in progress (times are simulator time units).
#[derive(Clone, Copy, Debug)]
pub(super) struct StalledSplit {
    /// The node whose disk stalls.
    follower: usize,
    /// The node that led when the stall began.
    leader: u64,
    /// The leader's term when the stall began.
    term: u64,
    phase: Phase,
    /// When the current phase ends at the latest.
    deadline: u64,
}

impl Sim {
    /// Maybe starts a stalled split (at the swarm's rate, one at a time) and
    /// moves the one in progress along.
    pub(super) fn stalled_split_step(&mut self) {
        let Some(s) = self.stalled_split else {
            if self.chance(self.swarm.stalled_split) {
                self.start_stalled_split();
            }
            return;
        };
        let late = self.now >= s.deadline;
        match s.phase {
            Phase::Stalled if !self.still_leads(s.leader) => {
                self.end_stalled_split("the leader changed before the split")
            }
            Phase::Stalled if !self.streams_to(&s) => {
                self.end_stalled_split("the leader stopped streaming to the stalled follower")
            }
            Phase::Stalled if self.holds_committed_unpersisted_entry(&s) => self.split(s),
            Phase::Stalled if late => self.end_stalled_split("no entry reached the stalled disk"),
            Phase::Split if late || self.rest_campaigns(&s) => self.rejoin(s),
            Phase::Rejoined if self.new_leader(&s) => {
                let wait = self.rng.range(2, 3 * ELECTION_TICK) * TICK_EVERY;
                self.note("stalled split: a new leader rules".into());
                self.enter(s, Phase::Led, wait);
            }
            Phase::Rejoined | Phase::Led if late => self.end_stalled_split("the disk resumes"),
            _ => {}
        }
    }

    /// Starts a stalled split under the current leader if the voters other
    /// than it and one follower still form a quorum (five voters, no joint
    /// configuration): with fewer, the stalled follower's vote is needed and
    /// it refuses every candidate that lacks its entries.
    fn start_stalled_split(&mut self) {
        if self.net.is_partitioned() {
            return;
        }
        let Some(l) = self.leader_index() else { return };
        let Some(raw) = self.nodes[l].raw.as_ref() else {
            return;
        };
        let status = raw.status();
        let conf = status.conf_state;
        if conf.voters.len() < 5 || !conf.voters_outgoing.is_empty() {
            return;
        }
        // A follower the leader streams to (a probed one gets one append
        // until it answers, and a stalled disk never answers).
        let followers: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| {
                let id = self.nodes[i].id;
                i != l
                    && conf.voters.contains(&id)
                    && status
                        .progress
                        .get(&id)
                        .is_some_and(|p| p.state == ProgressState::Replicate)
            })
            .collect();
        if followers.is_empty() {
            return;
        }
        let follower = followers[self.rng.range(0, followers.len() as u64) as usize];
        let leader = self.nodes[l].id;
        self.note(format!(
            "stalled split: n{}'s disk stalls under leader n{leader}",
            self.nodes[follower].id
        ));
        let s = StalledSplit {
            follower,
            leader,
            term: status.hard_state.term,
            phase: Phase::Stalled,
            deadline: 0,
        };
        self.enter(s, Phase::Stalled, 3 * ELECTION_TICK * TICK_EVERY);
    }

    fn enter(&mut self, mut s: StalledSplit, phase: Phase, within: u64) {
        s.phase = phase;
        s.deadline = self.now + within;
        self.stalled_split = Some(s);
    }

    fn end_stalled_split(&mut self, why: &str) {
        self.note(format!("stalled split ends: {why}; the network heals"));
        self.net.heal();
        self.stalled_split = None;
    }

    /// True if node `id` is up and leads.
    fn still_leads(&self, id: u64) -> bool {
        self.nodes.iter().any(|n| {
            n.id == id
                && n.raw
                    .as_ref()
                    .is_some_and(|r| r.raft().role() == Role::Leader)
        })
    }

    /// True if the leader still streams appends to the stalled follower: it
    /// falls back to probing once heartbeats show no progress, and a probed
    /// follower that never answers gets no more entries.
    fn streams_to(&self, s: &StalledSplit) -> bool {
        let f = self.nodes[s.follower].id;
        self.nodes[(s.leader - 1) as usize]
            .raw
            .as_ref()
            .is_some_and(|r| {
                r.status()
                    .progress
                    .get(&f)
                    .is_some_and(|p| p.state == ProgressState::Replicate)
            })
    }

    /// True if the stalled follower holds an entry its storage does not have
    /// yet and the leader knows committed: every later leader has it, so
    /// the unpersisted suffix starts at or below any later leader's log end.
    fn holds_committed_unpersisted_entry(&self, s: &StalledSplit) -> bool {
        let n = &self.nodes[s.follower];
        let (Some(raw), Ok(stable_last)) = (n.raw.as_ref(), n.storage.last_index()) else {
            return false;
        };
        let leader_commit = self.nodes[(s.leader - 1) as usize]
            .raw
            .as_ref()
            .map_or(0, |r| r.raft().log().committed());
        raw.raft().log().last_index() > stable_last && leader_commit > stable_last
    }

    /// Cuts the leader and the stalled follower off from the rest, and has
    /// the leader take a write only the two of them will see.
    fn split(&mut self, s: StalledSplit) {
        let f = self.nodes[s.follower].id;
        let rest: Vec<u64> = self
            .nodes
            .iter()
            .map(|n| n.id)
            .filter(|&x| x != f && x != s.leader)
            .collect();
        self.note(format!("stalled split: n{} and n{f} | {rest:?}", s.leader));
        self.net.partition(&[s.leader, f], &rest);
        // Through a client of the split's own: the others may all wait on
        // operations the split holds up.
        let ci = *self.split_client.get_or_insert_with(|| {
            self.clients.push(Client::default());
            self.clients.len() - 1
        });
        if self.clients[ci].pending.is_none() {
            let key = self.rng.range(0, self.opts.keys);
            self.issue(ci, s.leader, key, true);
        }
        self.enter(s, Phase::Split, PHASE_TIMEOUTS * ELECTION_TICK * TICK_EVERY);
    }

    /// True once a node of the rest campaigns for real in a term after the
    /// stall's: it has given up on the old leader.
    fn rest_campaigns(&self, s: &StalledSplit) -> bool {
        self.in_rest(s, |role, term| role == Role::Candidate && term > s.term)
    }

    /// True once a node of the rest leads in a term after the stall's.
    fn new_leader(&self, s: &StalledSplit) -> bool {
        self.in_rest(s, |role, term| role == Role::Leader && term > s.term)
    }

    fn in_rest(&self, s: &StalledSplit, pred: impl Fn(Role, u64) -> bool) -> bool {
        let f = self.nodes[s.follower].id;
        self.nodes.iter().any(|n| {
            n.id != f
                && n.id != s.leader
                && n.raw
                    .as_ref()
                    .is_some_and(|r| pred(r.raft().role(), r.raft().term()))
        })
    }

    /// Lets the follower rejoin the rest while the old leader stays cut off,
    /// so that it cannot win back the lead with its longer log: the rest's
    /// vote requests and, once one wins, its first appends reach the
    /// follower (a leader probes a silent follower only once).
    fn rejoin(&mut self, s: StalledSplit) {
        let others: Vec<u64> = self
            .nodes
            .iter()
            .map(|n| n.id)
            .filter(|&x| x != s.leader)
            .collect();
        let f = self.nodes[s.follower].id;
        self.note(format!(
            "stalled split: n{f} rejoins the rest, n{} stays cut off",
            s.leader
        ));
        self.net.heal();
        self.net.partition(&[s.leader], &others);
        self.enter(
            s,
            Phase::Rejoined,
            PHASE_TIMEOUTS * ELECTION_TICK * TICK_EVERY,
        );
    }

    /// True while node `i`'s disk is stalled by a stalled split (never after
    /// the chaos).
    pub(super) fn disk_stalled(&self, i: usize) -> bool {
        self.chaos && self.stalled_split.is_some_and(|s| s.follower == i)
    }

    /// The node clients should send writes to while a stalled split stalls
    /// or splits: its leader, so that the stalled follower holds unpersisted
    /// entries the others share and, once split, entries only the two of
    /// them have.
    pub(super) fn stalled_split_writer(&self) -> Option<u64> {
        self.stalled_split
            .filter(|s| matches!(s.phase, Phase::Stalled | Phase::Split))
            .map(|s| s.leader)
    }
}
