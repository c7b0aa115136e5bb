//! The replicated state machine: a map of binary keys to binary values. Every
//! node applies the same commands in the same order and so holds the same map.

use crate::command::{Command, Reply};
use std::collections::HashMap;

/// The key-value map and the last applied log index.
#[derive(Debug, Default)]
pub struct KvStore {
    map: HashMap<Vec<u8>, Vec<u8>>,
    applied_index: u64,
}

impl KvStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The last log index applied.
    pub fn applied_index(&self) -> u64 {
        self.applied_index
    }

    /// Records that entries up to `index` are applied (no-ops and membership
    /// entries included).
    pub fn set_applied_index(&mut self, index: u64) {
        debug_assert!(index >= self.applied_index, "applied index never goes back");
        self.applied_index = index;
    }

    /// Applies `cmd`; the reply is what the proposing client gets.
    pub fn apply(&mut self, cmd: &Command) -> Reply {
        match cmd {
            Command::Set { key, value } => {
                self.map.insert(key.clone(), value.clone());
                Reply::ok()
            }
            Command::Del { keys } => {
                let removed = keys
                    .iter()
                    .filter(|k| self.map.remove(*k).is_some())
                    .count();
                Reply::Int(removed as i64)
            }
            Command::MSet { pairs } => {
                for (k, v) in pairs {
                    self.map.insert(k.clone(), v.clone());
                }
                Reply::ok()
            }
            Command::IncrBy { key, delta } => {
                let current = match self.map.get(key) {
                    None => 0,
                    Some(v) => match std::str::from_utf8(v)
                        .ok()
                        .and_then(|s| s.parse::<i64>().ok())
                    {
                        Some(n) => n,
                        None => {
                            return Reply::error("ERR", "value is not an integer or out of range");
                        }
                    },
                };
                match current.checked_add(*delta) {
                    Some(n) => {
                        self.map.insert(key.clone(), n.to_string().into_bytes());
                        Reply::Int(n)
                    }
                    None => Reply::error("ERR", "increment or decrement would overflow"),
                }
            }
            Command::Cas { key, expected, new } => {
                if self.map.get(key) == Some(expected) {
                    self.map.insert(key.clone(), new.clone());
                    Reply::Int(1)
                } else {
                    Reply::Int(0)
                }
            }
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &[u8]) -> Option<&Vec<u8>> {
        self.map.get(key)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True if no key is stored.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(k: &str, v: &str) -> Command {
        Command::Set {
            key: k.into(),
            value: v.into(),
        }
    }

    #[test]
    fn incr_counts_from_zero_and_refuses_non_integers() {
        let mut s = KvStore::new();
        assert_eq!(
            s.apply(&Command::IncrBy {
                key: b"n".to_vec(),
                delta: 5
            }),
            Reply::Int(5)
        );
        assert_eq!(
            s.apply(&Command::IncrBy {
                key: b"n".to_vec(),
                delta: -7
            }),
            Reply::Int(-2)
        );
        s.apply(&set("t", "abc"));
        assert!(
            matches!(s.apply(&Command::IncrBy { key: b"t".to_vec(), delta: 1 }), Reply::Error(e) if e.starts_with("ERR"))
        );
        s.apply(&set("big", &i64::MAX.to_string()));
        assert!(matches!(
            s.apply(&Command::IncrBy {
                key: b"big".to_vec(),
                delta: 1
            }),
            Reply::Error(_)
        ));
        assert_eq!(
            s.get(b"big"),
            Some(&i64::MAX.to_string().into_bytes()),
            "nothing changed on error"
        );
    }

    #[test]
    fn cas_swaps_only_on_a_matching_value() {
        let mut s = KvStore::new();
        let cas = |e: &str, n: &str| Command::Cas {
            key: b"k".to_vec(),
            expected: e.into(),
            new: n.into(),
        };
        assert_eq!(s.apply(&cas("a", "b")), Reply::Int(0), "absent key");
        s.apply(&set("k", "a"));
        assert_eq!(s.apply(&cas("x", "b")), Reply::Int(0));
        assert_eq!(s.apply(&cas("a", "b")), Reply::Int(1));
        assert_eq!(s.get(b"k"), Some(&b"b".to_vec()));
    }

    #[test]
    fn del_counts_removed_keys_and_mset_sets_all() {
        let mut s = KvStore::new();
        s.apply(&Command::MSet {
            pairs: vec![
                (b"a".to_vec(), b"1".to_vec()),
                (b"b".to_vec(), b"2".to_vec()),
            ],
        });
        assert_eq!(
            s.apply(&Command::Del {
                keys: vec![b"a".to_vec(), b"a".to_vec(), b"z".to_vec()]
            }),
            Reply::Int(1)
        );
        assert_eq!(s.len(), 1);
    }
}
