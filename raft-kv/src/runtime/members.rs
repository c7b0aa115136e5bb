//! The address book of the cluster's members: what a membership entry's
//! context carries, the addresses the transport dials, the `cluster` file that
//! remembers them across restarts, and the `members:` the status shows.
//!
//! Addresses are learned as soon as a membership entry is appended (a new
//! member must be reachable before its entry commits) and retired once a
//! simple configuration without the member is applied (an outgoing voter is
//! still needed while the configuration is joint). A retired member leaves the
//! book (and `members:`) at once, but the transport keeps its link for a
//! while: a removed node may not have heard yet that its removal committed,
//! and the leader's answers to its acknowledgements and vote requests (see
//! raft-core's departed-member handling) are how it hears.

use super::bootstrap::{ClusterMeta, write_meta};
use crate::error::FatalError;
use crate::status::NodeStatus;
use parking_lot::Mutex;
use raft_core::{ConfState, Entry, EntryPayload, NodeId, Storage};
use raft_kv_state::ProposalId;
use raft_net::Transport;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    /// Retired members whose transport link stays open until the instant.
    departing: BTreeMap<NodeId, Instant>,
}

/// The member addresses of one node.
pub(crate) struct Members {
    me: NodeId,
    data_dir: PathBuf,
    book: Mutex<Book>,
    transport: Arc<dyn Transport>,
    status: Arc<Mutex<NodeStatus>>,
    linger: Duration,
}

impl Members {
    pub(crate) fn new(
        me: NodeId,
        data_dir: PathBuf,
        initial: BTreeMap<NodeId, String>,
        transport: Arc<dyn Transport>,
        status: Arc<Mutex<NodeStatus>>,
        linger: Duration,
    ) -> Self {
        let book = Book {
            announced: initial.keys().copied().collect(),
            known: initial,
            departing: BTreeMap::new(),
        };
        Members {
            me,
            data_dir,
            book: Mutex::new(book),
            transport,
            status,
            linger,
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
                book.departing.remove(&id);
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
    /// longer holds (and no newer entry announces); the transport drops their
    /// links `linger` later ([`Members::drop_departed_links`]).
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
        let until = Instant::now() + self.linger;
        for id in &gone {
            book.known.remove(id);
            book.departing.insert(*id, until);
            log::info!(
                "node {}: node {id} left the cluster; its address is forgotten",
                self.me
            );
        }
        self.persist(&book)
    }

    /// Closes the transport links of retired members whose linger is over
    /// (their connections and sender threads end). Cheap when none linger.
    pub(crate) fn drop_departed_links(&self, now: Instant) {
        let mut book = self.book.lock();
        if book.departing.is_empty() {
            return;
        }
        let due: Vec<NodeId> = book
            .departing
            .iter()
            .filter(|(_, until)| **until <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            book.departing.remove(&id);
            self.transport.remove_peer(id);
            log::debug!("node {}: the link to departed node {id} is closed", self.me);
        }
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

    /// Records which peers the transport was told to forget.
    #[derive(Default)]
    struct Recording(Mutex<Vec<NodeId>>);

    impl Transport for Recording {
        fn send(&self, _msg: raft_core::Message) {}
        fn set_peer(&self, _id: NodeId, _addr: String) {}
        fn remove_peer(&self, id: NodeId) {
            self.0.lock().push(id);
        }
        fn stats(&self) -> raft_net::TransportStats {
            raft_net::TransportStats::default()
        }
        fn cluster_id(&self) -> u64 {
            1
        }
        fn refuse_unknown_peers(&self) {}
        fn shutdown(&self) {}
    }

    #[test]
    fn a_retired_member_leaves_the_book_at_once_and_its_link_after_the_linger() {
        let dir = tempfile::tempdir().expect("temp dir");
        let transport = Arc::new(Recording::default());
        let initial = (1..=3).map(|i| (i, format!("127.0.0.1:{i}"))).collect();
        let members = Members::new(
            1,
            dir.path().to_path_buf(),
            initial,
            transport.clone(),
            Arc::new(Mutex::new(NodeStatus::starting(1, 1, BTreeMap::new()))),
            Duration::from_secs(60),
        );
        members
            .learn_appended(
                &members
                    .addresses()
                    .into_iter()
                    .filter(|(i, _)| *i != 3)
                    .collect(),
            )
            .expect("learn");
        members
            .retire(&ConfState::with_voters([1, 2]))
            .expect("retire");
        assert_eq!(
            members.addresses().keys().copied().collect::<Vec<_>>(),
            [1, 2]
        );
        members.drop_departed_links(Instant::now());
        assert!(transport.0.lock().is_empty(), "the link lingers");
        members.drop_departed_links(Instant::now() + Duration::from_secs(61));
        assert_eq!(*transport.0.lock(), [3], "closed after the linger");
        members.drop_departed_links(Instant::now() + Duration::from_secs(120));
        assert_eq!(*transport.0.lock(), [3], "closed once");
    }

    #[test]
    fn a_node_waiting_to_join_is_not_removed() {
        let mut w = RemovalWatch::new(4, &ConfState::default(), Duration::ZERO);
        assert!(!w.removed(&ConfState::default(), false));
        assert!(!w.removed(&ConfState::with_voters([1, 2, 3]), false));
    }
}
