//! Pub/sub delivery on this node: who subscribes to what ([`PubSub`], the
//! node's registry of subscriptions), and each subscribed connection's
//! inbox ([`Subscriber`]).
//!
//! A message is published by an entry of the log (`PUBLISH` is a write);
//! the applier hands what each entry published to [`PubSub::deliver`] as it
//! applies the entry, so every node delivers every message to its own
//! subscribers in log order, and subscribers on different nodes see the same
//! messages in the same order. Delivery puts the message in each matching
//! subscriber's inbox and tells the subscriber's event loop (its
//! [`Notifier`]); the inbox is bounded by the pub/sub output limit
//! ([`OutputLimit`], Redis's `client-output-buffer-limit pubsub`): a
//! subscriber that falls behind beyond it is cut off, never buffered
//! without bound. A message reaches each subscription at most once; what a
//! subscriber misses while it is not connected is lost, as in Redis.

use super::requests::Notifier;
pub use crate::config::OutputLimit;
use parking_lot::Mutex;
use raft_kv_state::registry::plan::Subscription;
use raft_kv_state::store::Published;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Bytes a queued message is counted as beyond its channel and payload
/// (its framing, roughly what Redis's reply buffers hold for it).
const FRAME_OVERHEAD: usize = 32;

/// One message as a subscriber receives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// On a channel it subscribed to (`message`), or a shard channel
    /// (`smessage`).
    Message {
        /// Channel or shard channel.
        kind: Subscription,
        /// The channel.
        channel: Arc<[u8]>,
        /// The message.
        message: Arc<[u8]>,
    },
    /// A command one of this node's clients sent, as `MONITOR` shows it.
    Monitored(Arc<str>),
    /// On a channel that matches a pattern it subscribed to (`pmessage`).
    PatternMessage {
        /// The pattern.
        pattern: Arc<[u8]>,
        /// The channel.
        channel: Arc<[u8]>,
        /// The message.
        message: Arc<[u8]>,
    },
}

impl Delivery {
    /// Its words as Redis sends them (`message channel payload`, ...; a
    /// monitored command's line is one word).
    pub fn words(&self) -> Vec<&[u8]> {
        match self {
            Delivery::Monitored(line) => vec![line.as_bytes()],
            Delivery::Message {
                kind: Subscription::Shard,
                channel,
                message,
            } => vec![b"smessage", channel, message],
            Delivery::Message {
                channel, message, ..
            } => vec![b"message", channel, message],
            Delivery::PatternMessage {
                pattern,
                channel,
                message,
            } => vec![b"pmessage", pattern, channel, message],
        }
    }

    fn bytes(&self) -> usize {
        FRAME_OVERHEAD + self.words().iter().map(|w| w.len()).sum::<usize>()
    }
}

/// The messages waiting for one subscriber.
#[derive(Default)]
struct Queue {
    waiting: VecDeque<Delivery>,
    bytes: usize,
    /// Since when `bytes` has been beyond the soft limit.
    over_soft_since: Option<Instant>,
    /// Beyond its limit: nothing more is queued, the connection closes.
    cut_off: bool,
}

/// One subscriber's queue and whom to tell when it fills.
struct Inbox {
    queue: Mutex<Queue>,
    notify: Option<Notifier>,
}

impl Inbox {
    /// Queues `d`; true if the subscriber must be told (the queue was empty,
    /// or it was just cut off).
    fn push(&self, d: Delivery, limit: OutputLimit, now: Instant) -> bool {
        let mut q = self.queue.lock();
        if q.cut_off {
            return false;
        }
        let was_empty = q.waiting.is_empty();
        q.bytes += d.bytes();
        q.waiting.push_back(d);
        let bytes = q.bytes as u64;
        let soft_expired = if limit.soft > 0 && bytes > limit.soft {
            let since = *q.over_soft_since.get_or_insert(now);
            now.duration_since(since) >= limit.soft_for
        } else {
            q.over_soft_since = None;
            false
        };
        let over_hard = limit.hard > 0 && bytes > limit.hard;
        if over_hard || soft_expired {
            q.cut_off = true;
            q.waiting = VecDeque::new();
            q.bytes = 0;
            return true;
        }
        was_empty
    }
}

/// The inboxes subscribed to one name, by subscriber id.
type Inboxes = BTreeMap<u64, Arc<Inbox>>;

/// Who is subscribed to what on this node.
#[derive(Default)]
struct Registry {
    /// By kind (channel, pattern, shard channel), then name.
    by_name: BTreeMap<Subscription, HashMap<Vec<u8>, Inboxes>>,
}

impl Registry {
    fn names(&self, kind: Subscription) -> Option<&HashMap<Vec<u8>, Inboxes>> {
        self.by_name.get(&kind)
    }
}

/// This node's subscriptions, and delivery to them.
pub struct PubSub {
    registry: Mutex<Registry>,
    /// The inboxes of `MONITOR` connections, by client id.
    monitors: Mutex<Inboxes>,
    /// How many monitors there are (read without the lock on every request).
    monitoring: AtomicU64,
    hard: AtomicU64,
    soft: AtomicU64,
    soft_ms: AtomicU64,
}

