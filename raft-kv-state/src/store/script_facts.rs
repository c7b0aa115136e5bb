//! What a script asks of the server that every replica answers alike:
//! `TIME` (the state machine's clock, which the log moves) and `INFO` (the
//! server's version and the keyspace, nothing of the node that runs it).

use super::KvStore;
use crate::reply::Reply;

impl KvStore {
    /// `TIME` inside a script: the state machine's clock as `[seconds,
    /// microseconds]`.
    pub(crate) fn time_reply(&self) -> Reply {
        let ms = self.clock_ms;
        let text = |n: u64| Reply::Bulk(Some(n.to_string().into_bytes()));
        Reply::Array(vec![text(ms / 1000), text((ms % 1000) * 1000)])
    }

    /// `INFO [section ...]` inside a script: the `server` section's version
    /// lines and the `keyspace` section, from the state alone.
    pub(crate) fn info_for_script(&self, sections: &[Vec<u8>]) -> Reply {
        let wants = |name: &str| {
            sections.is_empty()
                || sections.iter().any(|s| {
                    let s = s.to_ascii_lowercase();
                    s == name.as_bytes()
                        || matches!(s.as_slice(), b"all" | b"everything" | b"default")
                })
        };
        let mut out = String::new();
        if wants("server") {
            out.push_str(&format!(
                "# Server\r\nredis_version:{}\r\nredis_mode:standalone\r\n\r\n",
                crate::REDIS_COMPAT_VERSION
            ));
        }
        if wants("keyspace") {
            out.push_str("# Keyspace\r\n");
            if !self.map.is_empty() {
                let expires = self.map.values().filter(|s| s.expires_at_ms != 0).count();
                out.push_str(&format!(
                    "db0:keys={},expires={expires},avg_ttl=0\r\n",
                    self.map.len()
                ));
            }
            out.push_str("\r\n");
        }
        Reply::Bulk(Some(out.into_bytes()))
    }
}
