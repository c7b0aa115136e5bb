//! What a key holds: a value of one of Redis's types, the log index of the
//! entry that last changed it (what `WATCH` compares) and its expiry time.
//! Collections are shared (`Arc`) so that the copy a snapshot starts from costs
//! a reference count per key; the live store copies a collection on its first
//! change after that (`Arc::make_mut`).

use crate::command::Reply;
use crate::error::ErrorCode;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

/// A key or a string value, shared between the store and its snapshot copies.
pub(super) type SharedBytes = Arc<[u8]>;

/// A hash: fields to values, in field order (the same on every replica).
pub(super) type Hash = BTreeMap<Vec<u8>, Vec<u8>>;
/// A list, both ends cheap.
pub(super) type List = VecDeque<Vec<u8>>;
/// A set, in member order (the same on every replica).
pub(super) type Set = BTreeSet<Vec<u8>>;

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
}

impl Value {
    /// The name `TYPE` answers.
    pub(super) fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Hash(_) => "hash",
            Value::List(_) => "list",
            Value::Set(_) => "set",
        }
    }

    /// True for a collection with no elements (Redis deletes those keys).
    pub(super) fn is_empty_collection(&self) -> bool {
        match self {
            Value::Str(_) => false,
            Value::Hash(h) => h.is_empty(),
            Value::List(l) => l.is_empty(),
            Value::Set(s) => s.is_empty(),
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

/// Redis's error for a command on a key of another type.
pub(super) fn wrong_type() -> Reply {
    Reply::error(
        ErrorCode::WrongType,
        "Operation against a key holding the wrong kind of value",
    )
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
