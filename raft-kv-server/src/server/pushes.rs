//! What a subscribed connection is sent besides its replies: the
//! confirmations of its subscribe commands and the messages the node
//! delivers to it, as push frames (`>` in RESP3, arrays in RESP2), and the
//! session's subscribe commands that produce the confirmations; and
//! `PUBSUB`'s answers.

use super::outcome::Outcome;
use super::session::Session;
use raft_kv::runtime::{Delivery, PubSub, Subscriber};
use raft_kv_state::registry::plan::{PubSubQuery, Subscription};
use raft_kv_state::{Protocol, Reply};

/// Appends one push frame of `items` in `protocol`.
pub(super) fn encode_push(protocol: Protocol, items: &[Reply], out: &mut Vec<u8>) {
    out.push(match protocol {
        Protocol::Resp3 => b'>',
        Protocol::Resp2 => b'*',
    });
    out.extend_from_slice(items.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    for item in items {
        item.encode(protocol, out);
    }
}

/// Appends the push frame of a delivered message.
pub(super) fn encode_delivery(protocol: Protocol, d: &Delivery, out: &mut Vec<u8>) {
    if let Delivery::Monitored(line) = d {
        // A status line, as Redis sends a monitored command.
        return Reply::Simple(line.to_string()).encode(protocol, out);
    }
    let words = d.words();
    let items: Vec<Reply> = words
        .iter()
        .map(|w| Reply::Bulk(Some(w.to_vec())))
        .collect();
    encode_push(protocol, &items, out);
}

/// One confirmation: `[word, name (nil for none), count]`.
fn confirmation(
    protocol: Protocol,
    word: &str,
    name: Option<&[u8]>,
    count: usize,
    out: &mut Vec<u8>,
) {
    let items = [
        Reply::Bulk(Some(word.as_bytes().to_vec())),
        Reply::Bulk(name.map(<[u8]>::to_vec)),
        Reply::Int(i64::try_from(count).unwrap_or(i64::MAX)),
    ];
    encode_push(protocol, &items, out);
}

impl Session {
    /// `SUBSCRIBE`, `PSUBSCRIBE`, `SSUBSCRIBE`: a confirmation per name.
    pub(super) fn subscribe(&mut self, kind: Subscription, names: &[Vec<u8>]) -> Outcome {
        let protocol = self.protocol();
        let sub = self.subscriber();
        let mut out = Vec::new();
        for name in names {
            let count = sub.subscribe(kind, name);
            confirmation(protocol, kind.subscribe_word(), Some(name), count, &mut out);
        }
        Outcome::Encoded(out)
    }

    /// `UNSUBSCRIBE`, `PUNSUBSCRIBE`, `SUNSUBSCRIBE`: a confirmation per
    /// name; with no names, one per subscription of that kind, or one with
    /// a nil name if there is none.
    pub(super) fn unsubscribe(&mut self, kind: Subscription, names: &[Vec<u8>]) -> Outcome {
        let protocol = self.protocol();
        let word = kind.unsubscribe_word();
        let sub = self.subscriber();
        let names = match names {
            [] => sub.names(kind),
            given => given.to_vec(),
        };
        let mut out = Vec::new();
        if names.is_empty() {
            let count = sub.confirmation_count(kind);
            confirmation(protocol, word, None, count, &mut out);
        }
        for name in &names {
            let count = sub.unsubscribe(kind, name);
            confirmation(protocol, word, Some(name), count, &mut out);
        }
        Outcome::Encoded(out)
    }
}

/// A command as `MONITOR` shows it: `1339518083.107412 [0 127.0.0.1:60866]
/// "set" "k" "v"`, the time it arrived and each word quoted as Redis's
/// `sdscatrepr` quotes it.
pub(super) fn monitor_line(addr: &str, words: &[&[u8]]) -> String {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut line = format!(
        "{}.{:06} [0 {addr}]",
        since.as_secs(),
        since.subsec_micros()
    );
    for w in words {
        line.push(' ');
        quote(w, &mut line);
    }
    line
}

/// `w` in double quotes, escaped as Redis's `sdscatrepr` escapes it.
fn quote(w: &[u8], out: &mut String) {
    out.push('"');
    for &b in w {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            7 => out.push_str("\\a"),
            8 => out.push_str("\\b"),
            b if b.is_ascii_graphic() || b == b' ' => out.push(char::from(b)),
            b => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
}

/// `PUBSUB`'s answers, about this node's own subscribers.
pub(super) fn pubsub_reply(hub: &PubSub, q: PubSubQuery) -> Reply {
    let bulk = |b: Vec<u8>| Reply::Bulk(Some(b));
    let int = |n: usize| Reply::Int(i64::try_from(n).unwrap_or(i64::MAX));
    match q {
        PubSubQuery::Channels(kind, pattern) => Reply::Array(
            hub.channels(kind, pattern.as_deref())
                .into_iter()
                .map(bulk)
                .collect(),
        ),
        // A flat array in RESP3 too, as Redis 7.0 answers.
        PubSubQuery::NumSub(kind, channels) => Reply::Array(
            channels
                .into_iter()
                .flat_map(|c| {
                    let n = hub.subscribers(kind, &c);
                    [bulk(c), int(n)]
                })
                .collect(),
        ),
        PubSubQuery::NumPat => int(hub.count(Subscription::Pattern)),
    }
}

/// Moves about `budget` bytes of the messages waiting for `sub` into `out`.
pub(super) fn drain(sub: &Subscriber, protocol: Protocol, out: &mut Vec<u8>, budget: usize) {
    for d in &sub.take(budget) {
        encode_delivery(protocol, d, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_monitor_line_quotes_each_word_as_redis_does() {
        let line = monitor_line("127.0.0.1:5", &[b"set", b"a \"b\"", b"\n\x01\\"]);
        let (time, rest) = line.split_once(' ').expect("a time first");
        assert!(
            time.split_once('.').is_some_and(|(_, us)| us.len() == 6),
            "{time}"
        );
        assert_eq!(rest, r#"[0 127.0.0.1:5] "set" "a \"b\"" "\n\x01\\""#);
    }
}
