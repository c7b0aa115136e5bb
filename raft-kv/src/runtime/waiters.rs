//! The clients of this node blocked on keys (BLPOP and the like): one FIFO
//! queue per key, and the wake-ups.
//!
//! Nothing here is replicated. A blocked client's command is proposed again
//! when one of its keys may have something for it; each attempt is an
//! ordinary write, so blocking adds no state to the log or the snapshot, and a
//! node that dies takes its blocked clients with it and nothing else.
//!
//! The rules, which keep a push from being missed and keep Redis's order
//! among the clients of one node:
//! 1. A blocking command joins the queues of its keys before its first
//!    attempt, and attempts at once only if no earlier client waits on any of
//!    them (or it is woken); otherwise its turn comes by rule 2 or 3.
//! 2. After every applied batch, each key whose version moved wakes the first
//!    client in its queue that waits for the type the key now holds
//!    (non-empty): one at a time, in the order they came.
//! 3. A client that leaves (served, timed out, unblocked, disconnected)
//!    passes the wake-up on to the next client of each of its keys that still
//!    holds something, since its own take moved the key while it was first.
//!
//! A client counts as blocked (`INFO`'s `blocked_clients`, `CLIENT UNBLOCK`)
//! once an attempt of its command took nothing.

use super::requests::Notifier;
use parking_lot::{Mutex, RwLock};
use raft_kv_state::KvStore;
use raft_kv_state::registry::plan::Awaited;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

/// How `CLIENT UNBLOCK` ends a blocked command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unblock {
    /// As if its timeout passed (the default).
    Timeout,
    /// With an `-UNBLOCKED` error.
    Error,
}

/// What a blocked client is told; shared by the registry and the ticket.
#[derive(Default)]
struct Signal {
    woken: AtomicBool,
    /// 0: no, 1: [`Unblock::Timeout`], 2: [`Unblock::Error`].
    unblock: AtomicU8,
}

struct Waiter {
    keys: Vec<Vec<u8>>,
    awaits: Awaited,
    signal: Arc<Signal>,
    notify: Option<Notifier>,
    /// An attempt took nothing: it counts as blocked.
    blocked: bool,
}

impl Waiter {
    /// Wakes the client (and tells its event loop) unless a wake-up is owed.
    fn wake(&self) {
        if !self.signal.woken.swap(true, Ordering::AcqRel)
            && let Some((n, tag)) = &self.notify
        {
            n.reply_ready(*tag);
        }
    }
}

struct KeyQueue {
    /// The key's version when last looked at.
    version: Option<u64>,
    clients: VecDeque<u64>,
}

#[derive(Default)]
struct Book {
    keys: HashMap<Vec<u8>, KeyQueue>,
    clients: HashMap<u64, Waiter>,
}

impl Book {
    /// Wakes the first client of `key`'s queue that waits for what `key`
    /// holds in `store` now.
    /// Wakes the first client in `key`'s queue, whatever the key holds.
    fn wake_first_unchecked(&self, key: &[u8]) {
        let first = self.keys.get(key).and_then(|q| q.clients.front());
        if let Some(w) = first.and_then(|c| self.clients.get(c)) {
            w.wake();
        }
    }

    fn wake_first(&self, key: &[u8], store: &KvStore) {
        let Some(q) = self.keys.get(key) else {
            return;
        };
        let first = q
            .clients
            .iter()
            .filter_map(|c| self.clients.get(c))
            .find(|w| store.holds(key, w.awaits));
        if let Some(w) = first {
            w.wake();
        }
    }
}

/// Most clients blocked on one node at once (each holds a connection, which
/// has a limit of its own; this bounds the book whatever that is set to).
pub(crate) const MAX_BLOCKED: usize = 1 << 20;

/// The blocked clients of one node.
pub(crate) struct Waiters {
    store: Arc<RwLock<KvStore>>,
    scripts: Arc<super::script_status::ScriptStatus>,
    book: Mutex<Book>,
    /// Clients in the book (the applier skips the lock when there are none).
    joined: AtomicUsize,
    blocked: AtomicUsize,
}

impl Waiters {
    pub(crate) fn new(
        store: Arc<RwLock<KvStore>>,
        scripts: Arc<super::script_status::ScriptStatus>,
    ) -> Self {
        Waiters {
            store,
            scripts,
            book: Mutex::new(Book::default()),
            joined: AtomicUsize::new(0),
            blocked: AtomicUsize::new(0),
        }
    }

