//! The scripts a node knows by SHA1 (`EVALSHA`, `SCRIPT LOAD | EXISTS |
//! FLUSH`). Each node has its own, as each Redis server does: `SCRIPT LOAD`
//! fills the cache of the node it is sent to, and every replica adds each
//! script it applies, so after one `EVAL` any node answers its `EVALSHA`.
//! Bounded: past the limits the oldest scripts are forgotten (a client then
//! gets `NOSCRIPT` and sends the source again, as Redis clients do).

use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use raft_kv_state::script::sha1_hex;

/// Most scripts kept.
const MAX_SCRIPTS: usize = 10_000;
/// Most source bytes kept.
const MAX_BYTES: usize = 64 << 20;

/// SHA1 (lower-case hex) to source, shared by a node's threads.
#[derive(Default)]
pub struct ScriptCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    by_sha: HashMap<String, Arc<Vec<u8>>>,
    /// Insertion order, oldest first (for eviction).
    order: VecDeque<String>,
    bytes: usize,
}

impl ScriptCache {
    /// Remembers `body`; its SHA1.
    pub fn insert(&self, body: &[u8]) -> String {
        let sha = sha1_hex(body);
        self.insert_hashed(sha.clone(), body);
        sha
    }

    /// True if a script with SHA1 `sha` (lowercase hex) is known; if not,
    /// `admit(body)` decides whether `body`, whose SHA1 `sha` is, is
    /// remembered (its error is returned). One hash per new script.
    pub fn contains_or_admit<E>(
        &self,
        sha: String,
        body: &[u8],
        admit: impl FnOnce(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        if self.inner.lock().by_sha.contains_key(&sha) {
            return Ok(());
        }
        admit(body)?;
        self.insert_hashed(sha, body);
        Ok(())
    }

    fn insert_hashed(&self, sha: String, body: &[u8]) {
        let mut c = self.inner.lock();
        if c.by_sha.contains_key(&sha) {
            return;
        }
        while !c.order.is_empty()
            && (c.order.len() >= MAX_SCRIPTS || c.bytes + body.len() > MAX_BYTES)
        {
            if let Some(old) = c.order.pop_front()
                && let Some(b) = c.by_sha.remove(&old)
            {
                c.bytes -= b.len();
            }
        }
        c.bytes += body.len();
        c.order.push_back(sha.clone());
        c.by_sha.insert(sha, Arc::new(body.to_vec()));
    }

    /// The source whose SHA1 is `sha` (any case), if known.
    pub fn get(&self, sha: &[u8]) -> Option<Arc<Vec<u8>>> {
        let key = std::str::from_utf8(sha).ok()?.to_ascii_lowercase();
        self.inner.lock().by_sha.get(&key).cloned()
    }

    /// Forgets every script.
    pub fn flush(&self) {
        *self.inner.lock() = Inner::default();
    }

    /// How many scripts are known.
    pub fn len(&self) -> usize {
        self.inner.lock().by_sha.len()
    }

    /// True if none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_finds_scripts_by_sha1_in_any_case_and_forgets_on_flush() {
        let cache = ScriptCache::default();
        let sha = cache.insert(b"return 1");
        assert_eq!(sha, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
        assert!(cache.get(sha.to_uppercase().as_bytes()).is_some());
        assert!(cache.get(b"nope").is_none());
        cache.flush();
        assert!(cache.is_empty());
    }
}
