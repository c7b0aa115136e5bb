//! `CONFIG GET` and `CONFIG SET`: the settings Redis tools and Redis's test
//! suite read at start-up, and the encoding hints they set. This store keeps
//! one encoding per type, so an encoding hint is accepted (an integer) and
//! changes nothing; every other setting is fixed at start (`raft-cli node`
//! flags) and `CONFIG SET` of it is refused. The one live setting is the
//! node's script busy threshold (`lua-time-limit`, also named
//! `busy-reply-threshold`, in milliseconds).

use crate::command::Reply;
use crate::error::ErrorCode;

type Args<'a> = &'a [Vec<u8>];

/// What `CONFIG GET` answers: fixed facts, then the encoding hints with
/// Redis 7.0's defaults.
const SETTINGS: [(&str, &str); 18] = [
    ("save", ""),
    ("appendonly", "yes"),
    ("databases", "1"),
    ("hash-max-listpack-entries", "128"),
    ("hash-max-listpack-value", "64"),
    ("hash-max-ziplist-entries", "128"),
    ("hash-max-ziplist-value", "64"),
    ("set-max-intset-entries", "512"),
    ("set-max-listpack-entries", "128"),
    ("zset-max-listpack-entries", "128"),
    ("zset-max-listpack-value", "64"),
    ("zset-max-ziplist-entries", "128"),
    ("zset-max-ziplist-value", "64"),
    ("list-max-listpack-size", "-2"),
    ("list-max-ziplist-size", "-2"),
    ("list-compress-depth", "0"),
    ("stream-node-max-entries", "100"),
    ("stream-node-max-bytes", "4096"),
];

/// The settings that are encoding hints (all but the first three).
const FIRST_HINT: usize = 3;

/// The names of the script busy threshold.
const BUSY_NAMES: [&str; 2] = ["lua-time-limit", "busy-reply-threshold"];

/// The settings `CONFIG SET` changes on the running node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct LiveSettings {
    /// A script running longer than this makes the node answer `BUSY` (ms).
    pub(super) busy_threshold_ms: u64,
}

/// `CONFIG GET pattern [pattern ...]` and `CONFIG SET name value [...]`;
/// a `SET` that succeeds updates `live`.
pub(super) fn config(args: Args, live: &mut LiveSettings) -> Reply {
    let (sub, rest) = args.split_first().expect("arity: a subcommand");
    match sub.to_ascii_uppercase().as_slice() {
        b"GET" if !rest.is_empty() => get(rest, live),
        b"SET" if !rest.is_empty() && rest.len().is_multiple_of(2) => set(rest, live),
        b"GET" | b"SET" => Reply::error(
            ErrorCode::Err,
            format!(
                "wrong number of arguments for 'config|{}' command",
                String::from_utf8_lossy(sub).to_ascii_lowercase()
            ),
        ),
        _ => Reply::error(
            ErrorCode::Err,
            format!(
                "unknown subcommand '{}'. Only CONFIG GET and CONFIG SET are served.",
                String::from_utf8_lossy(sub)
            ),
        ),
    }
}

fn get(patterns: Args, live: &LiveSettings) -> Reply {
    let busy = live.busy_threshold_ms.to_string();
    let items = SETTINGS
        .iter()
        .copied()
        .chain(BUSY_NAMES.iter().map(|n| (*n, busy.as_str())))
        .filter(|(name, _)| {
            patterns
                .iter()
                .any(|p| crate::store::glob_matches(&p.to_ascii_lowercase(), name.as_bytes()))
        })
        .flat_map(|(name, value)| {
            [
                Reply::Bulk(Some(name.as_bytes().to_vec())),
                Reply::Bulk(Some(value.as_bytes().to_vec())),
            ]
        })
        .collect();
    Reply::Map(items_to_pairs(items))
}

fn items_to_pairs(items: Vec<Reply>) -> Vec<(Reply, Reply)> {
    let mut it = items.into_iter();
    let mut pairs = Vec::new();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        pairs.push((k, v));
    }
    pairs
}