    /// Clients blocked now.
    pub(crate) fn blocked(&self) -> usize {
        self.blocked.load(Ordering::Relaxed)
    }

    /// Keys with at least one blocked client.
    pub(crate) fn keys(&self) -> usize {
        self.book.lock().keys.len()
    }

    /// Puts `client` in the queues of `keys` (rule 1); `None` if the node
    /// has [`MAX_BLOCKED`] clients waiting already, or `client` waits already.
    pub(crate) fn join(
        self: &Arc<Self>,
        client: u64,
        keys: &[Vec<u8>],
        awaits: Awaited,
        notify: Option<Notifier>,
    ) -> Option<BlockTicket> {
        let mut book = self.book.lock();
        if book.clients.len() >= MAX_BLOCKED || book.clients.contains_key(&client) {
            return None;
        }
        // A script holding the store past the busy threshold: not now.
        let store = super::script_status::read_unless_busy(&self.store, &self.scripts)?;
        let signal = Arc::new(Signal::default());
        let mut first_in_line = true;
        for key in keys {
            let q = book.keys.entry(key.clone()).or_insert_with(|| KeyQueue {
                version: store.key_version(key),
                clients: VecDeque::new(),
            });
            first_in_line &= q.clients.is_empty();
            if !q.clients.contains(&client) {
                q.clients.push_back(client);
            }
        }
        let waiter = Waiter {
            keys: keys.to_vec(),
            awaits,
            signal: signal.clone(),
            notify,
            blocked: false,
        };
        book.clients.insert(client, waiter);
        self.joined.fetch_add(1, Ordering::Release);
        for key in keys {
            book.wake_first(key, &store);
        }
        Some(BlockTicket {
            waiters: self.clone(),
            client,
            signal,
            first_in_line,
        })
    }

