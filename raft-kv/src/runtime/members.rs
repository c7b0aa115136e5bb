//! The address book of the cluster's members: what a membership entry's
//! context carries, the addresses the transport dials, the `cluster` file that
//! remembers them across restarts, and the `members:` the status shows.
//!
//! Addresses are learned as soon as a membership entry is appended (a new
//! member must be reachable before its entry commits) and retired once a
//! simple configuration without the member is applied (an outgoing voter is
//! still needed while the configuration is joint).

use super::bootstrap::{ClusterMeta, write_meta};
use crate::command::ProposalId;
use crate::error::FatalError;
use crate::status::NodeStatus;
use parking_lot::Mutex;
use raft_core::{ConfState, Entry, EntryPayload, NodeId, Storage};
use raft_net::Transport;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

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
        postcard::to_stdvec(self).expect("an AdminContext (integers and strings) always encodes")
    }

    /// Decodes a `ConfChange` context (None if it is not one of ours).
    pub fn decode(bytes: &[u8]) -> Option<AdminContext> {
        postcard::from_bytes(bytes).ok()
    }
}

struct Book {
    known: BTreeMap<NodeId, String>,
    /// The members named by the newest membership entry seen appended: never
    /// retired while that entry may still take effect.
    announced: BTreeSet<NodeId>,
}

/// The member addresses of one node.
pub(crate) struct Members {
    me: NodeId,
    data_dir: PathBuf,
    book: Mutex<Book>,
    transport: Arc<dyn Transport>,
    status: Arc<Mutex<NodeStatus>>,
}

impl Members {
    pub(crate) fn new(
        me: NodeId,
        data_dir: PathBuf,
        initial: BTreeMap<NodeId, String>,
        transport: Arc<dyn Transport>,
        status: Arc<Mutex<NodeStatus>>,
    ) -> Self {
        let book = Book {
            announced: initial.keys().copied().collect(),
            known: initial,
        };
        Members {
            me,
            data_dir,
            book: Mutex::new(book),
            transport,
            status,
        }
    }

    /// Every address known now.
    pub(crate) fn addresses(&self) -> BTreeMap<NodeId, String> {
        self.book.lock().known.clone()
    }

    /// Learns the addresses a membership entry announces as it is appended:
    /// it is the newest entry, so its members are not retired while it may
    /// still take effect.
    pub(crate) fn learn_appended(
        &self,
        members: &BTreeMap<NodeId, String>,
    ) -> Result<(), FatalError> {
        let mut book = self.book.lock();
        book.announced = members.keys().copied().collect();
        self.learn_into(&mut book, members)
    }

    /// Learns addresses from an applied entry or an installed snapshot.
    pub(crate) fn learn_applied(
        &self,
        members: &BTreeMap<NodeId, String>,
    ) -> Result<(), FatalError> {
        let mut book = self.book.lock();
        self.learn_into(&mut book, members)
    }

    fn learn_into(
        &self,
        book: &mut Book,
        members: &BTreeMap<NodeId, String>,
    ) -> Result<(), FatalError> {
        let mut changed = false;
        for (&id, addr) in members {
            if book.known.get(&id) != Some(addr) {
                book.known.insert(id, addr.clone());
                changed = true;
                if id != self.me {
                    self.transport.set_peer(id, addr.clone());
                }
            }
        }
        if changed {
            self.persist(book)?;
        }
        Ok(())
    }

    /// Learns the addresses announced by the membership entries in `ents`
    /// (being appended). Once an entry's configuration holds this node, it
    /// stops accepting peers it does not know (a joining node accepts anyone).
    pub(crate) fn learn_from_entries(&self, ents: &[Entry]) -> Result<(), FatalError> {
        for e in ents {
            if let EntryPayload::ConfChange(cc) = &e.payload
                && let Some(ctx) = AdminContext::decode(&cc.context)
            {
                self.learn_appended(&ctx.members)?;
                if cc
                    .result
                    .as_ref()
                    .is_some_and(|c| c.all_nodes().contains(&self.me))
                {
                    self.transport.refuse_unknown_peers();
                }
            }
        }
        Ok(())
    }

    /// Learns the addresses of the membership entries still in `log` (at start).
    pub(crate) fn learn_from_log(&self, log: &impl Storage) -> Result<(), FatalError> {
        let (Ok(first), Ok(last)) = (log.first_index(), log.last_index()) else {
            return Ok(());
        };
        if first > last {
            return Ok(());
        }
        match log.entries(first, last + 1, None) {
            Ok(ents) => self.learn_from_entries(&ents),
            Err(e) => {
                log::warn!("cannot scan the log for member addresses: {e}");
                Ok(())
            }
        }
    }

