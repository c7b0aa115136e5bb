//! What a key holds: a value of one of Redis's types, the log index of the
//! entry that last changed it (what `WATCH` compares) and its expiry time.
//! Collections are shared (`Arc`) so that the copy a snapshot starts from costs
//! a reference count per key; the live store copies a collection on its first
//! change after that (`Arc::make_mut`).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

/// A key or a string value, shared between the store and its snapshot copies.
pub(super) type SharedBytes = Arc<[u8]>;

/// A hash: fields to values, in the order the fields were added (as Redis's
/// small hashes answer HGETALL; the same on every replica, since every
/// replica adds them in log order). A deleted field's place is taken by the
/// last one (`swap_remove`: O(1); Redis promises no order for large hashes).
pub(super) type Hash = indexmap::IndexMap<Vec<u8>, Vec<u8>>;
/// A list, both ends cheap.
pub(super) type List = VecDeque<Vec<u8>>;
/// A set, in member order (the same on every replica).
pub(super) type Set = BTreeSet<Vec<u8>>;

/// A score, ordered totally (a sorted set never holds NaN; -0 is stored as 0).
#[derive(Clone, Copy, Debug)]
pub(super) struct Score(pub(super) f64);

impl PartialEq for Score {
    fn eq(&self, other: &Self) -> bool {
        self.0.total_cmp(&other.0).is_eq()
    }
}
impl Eq for Score {}
impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Score {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// One end of a lex range (ZRANGEBYLEX): `-`, `+`, `[x` or `(x`.
#[derive(Clone)]
pub(super) enum LexBound {
    /// `-`: below every member.
    Min,
    /// `+`: above every member.
    Max,
    /// `[x` (included) or `(x` (excluded).
    At(std::ops::Bound<Vec<u8>>),
}

/// A sorted set: members by score, then by member (the same on every replica).
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct ZSet {
    scores: BTreeMap<Vec<u8>, Score>,
    order: BTreeSet<(Score, Vec<u8>)>,
}

impl ZSet {
    /// Members.
    pub(super) fn len(&self) -> usize {
        self.scores.len()
    }

    /// True if there are no members.
    pub(super) fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    /// The score of `member`.
    pub(super) fn score(&self, member: &[u8]) -> Option<f64> {
        self.scores.get(member).map(|s| s.0)
    }

    /// Sets `member`'s score (`score` is not NaN).
    pub(super) fn insert(&mut self, member: Vec<u8>, score: f64) {
        debug_assert!(!score.is_nan(), "a sorted set never holds NaN");
        let score = Score(if score == 0.0 { 0.0 } else { score });
        if let Some(old) = self.scores.insert(member.clone(), score) {
            self.order.remove(&(old, member.clone()));
        }
        self.order.insert((score, member));
    }

    /// Removes `member`; true if it was there.
    pub(super) fn remove(&mut self, member: &[u8]) -> bool {
        match self.scores.remove(member) {
            Some(old) => self.order.remove(&(old, member.to_vec())),
            None => false,
        }
    }

    /// Members and scores, lowest first.
    pub(super) fn ascending(&self) -> impl Iterator<Item = (&Vec<u8>, f64)> {
        self.order.iter().map(|(s, m)| (m, s.0))
    }

    /// Members and scores, highest first.
    pub(super) fn descending(&self) -> impl Iterator<Item = (&Vec<u8>, f64)> {
        self.order.iter().rev().map(|(s, m)| (m, s.0))
    }

    /// Members with a score within `min`..`max`, lowest first.
    pub(super) fn by_score(
        &self,
        min: std::ops::Bound<f64>,
        max: std::ops::Bound<f64>,
    ) -> impl Iterator<Item = (&Vec<u8>, f64)> {
        use std::ops::Bound::{Excluded, Included, Unbounded};
        let start = match min {
            Included(m) | Excluded(m) => Included((Score(m), Vec::new())),
            Unbounded => Unbounded,
        };
        self.order
            .range((start, Unbounded))
            .filter(move |(s, _)| !matches!(min, Excluded(m) if s.0 == m))
            .take_while(move |(s, _)| match max {
                Included(x) => s.0 <= x,
                Excluded(x) => s.0 < x,
                Unbounded => true,
            })
            .map(|(s, m)| (m, s.0))
    }

    /// Members within the lex range `min`..`max` in set order (meaningful
    /// when all scores are equal, as Redis documents).
    pub(super) fn by_lex(
        &self,
        min: LexBound,
        max: LexBound,
    ) -> impl Iterator<Item = (&Vec<u8>, f64)> {
        use std::ops::Bound::{Excluded, Included, Unbounded};
        let above = move |m: &[u8]| match &min {
            LexBound::Min => true,
            LexBound::Max => false,
            LexBound::At(Included(x)) => m >= x.as_slice(),
            LexBound::At(Excluded(x)) => m > x.as_slice(),
            LexBound::At(Unbounded) => true,
        };
        let below = move |m: &[u8]| match &max {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::At(Included(x)) => m <= x.as_slice(),
            LexBound::At(Excluded(x)) => m < x.as_slice(),
            LexBound::At(Unbounded) => true,
        };
        self.ascending().filter(move |(m, _)| above(m) && below(m))
    }
}

/// A value of one of Redis's types.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Value {
    /// A string (also what INCR and the bit commands work on).
    Str(SharedBytes),
    /// A hash.
    Hash(Arc<Hash>),
    /// A list.
    List(Arc<List>),
    /// A set.
    Set(Arc<Set>),
    /// A sorted set.
    ZSet(Arc<ZSet>),
}

impl Value {
    /// The name `TYPE` answers.
    pub(super) fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Hash(_) => "hash",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
        }
    }

    /// True for a collection with no elements (Redis deletes those keys).
    pub(super) fn is_empty_collection(&self) -> bool {
        match self {
            Value::Str(_) => false,
            Value::Hash(h) => h.is_empty(),
            Value::List(l) => l.is_empty(),
            Value::Set(s) => s.is_empty(),
            Value::ZSet(z) => z.is_empty(),
        }
    }
}

/// One key's entry in the store.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Slot {
    /// The value.
    pub(super) value: Value,
    /// Index of the log entry that last changed this key (0: loaded from a
    /// snapshot written before versions were kept).
    pub(super) version: u64,
    /// Unix time in milliseconds after which the key is gone; 0: never.
    pub(super) expires_at_ms: u64,
}

/// Picks a collection type out of a [`Value`] (the accessors of `KvStore`
/// are generic over it).
pub(super) trait Collection: Clone + Default {
    /// The collection, if `value` is of this type.
    fn of(value: &Value) -> Option<&Arc<Self>>;
    /// The collection, mutably, if `value` is of this type.
    fn of_mut(value: &mut Value) -> Option<&mut Arc<Self>>;
    /// `Value` holding `this`.
    fn wrap(this: Arc<Self>) -> Value;
}

macro_rules! collection {
    ($t:ty, $variant:ident) => {
        impl Collection for $t {
            fn of(value: &Value) -> Option<&Arc<Self>> {
                match value {
                    Value::$variant(c) => Some(c),
                    _ => None,
                }
            }
            fn of_mut(value: &mut Value) -> Option<&mut Arc<Self>> {
                match value {
                    Value::$variant(c) => Some(c),
                    _ => None,
                }
            }
            fn wrap(this: Arc<Self>) -> Value {
                Value::$variant(this)
            }
        }
    };
}

collection!(Hash, Hash);
collection!(List, List);
collection!(Set, Set);
collection!(ZSet, ZSet);
