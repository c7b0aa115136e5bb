//! `CONFIG GET` and `CONFIG SET`: the settings Redis tools and Redis's test
//! suite read at start-up, and the encoding hints they set. This store keeps
//! one encoding per type, so an encoding hint is accepted (an integer) and
//! changes nothing; every other setting is fixed at start (`raft-cli node`
//! flags) and `CONFIG SET` of it is refused. The one live setting is the
//! node's script busy threshold (`lua-time-limit`, also named
//! `busy-reply-threshold`, in milliseconds).

use raft_kv_state::{CommandError, Reply};

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
pub(crate) struct LiveSettings {
    /// A script running longer than this makes the node answer `BUSY` (ms).
    pub(crate) busy_threshold_ms: u64,
}

/// `CONFIG GET pattern [pattern ...]`.
pub(crate) fn get(patterns: &[Vec<u8>], live: &LiveSettings) -> Reply {
    let busy = live.busy_threshold_ms.to_string();
    let items = SETTINGS
        .iter()
        .copied()
        .chain(BUSY_NAMES.iter().map(|n| (*n, busy.as_str())))
        .filter(|(name, _)| {
            patterns.iter().any(|p| {
                raft_kv_state::store::glob_matches(&p.to_ascii_lowercase(), name.as_bytes())
            })
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

/// `CONFIG SET name value [...]`: accepts encoding hints (integers, no
/// effect), the busy threshold, and a fixed setting set to the value it has
/// (`save ""`); refuses everything else before anything is taken.
pub(crate) fn set(pairs: &[(Vec<u8>, Vec<u8>)], live: &mut LiveSettings) -> Reply {
    match checked(pairs, *live) {
        Ok(next) => {
            *live = next;
            Reply::ok()
        }
        Err(e) => e.into(),
    }
}

/// The settings after `pairs`, if every pair may be set.
fn checked(
    pairs: &[(Vec<u8>, Vec<u8>)],
    mut next: LiveSettings,
) -> Result<LiveSettings, CommandError> {
    for (name, value) in pairs {
        let name = String::from_utf8_lossy(name).to_ascii_lowercase();
        let not_integer = || CommandError::ConfigNotInteger { name: name.clone() };
        if BUSY_NAMES.contains(&name.as_str()) {
            next.busy_threshold_ms = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(not_integer)?;
            continue;
        }
        let hint = SETTINGS[FIRST_HINT..].iter().any(|(n, _)| *n == name);
        let unchanged = SETTINGS[..FIRST_HINT]
            .iter()
            .any(|(n, v)| *n == name && v.as_bytes() == value.as_slice());
        if unchanged {
            continue;
        }
        if !hint {
            return Err(CommandError::ConfigNotSettable { name });
        }
        if !std::str::from_utf8(value).is_ok_and(|v| v.parse::<i64>().is_ok()) {
            return Err(not_integer());
        }
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(ws: &[&str]) -> Vec<Vec<u8>> {
        ws.iter().map(|w| w.as_bytes().to_vec()).collect()
    }

    fn pairs(ws: &[&str]) -> Vec<(Vec<u8>, Vec<u8>)> {
        ws.chunks(2)
            .map(|p| (p[0].as_bytes().to_vec(), p[1].as_bytes().to_vec()))
            .collect()
    }

    fn live() -> LiveSettings {
        LiveSettings {
            busy_threshold_ms: 5000,
        }
    }

    #[test]
    fn the_busy_threshold_is_live_under_both_names_and_set_only_if_all_pairs_are_valid() {
        let mut live = live();
        assert_eq!(
            set(&pairs(&["lua-time-limit", "10"]), &mut live),
            Reply::ok()
        );
        assert_eq!(live.busy_threshold_ms, 10);
        let got = get(&words(&["busy-reply-threshold"]), &live);
        let threshold = (
            Reply::Bulk(Some(b"busy-reply-threshold".to_vec())),
            Reply::Bulk(Some(b"10".to_vec())),
        );
        assert_eq!(got, Reply::Map(vec![threshold]));
        let bad = pairs(&["busy-reply-threshold", "7", "appendonly", "no"]);
        assert!(set(&bad, &mut live).is_error());
        assert_eq!(
            live.busy_threshold_ms, 10,
            "nothing taken from a refused SET"
        );
        assert!(set(&pairs(&["lua-time-limit", "-1"]), &mut live).is_error());
    }

    #[test]
    fn encoding_hints_are_accepted_and_other_settings_refused() {
        let mut live = live();
        assert_eq!(
            set(&pairs(&["hash-max-ziplist-value", "10"]), &mut live),
            Reply::ok()
        );
        assert_eq!(
            set(&pairs(&["zset-max-ziplist-entries", "x"]), &mut live),
            CommandError::ConfigNotInteger {
                name: "zset-max-ziplist-entries".into()
            }
            .into()
        );
        assert!(set(&pairs(&["appendonly", "no"]), &mut live).is_error());
        assert_eq!(set(&pairs(&["save", ""]), &mut live), Reply::ok());
        let Reply::Map(found) = get(&words(&["hash-max-*-value"]), &live) else {
            panic!("a map")
        };
        assert_eq!(found.len(), 2, "{found:?}");
    }
}