    /// Forgets the members that the applied, simple configuration `conf` no
    /// longer holds (and no newer entry announces): the transport closes their
    /// connections and ends their sender threads.
    pub(crate) fn retire(&self, conf: &ConfState) -> Result<(), FatalError> {
        if conf.is_joint() {
            return Ok(());
        }
        let mut book = self.book.lock();
        let keep = conf.all_nodes();
        let gone: Vec<NodeId> = book
            .known
            .keys()
            .copied()
            .filter(|id| *id != self.me && !keep.contains(id) && !book.announced.contains(id))
            .collect();
        if gone.is_empty() {
            return Ok(());
        }
        for id in &gone {
            book.known.remove(id);
            self.transport.remove_peer(*id);
            log::info!(
                "node {}: node {id} left the cluster; its address is forgotten",
                self.me
            );
        }
        self.persist(&book)
    }

    fn persist(&self, book: &Book) -> Result<(), FatalError> {
        self.status.lock().members = book.known.clone();
        let meta = ClusterMeta {
            cluster_id: self.transport.cluster_id(),
            members: book.known.clone(),
        };
        write_meta(&self.data_dir, &meta).map_err(|source| FatalError::Storage {
            what: "recording the cluster's members",
            source,
        })
    }
}

/// Watches for this node's own removal. Once an applied (so committed)
/// configuration leaves this node out of where it is heading (incoming voters
/// and learners), the removal is certain, even if this node never hears that
/// the final configuration committed (the leader stops sending to removed
/// members). The node still waits `grace` (and, as leader, until it stepped
/// down), so that an outgoing voter can help commit the final configuration
/// and its clients get their answers; a node that never was a member (one
/// waiting to join) is never removed.
pub(crate) struct RemovalWatch {
    me: NodeId,
    was_member: bool,
    seen_since: Option<std::time::Instant>,
    grace: std::time::Duration,
}

/// The members a configuration is heading to.
fn final_members(conf: &ConfState) -> impl Iterator<Item = &NodeId> {
    conf.voters
        .iter()
        .chain(&conf.learners)
        .chain(&conf.learners_next)
}

impl RemovalWatch {
    pub(crate) fn new(me: NodeId, conf: &ConfState, grace: std::time::Duration) -> Self {
        RemovalWatch {
            me,
            was_member: conf.all_nodes().contains(&me),
            seen_since: None,
            grace,
        }
    }

    /// `applied` is the configuration at the applied index. True once this
    /// node is removed.
    pub(crate) fn removed(&mut self, applied: &ConfState, leading: bool) -> bool {
        if final_members(applied).any(|id| *id == self.me) {
            self.was_member = true;
            self.seen_since = None;
            return false;
        }
        if !self.was_member {
            return false;
        }
        let since = *self.seen_since.get_or_insert_with(std::time::Instant::now);
        !leading && since.elapsed() >= self.grace
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_member_left_out_of_where_the_configuration_heads_is_removed() {
        let joint = ConfState {
            voters: [1, 2].into(),
            voters_outgoing: [1, 2, 3].into(),
            ..ConfState::default()
        };
        let mut w = RemovalWatch::new(3, &ConfState::with_voters([1, 2, 3]), Duration::ZERO);
        assert!(
            w.removed(&joint, false),
            "only an outgoing voter of a committed joint"
        );
        let mut w = RemovalWatch::new(3, &ConfState::with_voters([1, 2, 3]), Duration::ZERO);
        assert!(w.removed(&ConfState::with_voters([1, 2]), false));
        let demoted = ConfState {
            learners_next: [3].into(),
            ..joint
        };
        let mut w = RemovalWatch::new(3, &ConfState::with_voters([1, 2, 3]), Duration::ZERO);
        assert!(
            !w.removed(&demoted, false),
            "a voter demoted to learner stays"
        );
        let mut leader = RemovalWatch::new(3, &ConfState::with_voters([1, 2, 3]), Duration::ZERO);
        assert!(
            !leader.removed(&ConfState::with_voters([1, 2]), true),
            "a leader waits to apply its removal"
        );
    }

    #[test]
    fn a_node_waiting_to_join_is_not_removed() {
        let mut w = RemovalWatch::new(4, &ConfState::default(), Duration::ZERO);
        assert!(!w.removed(&ConfState::default(), false));
        assert!(!w.removed(&ConfState::with_voters([1, 2, 3]), false));
    }
}
