//! The state as canonical text: every key in byte order with its type,
//! version, expiry and contents, then the clock and the member addresses.
//! Two replicas hold the same state exactly when their texts are equal, so
//! the text (or its SHA1, [`KvStore::fingerprint`]) is what determinism
//! checks compare: the golden log replays, replicas after a fault test.

use super::KvStore;
use super::value::Value;
use std::fmt::Write;

/// `bytes` as Rust writes a byte string literal: printable ASCII as is,
/// everything else escaped.
fn escaped(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

impl KvStore {
    /// The whole state as canonical text (see the module docs).
    pub fn canonical_text(&self) -> String {
        let mut keys: Vec<_> = self.map.iter().collect();
        keys.sort_by(|a, b| a.0.cmp(b.0));
        let mut out = String::new();
        for (key, slot) in keys {
            let _ = write!(
                out,
                "{} {} v{} exp{}:",
                escaped(key),
                slot.value.type_name(),
                slot.version,
                slot.expires_at_ms
            );
            match &slot.value {
                Value::Str(v) => {
                    let _ = write!(out, " {}", escaped(v));
                }
                Value::Hash(h) => h.iter().for_each(|(f, v)| {
                    let _ = write!(out, " {}={}", escaped(f), escaped(v));
                }),
                Value::List(l) => l.iter().for_each(|v| {
                    let _ = write!(out, " {}", escaped(v));
                }),
                Value::Set(s) => s.iter().for_each(|v| {
                    let _ = write!(out, " {}", escaped(v));
                }),
                Value::ZSet(z) => z.ascending().for_each(|(m, score)| {
                    let _ = write!(out, " {}@{score:e}", escaped(m));
                }),
            }
            out.push('\n');
        }
        let _ = writeln!(out, "clock {}", self.clock_ms);
        let _ = writeln!(out, "members {:?}", self.members);
        let _ = writeln!(out, "clients {:?}", self.clients);
        let _ = writeln!(out, "state machine versions {:?}", self.state_versions);
        out
    }

    /// The SHA1 (hex) of [`KvStore::canonical_text`]: equal on two replicas
    /// exactly when their states are.
    pub fn fingerprint(&self) -> String {
        sha1_smol::Sha1::from(self.canonical_text())
            .digest()
            .to_string()
    }
}