/// Accepts encoding hints (integers, no effect), the busy threshold, and a
/// fixed setting set to the value it has (`save ""`); refuses everything
/// else before anything is taken.
fn set(pairs: Args, live: &mut LiveSettings) -> Reply {
    let mut next = *live;
    for pair in pairs.chunks(2) {
        let name = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
        if BUSY_NAMES.contains(&name.as_str()) {
            match std::str::from_utf8(&pair[1]).map(str::parse::<u64>) {
                Ok(Ok(ms)) => next.busy_threshold_ms = ms,
                _ => {
                    return Reply::error(
                        ErrorCode::Err,
                        format!(
                            "CONFIG SET failed (possibly related to argument '{name}') - argument couldn't be parsed into an integer"
                        ),
                    );
                }
            }
            continue;
        }
        let hint = SETTINGS[FIRST_HINT..].iter().any(|(n, _)| *n == name);
        let unchanged = SETTINGS[..FIRST_HINT]
            .iter()
            .any(|(n, v)| *n == name && v.as_bytes() == pair[1].as_slice());
        if unchanged {
            continue;
        }
        if !hint {
            return Reply::error(
                ErrorCode::Err,
                format!(
                    "CONFIG SET failed (possibly related to argument '{name}') - not settable here: only encoding hints are (they change nothing); other settings are raft-cli node flags"
                ),
            );
        }
        let integer = std::str::from_utf8(&pair[1]).is_ok_and(|v| v.parse::<i64>().is_ok());
        if !integer {
            return Reply::error(
                ErrorCode::Err,
                format!(
                    "CONFIG SET failed (possibly related to argument '{name}') - argument couldn't be parsed into an integer"
                ),
            );
        }
    }
    *live = next;
    Reply::ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(ws: &[&str]) -> Vec<Vec<u8>> {
        ws.iter().map(|w| w.as_bytes().to_vec()).collect()
    }

    fn config(args: &[Vec<u8>]) -> Reply {
        let mut live = LiveSettings {
            busy_threshold_ms: 5000,
        };
        super::config(args, &mut live)
    }

    #[test]
    fn the_busy_threshold_is_live_under_both_names_and_set_only_if_all_pairs_are_valid() {
        let mut live = LiveSettings {
            busy_threshold_ms: 5000,
        };
        let set = words(&["SET", "lua-time-limit", "10"]);
        assert_eq!(super::config(&set, &mut live), Reply::ok());
        assert_eq!(live.busy_threshold_ms, 10);
        let got = super::config(&words(&["GET", "busy-reply-threshold"]), &mut live);
        let threshold = (
            Reply::Bulk(Some(b"busy-reply-threshold".to_vec())),
            Reply::Bulk(Some(b"10".to_vec())),
        );
        assert_eq!(got, Reply::Map(vec![threshold]));
        let bad = words(&["SET", "busy-reply-threshold", "7", "appendonly", "no"]);
        assert!(matches!(super::config(&bad, &mut live), Reply::Error(_)));
        assert_eq!(
            live.busy_threshold_ms, 10,
            "nothing taken from a refused SET"
        );
        let negative = words(&["SET", "lua-time-limit", "-1"]);
        assert!(matches!(
            super::config(&negative, &mut live),
            Reply::Error(_)
        ));
    }

    #[test]
    fn encoding_hints_are_accepted_and_other_settings_refused() {
        let ok = config(&words(&["SET", "hash-max-ziplist-value", "10"]));
        assert_eq!(ok, Reply::ok());
        let not_int = config(&words(&["set", "zset-max-ziplist-entries", "x"]));
        assert!(matches!(not_int, Reply::Error(_)), "{not_int:?}");
        let fixed = config(&words(&["SET", "appendonly", "no"]));
        assert!(matches!(fixed, Reply::Error(_)), "{fixed:?}");
        assert_eq!(config(&words(&["SET", "save", ""])), Reply::ok());
        let got = config(&words(&["GET", "hash-max-*-value"]));
        let Reply::Map(pairs) = got else {
            panic!("a map: {got:?}")
        };
        assert_eq!(pairs.len(), 2, "{pairs:?}");
    }
}
