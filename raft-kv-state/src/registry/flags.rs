//! Redis's command flags (`COMMAND INFO`'s third field), as a bit set the
//! dispatcher reads: `noscript` decides what a script may call, `no_auth`
//! what a connection may send before `AUTH`, `allow_busy` what a node serves
//! while a script runs, `no_multi` what `MULTI` refuses, `blocking` which
//! commands wait for a key.

/// A set of command flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags(u32);

/// Every flag, with its name in the tables.
const NAMES: [(Flags, &str); 19] = [
    (Flags::WRITE, "write"),
    (Flags::READONLY, "readonly"),
    (Flags::DENYOOM, "denyoom"),
    (Flags::ADMIN, "admin"),
    (Flags::PUBSUB, "pubsub"),
    (Flags::NOSCRIPT, "noscript"),
    (Flags::BLOCKING, "blocking"),
    (Flags::LOADING, "loading"),
    (Flags::STALE, "stale"),
    (Flags::SKIP_MONITOR, "skip_monitor"),
    (Flags::SKIP_SLOWLOG, "skip_slowlog"),
    (Flags::ASKING, "asking"),
    (Flags::FAST, "fast"),
    (Flags::NO_AUTH, "no_auth"),
    (Flags::NO_ASYNC_LOADING, "no_async_loading"),
    (Flags::NO_MANDATORY_KEYS, "no_mandatory_keys"),
    (Flags::NO_MULTI, "no_multi"),
    (Flags::MOVABLEKEYS, "movablekeys"),
    (Flags::ALLOW_BUSY, "allow_busy"),
];

impl Flags {
    /// Changes the data.
    pub const WRITE: Flags = Flags(1);
    /// Only reads the data.
    pub const READONLY: Flags = Flags(1 << 1);
    /// May grow memory (refused past `maxmemory`).
    pub const DENYOOM: Flags = Flags(1 << 2);
    /// Administration.
    pub const ADMIN: Flags = Flags(1 << 3);
    /// Pub/sub.
    pub const PUBSUB: Flags = Flags(1 << 4);
    /// Not callable from a script.
    pub const NOSCRIPT: Flags = Flags(1 << 5);
    /// May block the client.
    pub const BLOCKING: Flags = Flags(1 << 6);
    /// Served while loading.
    pub const LOADING: Flags = Flags(1 << 7);
    /// Served by a stale replica.
    pub const STALE: Flags = Flags(1 << 8);
    /// Not shown by MONITOR.
    pub const SKIP_MONITOR: Flags = Flags(1 << 9);
    /// Not logged by the slow log.
    pub const SKIP_SLOWLOG: Flags = Flags(1 << 10);
    /// Cluster ASKING.
    pub const ASKING: Flags = Flags(1 << 11);
    /// O(1) or O(log N).
    pub const FAST: Flags = Flags(1 << 12);
    /// Served before `AUTH`.
    pub const NO_AUTH: Flags = Flags(1 << 13);
    /// Refused during asynchronous loading.
    pub const NO_ASYNC_LOADING: Flags = Flags(1 << 14);
    /// May be called without keys although it takes some.
    pub const NO_MANDATORY_KEYS: Flags = Flags(1 << 15);
    /// Refused inside `MULTI`.
    pub const NO_MULTI: Flags = Flags(1 << 16);
    /// Its keys are found by parsing, not by fixed positions.
    pub const MOVABLEKEYS: Flags = Flags(1 << 17);
    /// Served while a script runs past the busy threshold.
    pub const ALLOW_BUSY: Flags = Flags(1 << 18);

    /// The flag a table names `name`.
    pub fn of_name(name: &str) -> Option<Flags> {
        NAMES.iter().find(|(_, n)| *n == name).map(|(f, _)| *f)
    }

    /// True if every flag of `other` is set.
    pub fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Both sets.
    pub fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }
}

impl FromIterator<Flags> for Flags {
    fn from_iter<I: IntoIterator<Item = Flags>>(iter: I) -> Flags {
        iter.into_iter().fold(Flags::default(), Flags::union)
    }
}