impl Default for PubSub {
    fn default() -> Self {
        PubSub::new(OutputLimit::default())
    }
}

impl PubSub {
    /// No subscriptions; subscribers are held to `limit`.
    pub fn new(limit: OutputLimit) -> Self {
        let hub = PubSub {
            registry: Mutex::new(Registry::default()),
            monitors: Mutex::new(Inboxes::new()),
            monitoring: AtomicU64::new(0),
            hard: AtomicU64::new(0),
            soft: AtomicU64::new(0),
            soft_ms: AtomicU64::new(0),
        };
        hub.set_output_limit(limit);
        hub
    }

    /// The limit subscribers are held to now.
    pub fn output_limit(&self) -> OutputLimit {
        OutputLimit {
            hard: self.hard.load(Ordering::Relaxed),
            soft: self.soft.load(Ordering::Relaxed),
            soft_for: Duration::from_millis(self.soft_ms.load(Ordering::Relaxed)),
        }
    }

    /// Holds subscribers to `limit` from now on (`CONFIG SET
    /// client-output-buffer-limit`).
    pub fn set_output_limit(&self, limit: OutputLimit) {
        self.hard.store(limit.hard, Ordering::Relaxed);
        self.soft.store(limit.soft, Ordering::Relaxed);
        let ms = u64::try_from(limit.soft_for.as_millis()).unwrap_or(u64::MAX);
        self.soft_ms.store(ms, Ordering::Relaxed);
    }

    /// Delivers what one applied entry published, in order, to every
    /// matching subscription on this node; the receivers of each message
    /// (a subscriber of the channel and of a matching pattern counts twice,
    /// as in Redis).
    pub fn deliver(&self, published: &[Published]) -> Vec<usize> {
        if published.is_empty() {
            return Vec::new();
        }
        let (limit, now) = (self.output_limit(), Instant::now());
        let mut tell: BTreeMap<u64, Arc<Inbox>> = BTreeMap::new();
        let mut counts = Vec::with_capacity(published.len());
        let registry = self.registry.lock();
        for p in published {
            let channel: Arc<[u8]> = p.channel.as_slice().into();
            let message: Arc<[u8]> = p.message.as_slice().into();
            let mut receivers = 0;
            let mut hand = |id: u64, inbox: &Arc<Inbox>, d: Delivery| {
                receivers += 1;
                if inbox.push(d, limit, now) {
                    tell.insert(id, inbox.clone());
                }
            };
            if let Some(subs) = registry.names(p.kind).and_then(|n| n.get(&p.channel)) {
                for (id, inbox) in subs {
                    let d = Delivery::Message {
                        kind: p.kind,
                        channel: channel.clone(),
                        message: message.clone(),
                    };
                    hand(*id, inbox, d);
                }
            }
            if p.kind == Subscription::Channel
                && let Some(patterns) = registry.names(Subscription::Pattern)
            {
                for (pattern, subs) in patterns {
                    if !raft_kv_state::store::glob_matches(pattern, &p.channel) {
                        continue;
                    }
                    let pattern: Arc<[u8]> = pattern.as_slice().into();
                    for (id, inbox) in subs {
                        let d = Delivery::PatternMessage {
                            pattern: pattern.clone(),
                            channel: channel.clone(),
                            message: message.clone(),
                        };
                        hand(*id, inbox, d);
                    }
                }
            }
            counts.push(receivers);
        }
        drop(registry);
        for inbox in tell.values() {
            if let Some((n, tag)) = &inbox.notify {
                n.reply_ready(*tag);
            }
        }
        counts
    }

    /// Sends the line `line` makes (called only if a `MONITOR` listens) to
    /// every monitor of this node.
    pub fn feed_monitors(&self, line: impl FnOnce() -> String) {
        if self.monitoring.load(Ordering::Relaxed) == 0 {
            return;
        }
        let (limit, now) = (self.output_limit(), Instant::now());
        let d = Delivery::Monitored(line().into());
        let tell: Vec<Arc<Inbox>> = self
            .monitors
            .lock()
            .values()
            .filter(|inbox| inbox.push(d.clone(), limit, now))
            .cloned()
            .collect();
        for inbox in tell {
            if let Some((n, tag)) = &inbox.notify {
                n.reply_ready(*tag);
            }
        }
    }

    /// The channels (or shard channels) with a subscriber, matching
    /// `pattern` if given, sorted.
    pub fn channels(&self, kind: Subscription, pattern: Option<&[u8]>) -> Vec<Vec<u8>> {
        let registry = self.registry.lock();
        let mut names: Vec<Vec<u8>> = registry
            .names(kind)
            .into_iter()
            .flat_map(|n| n.keys())
            .filter(|c| pattern.is_none_or(|p| raft_kv_state::store::glob_matches(p, c)))
            .cloned()
            .collect();
        names.sort();
        names
    }

