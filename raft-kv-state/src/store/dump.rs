//! DUMP and RESTORE: a key's value as an opaque payload and back. The
//! payload is this store's own (not Redis's RDB format): a format version
//! and one checksummed record holding the value as the snapshot format
//! writes it, so a payload damaged on its way, or one from another server,
//! is refused with Redis's error rather than loaded wrong.

use super::KvStore;
use super::args::{bulk, int_arg};
use super::snapshot::{value_bytes, value_from_bytes};
use super::value::Slot;
use crate::errors::CommandError;
use crate::family::{Registration, read, write};
use crate::reply::Reply;
use raft_core::SplitMix64;

type Args<'a> = &'a [Vec<u8>];

/// DUMP and RESTORE.
pub(crate) static COMMANDS: &[Registration] = &[
    read("dump", |s, a, _| {
        Ok(match s.slot(&a[0]) {
            None => Reply::Bulk(None),
            Some(slot) => bulk(&payload_of(slot)),
        })
    }),
    write("restore", restore),
];

/// The payload format this store writes (the first two bytes).
const DUMP_VERSION: u16 = 1;

fn payload_of(slot: &Slot) -> Vec<u8> {
    let mut out = DUMP_VERSION.to_le_bytes().to_vec();
    raft_storage::record::encode_into(&mut out, &value_bytes(&slot.value));
    out
}

fn wrong_payload() -> CommandError {
    CommandError::BadDumpPayload
}

/// The value in a DUMP payload.
fn value_of(payload: &[u8]) -> Result<super::value::Value, CommandError> {
    let (version, record) = payload.split_at_checked(2).ok_or_else(wrong_payload)?;
    if version != DUMP_VERSION.to_le_bytes() {
        return Err(wrong_payload());
    }
    let (records, end) = raft_storage::record::scan(record);
    match (records.as_slice(), end) {
        ([(_, bytes)], raft_storage::record::ScanEnd::Clean) => {
            value_from_bytes(bytes).ok_or(CommandError::BadDataFormat)
        }
        _ => Err(wrong_payload()),
    }
}

/// RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f].
fn restore(s: &mut KvStore, a: Args, _: &mut SplitMix64) -> Result<Reply, CommandError> {
    let ttl = int_arg(&a[1])?;
    let (mut replace, mut absolute) = (false, false);
    let mut rest = &a[3..];
    while let Some((word, tail)) = rest.split_first() {
        rest = tail;
        match (word.to_ascii_uppercase().as_slice(), tail.first()) {
            (b"REPLACE", _) => replace = true,
            (b"ABSTTL", _) => absolute = true,
            (b"IDLETIME", Some(n)) => {
                if int_arg(n)? < 0 {
                    return Err(CommandError::InvalidIdleTime);
                }
                rest = &tail[1..];
            }
            (b"FREQ", Some(n)) => {
                if !(0..=255).contains(&int_arg(n)?) {
                    return Err(CommandError::InvalidFreq);
                }
                rest = &tail[1..];
            }
            _ => return Err(CommandError::Syntax),
        }
    }
    if ttl < 0 {
        return Err(CommandError::InvalidTtl);
    }
    if !replace && s.slot(&a[0]).is_some() {
        return Err(CommandError::TargetExists);
    }
    let value = value_of(&a[2])?;
    let ttl = ttl as u64;
    let expires_at_ms = match (ttl, absolute) {
        (0, _) => 0,
        (t, true) => t,
        (t, false) => s.now_ms().saturating_add(t),
    };
    if expires_at_ms != 0 && expires_at_ms <= s.now_ms() {
        s.remove_key(&a[0]); // already expired: as Redis, nothing is created
        return Ok(Reply::ok());
    }
    let slot = Slot {
        value,
        version: 0,
        expires_at_ms,
    };
    s.put_slot(a[0][..].into(), slot);
    Ok(Reply::ok())
}

#[cfg(test)]
mod tests {
    use super::super::test_support::words;
    use super::*;

    fn run(s: &mut KvStore, argv: Vec<Vec<u8>>) -> Reply {
        let r = s.apply_call(&argv, 0);
        s.set_applied_index(s.applied_index() + 1);
        r
    }

    #[test]
    fn a_dumped_value_restores_whole_and_a_damaged_payload_is_refused() {
        let mut s = KvStore::new();
        run(&mut s, words(&["HSET", "h", "f1", "v1", "f2", "v2"]));
        let Reply::Bulk(Some(payload)) = s.read_call(&words(&["DUMP", "h"])) else {
            panic!("a payload");
        };
        let restore = |key: &str, payload: &[u8], extra: &[&str]| {
            let mut argv = words(&["RESTORE", key, "0"]);
            argv.push(payload.to_vec());
            argv.extend(words(extra));
            argv
        };
        assert_eq!(run(&mut s, restore("copy", &payload, &[])), Reply::ok());
        let all = |s: &KvStore, k: &str| s.read_call(&words(&["HGETALL", k]));
        assert_eq!(all(&s, "copy"), all(&s, "h"));
        let Reply::Error(busy) = run(&mut s, restore("copy", &payload, &[])) else {
            panic!("BUSYKEY");
        };
        assert_eq!(busy.line(), "BUSYKEY Target key name already exists.");
        assert_eq!(
            run(&mut s, restore("copy", &payload, &["REPLACE"])),
            Reply::ok()
        );
        let mut damaged = payload.clone();
        let last = damaged.len() - 1;
        damaged[last] ^= 1;
        assert_eq!(
            run(&mut s, restore("bad", &damaged, &[])),
            Reply::Error(crate::errors::ReplyError::from_line(
                "ERR DUMP payload version or checksum are wrong"
            ))
        );
        assert_eq!(s.read_call(&words(&["DUMP", "none"])), Reply::Bulk(None));
    }
}
