//! Membership changes during chaos: random adds, removals and demotions
//! through joint consensus, and the removal of a leader mid-transfer.

use super::Sim;
use raft_core::DetRng;

impl Sim {
    /// Asks the leader for a random membership change or leadership transfer.
    pub(super) fn random_conf_change(&mut self) {
        use raft_core::ConfChangeStep;
        let Some(l) = self.leader_index() else { return };
        let conf = self.nodes[l]
            .raw
            .as_ref()
            .expect("leader is up")
            .status()
            .conf_state;
        let slots: Vec<u64> = self.nodes.iter().map(|n| n.id).collect();
        let pick = |rng: &mut DetRng, from: Vec<u64>| -> Option<u64> {
            (!from.is_empty()).then(|| from[rng.range(0, from.len() as u64) as usize])
        };
        let non_voters: Vec<u64> = slots
            .iter()
            .copied()
            .filter(|id| !conf.voters.contains(id))
            .collect();
        let non_members: Vec<u64> = slots
            .iter()
            .copied()
            .filter(|id| !conf.all_nodes().contains(id))
            .collect();
        let voters: Vec<u64> = conf.voters.iter().copied().collect();
        let learners: Vec<u64> = conf.learners.iter().copied().collect();
        let step = match self.rng.range(0, 5) {
            0 => pick(&mut self.rng, non_voters).map(ConfChangeStep::AddVoter),
            1 => pick(&mut self.rng, non_members).map(ConfChangeStep::AddLearner),
            2 if voters.len() >= 3 => pick(&mut self.rng, voters).map(ConfChangeStep::Remove),
            3 => pick(&mut self.rng, learners).map(ConfChangeStep::Remove),
            4 => {
                let leader_id = self.nodes[l].id;
                let others: Vec<u64> = voters.into_iter().filter(|&v| v != leader_id).collect();
                if let Some(to) = pick(&mut self.rng, others) {
                    self.note(format!("n{leader_id} transfers leadership to n{to}"));
                    self.nodes[l]
                        .raw
                        .as_mut()
                        .expect("leader is up")
                        .transfer_leader(to);
                    self.process_ready(l);
                }
                None
            }
            _ => None,
        };
        let Some(step) = step else { return };
        self.propose_conf_change(l, step);
    }

    /// Proposes `step` on leader `l`, and traces the answer.
    pub(super) fn propose_conf_change(&mut self, l: usize, step: raft_core::ConfChangeStep) {
        let cc = raft_core::ConfChange {
            changes: vec![step],
            ..raft_core::ConfChange::default()
        };
        let raw = self.nodes[l].raw.as_mut().expect("leader is up");
        let result = raw.propose_conf_change(cc);
        let line = format!(
            "n{} proposes {step:?}: {}",
            self.nodes[l].id,
            if result.is_ok() {
                "accepted".to_string()
            } else {
                format!("{result:?}")
            }
        );
        self.note(line);
        self.process_ready(l);
    }

    /// The leader proposes its own removal and, before that commits, starts a
    /// leadership transfer (the core refuses proposals during a transfer, so
    /// this is the order in which both can be in flight).
    pub(super) fn remove_transferring_leader(&mut self) {
        let Some(l) = self.leader_index() else { return };
        let me = self.nodes[l].id;
        let raw = self.nodes[l].raw.as_mut().expect("leader is up");
        let voters: Vec<u64> = raw.status().conf_state.voters.iter().copied().collect();
        let Some(&to) = voters.iter().find(|&&v| v != me) else {
            return;
        };
        if voters.len() < 3 {
            return;
        }
        let cc = raft_core::ConfChange {
            changes: vec![raft_core::ConfChangeStep::Remove(me)],
            ..raft_core::ConfChange::default()
        };
        if raw.propose_conf_change(cc).is_err() {
            return;
        }
        raw.transfer_leader(to);
        if raw.raft().lead_transferee() == Some(to) {
            self.cov.leader_removed_during_transfer += 1;
        }
        self.note(format!(
            "n{me} proposes its own removal and transfers to n{to}"
        ));
        self.process_ready(l);
    }
}