    /// An attempt of `client`'s command took nothing: it counts as blocked.
    fn mark_blocked(&self, client: u64) {
        let mut book = self.book.lock();
        if let Some(w) = book.clients.get_mut(&client)
            && !w.blocked
        {
            w.blocked = true;
            self.blocked.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Rule 2, after the applier applied a batch (or installed a snapshot).
    pub(crate) fn after_apply(&self) {
        if self.joined.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut book = self.book.lock();
        let store = self.store.read();
        let mut moved = Vec::new();
        for (key, q) in book.keys.iter_mut() {
            let version = store.key_version(key);
            if version != q.version {
                q.version = version;
                moved.push(key.clone());
            }
        }
        for key in moved {
            book.wake_first(&key, &store);
        }
    }

    /// `CLIENT UNBLOCK client [TIMEOUT | ERROR]`: true if it was blocked.
    pub(crate) fn unblock(&self, client: u64, how: Unblock) -> bool {
        let book = self.book.lock();
        let Some(w) = book.clients.get(&client).filter(|w| w.blocked) else {
            return false;
        };
        let code = match how {
            Unblock::Timeout => 1,
            Unblock::Error => 2,
        };
        w.signal.unblock.store(code, Ordering::Release);
        w.signal.woken.store(false, Ordering::Release);
        w.wake();
        true
    }

    /// Rule 3: `client` leaves every queue.
    fn leave(&self, client: u64) {
        let mut book = self.book.lock();
        let Some(w) = book.clients.remove(&client) else {
            return;
        };
        self.joined.fetch_sub(1, Ordering::Release);
        if w.blocked {
            self.blocked.fetch_sub(1, Ordering::Relaxed);
        }
        for key in &w.keys {
            if let Some(q) = book.keys.get_mut(key) {
                q.clients.retain(|c| *c != client);
                if q.clients.is_empty() {
                    book.keys.remove(key);
                }
            }
        }
        match super::script_status::read_unless_busy(&self.store, &self.scripts) {
            Some(store) => w.keys.iter().for_each(|key| book.wake_first(key, &store)),
            // A script holds the store: the next in line tries anyway (a
            // wake that finds nothing only queues it again).
            None => w.keys.iter().for_each(|key| book.wake_first_unchecked(key)),
        }
    }
}

/// A client's place in the queues of its keys, until dropped.
pub struct BlockTicket {
    waiters: Arc<Waiters>,
    client: u64,
    signal: Arc<Signal>,
    first_in_line: bool,
}

impl BlockTicket {
    /// True if no client of this node waited on any of the keys when this
    /// one joined: its first attempt goes at once.
    pub fn first_in_line(&self) -> bool {
        self.first_in_line
    }

    /// An attempt took nothing: the client counts as blocked from now on.
    pub fn mark_blocked(&self) {
        self.waiters.mark_blocked(self.client);
    }

    /// True (once per wake-up) if one of the keys may have something now:
    /// the command should be proposed again.
    pub fn take_wake(&self) -> bool {
        self.signal.woken.swap(false, Ordering::AcqRel)
    }

    /// How `CLIENT UNBLOCK` ended the wait, if it did.
    pub fn unblocked(&self) -> Option<Unblock> {
        match self.signal.unblock.load(Ordering::Acquire) {
            1 => Some(Unblock::Timeout),
            2 => Some(Unblock::Error),
            _ => None,
        }
    }
}

impl Drop for BlockTicket {
    fn drop(&mut self) {
        self.waiters.leave(self.client);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::ReplyNotify;

    /// Records which tags were woken.
    #[derive(Default)]
    struct Woken(Mutex<Vec<u64>>);

    impl ReplyNotify for Woken {
        fn reply_ready(&self, tag: u64) {
            self.0.lock().push(tag);
        }
    }

    fn setup() -> (Arc<RwLock<KvStore>>, Arc<Waiters>, Arc<Woken>) {
        let store = Arc::new(RwLock::new(KvStore::new()));
        let waiters = Arc::new(Waiters::new(store.clone(), Arc::default()));
        (store, waiters, Arc::new(Woken::default()))
    }

    fn words(words: &[&str]) -> Vec<Vec<u8>> {
        words.iter().map(|w| w.as_bytes().to_vec()).collect()
    }

    fn apply(store: &RwLock<KvStore>, argv: Vec<Vec<u8>>) {
        let mut s = store.write();
        let index = s.applied_index() + 1;
        s.apply_call(&argv, 0);
        s.set_applied_index(index);
    }

    fn join(w: &Arc<Waiters>, woken: &Arc<Woken>, client: u64, key: &str) -> BlockTicket {
        let notify: Notifier = (woken.clone(), client);
        w.join(
            client,
            &[key.as_bytes().to_vec()],
            Awaited::List,
            Some(notify),
        )
        .expect("room")
    }

    #[test]
    fn a_push_wakes_the_first_blocked_client_only_then_the_next_when_it_leaves() {
        let (store, w, woken) = setup();
        let first = join(&w, &woken, 1, "q");
        let second = join(&w, &woken, 2, "q");
        assert!(first.first_in_line() && !second.first_in_line());
        assert_eq!(w.blocked(), 0, "none has found the key empty yet");
        first.mark_blocked();
        second.mark_blocked();
        assert_eq!(w.blocked(), 2);
        apply(&store, words(&["RPUSH", "q", "a", "b"]));
        w.after_apply();
        assert_eq!(*woken.0.lock(), vec![1]);
        assert!(first.take_wake() && !second.take_wake());
        apply(&store, words(&["LPOP", "q"]));
        w.after_apply();
        drop(first);
        assert!(second.take_wake(), "the list still holds b");
        assert_eq!(w.blocked(), 1);
    }

    #[test]
    fn joining_after_a_push_wakes_at_once_and_a_delete_wakes_nobody() {
        let (store, w, woken) = setup();
        apply(&store, words(&["RPUSH", "q", "a"]));
        let t = join(&w, &woken, 1, "q");
        assert!(t.take_wake(), "the push came before the join");
        apply(&store, words(&["DEL", "q"]));
        w.after_apply();
        assert!(!t.take_wake(), "an empty key wakes nobody");
        apply(&store, words(&["SET", "q", "x"]));
        w.after_apply();
        assert!(!t.take_wake(), "a string is not what a list pop waits for");
    }

    #[test]
    fn unblock_reaches_only_a_blocked_client_and_leaving_forgets_the_keys() {
        let (_store, w, woken) = setup();
        assert!(!w.unblock(7, Unblock::Timeout));
        let t = join(&w, &woken, 7, "q");
        assert!(
            !w.unblock(7, Unblock::Error),
            "not blocked before an attempt"
        );
        t.mark_blocked();
        assert!(w.unblock(7, Unblock::Error));
        assert_eq!(t.unblocked(), Some(Unblock::Error));
        assert_eq!(w.keys(), 1);
        drop(t);
        assert_eq!((w.blocked(), w.keys()), (0, 0));
    }
}