    /// How many subscribe to `name` (of `kind`) on this node.
    pub fn subscribers(&self, kind: Subscription, name: &[u8]) -> usize {
        let registry = self.registry.lock();
        registry
            .names(kind)
            .and_then(|n| n.get(name))
            .map_or(0, BTreeMap::len)
    }

    /// How many distinct names of `kind` have a subscriber on this node.
    pub fn count(&self, kind: Subscription) -> usize {
        self.registry.lock().names(kind).map_or(0, HashMap::len)
    }

    fn add(&self, kind: Subscription, name: &[u8], id: u64, inbox: &Arc<Inbox>) {
        let mut registry = self.registry.lock();
        registry
            .by_name
            .entry(kind)
            .or_default()
            .entry(name.to_vec())
            .or_default()
            .insert(id, inbox.clone());
    }

    fn remove(&self, kind: Subscription, name: &[u8], id: u64) {
        let mut registry = self.registry.lock();
        let Some(names) = registry.by_name.get_mut(&kind) else {
            return;
        };
        if let Some(subs) = names.get_mut(name) {
            subs.remove(&id);
            if subs.is_empty() {
                names.remove(name);
            }
        }
    }
}

/// One connection's subscriptions (and `MONITOR`) and the messages
/// waiting for it. Dropping it ends every subscription.
pub struct Subscriber {
    id: u64,
    hub: Arc<PubSub>,
    inbox: Arc<Inbox>,
    names: BTreeMap<Subscription, BTreeSet<Vec<u8>>>,
    monitoring: bool,
}

impl Subscriber {
    pub(crate) fn new(hub: Arc<PubSub>, id: u64, notify: Option<Notifier>) -> Self {
        Subscriber {
            id,
            hub,
            inbox: Arc::new(Inbox {
                queue: Mutex::new(Queue::default()),
                notify,
            }),
            names: BTreeMap::new(),
            monitoring: false,
        }
    }

    /// From now on, receives every command this node's clients send.
    pub fn monitor(&mut self) {
        if !self.monitoring {
            self.monitoring = true;
            self.hub.monitors.lock().insert(self.id, self.inbox.clone());
            self.hub.monitoring.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Subscribes to `name`; the count its confirmation carries.
    pub fn subscribe(&mut self, kind: Subscription, name: &[u8]) -> usize {
        if self.names.entry(kind).or_default().insert(name.to_vec()) {
            self.hub.add(kind, name, self.id, &self.inbox);
        }
        self.confirmation_count(kind)
    }

    /// Ends the subscription to `name` (if any); the count its
    /// confirmation carries.
    pub fn unsubscribe(&mut self, kind: Subscription, name: &[u8]) -> usize {
        if self.names.get_mut(&kind).is_some_and(|n| n.remove(name)) {
            self.hub.remove(kind, name, self.id);
        }
        self.confirmation_count(kind)
    }

    /// The names of `kind` it subscribes to, sorted.
    pub fn names(&self, kind: Subscription) -> Vec<Vec<u8>> {
        self.names
            .get(&kind)
            .map_or_else(Vec::new, |n| n.iter().cloned().collect())
    }

    /// The count a confirmation of `kind` carries: channels and patterns
    /// together, shard channels apart, as Redis 7.0 counts them.
    pub fn confirmation_count(&self, kind: Subscription) -> usize {
        let of = |k| self.names.get(&k).map_or(0, BTreeSet::len);
        match kind {
            Subscription::Shard => of(Subscription::Shard),
            _ => of(Subscription::Channel) + of(Subscription::Pattern),
        }
    }

    /// True while it subscribes to anything (a RESP2 connection is then in
    /// subscribed mode).
    pub fn is_subscribed(&self) -> bool {
        self.names.values().any(|n| !n.is_empty())
    }

    /// Takes the waiting messages, up to about `max_bytes`.
    pub fn take(&self, max_bytes: usize) -> Vec<Delivery> {
        let mut q = self.inbox.queue.lock();
        let mut taken = Vec::new();
        let mut bytes = 0;
        while bytes < max_bytes {
            let Some(d) = q.waiting.pop_front() else {
                break;
            };
            bytes += d.bytes();
            taken.push(d);
        }
        q.bytes = q.bytes.saturating_sub(bytes);
        if q.waiting.is_empty() {
            q.over_soft_since = None;
        }
        taken
    }

    /// True if messages wait.
    pub fn has_waiting(&self) -> bool {
        !self.inbox.queue.lock().waiting.is_empty()
    }

    /// True once it fell behind beyond the output limit: it receives
    /// nothing more and its connection must close.
    pub fn is_cut_off(&self) -> bool {
        self.inbox.queue.lock().cut_off
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        if self.monitoring && self.hub.monitors.lock().remove(&self.id).is_some() {
            self.hub.monitoring.fetch_sub(1, Ordering::Relaxed);
        }
        for (kind, names) in std::mem::take(&mut self.names) {
            for name in names {
                self.hub.remove(kind, &name, self.id);
            }
        }
    }
}

#[cfg(test)]
mod tests;
