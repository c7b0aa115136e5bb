//! `CONFIG GET` and `CONFIG SET`: the settings Redis tools and Redis's test
//! suite read at start-up, and the encoding hints they set. This store keeps
//! one encoding per type, so an encoding hint is accepted (an integer) and
//! changes nothing; every other setting is fixed at start (`raft-cli node`
//! flags) and `CONFIG SET` of it is refused. The live settings are the
//! node's script busy threshold (`lua-time-limit`, also named
//! `busy-reply-threshold`, in milliseconds) and the pub/sub class of
//! `client-output-buffer-limit`.

use raft_kv::runtime::OutputLimit;
use raft_kv_state::errors::BufferLimitProblem;
use raft_kv_state::{CommandError, Reply};
use std::time::Duration;

/// What `CONFIG GET` answers: fixed facts, then the encoding hints with
/// Redis 7.0's defaults.
const SETTINGS: [(&str, &str); 22] = [
    ("save", ""),
    ("appendonly", "yes"),
    ("appendfsync", "always"),
    ("databases", "1"),
    ("maxmemory", "0"),
    ("maxmemory-policy", "noeviction"),
    ("notify-keyspace-events", ""),
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

/// The settings that are encoding hints (all but the first seven).
const FIRST_HINT: usize = 7;

/// The names of the script busy threshold.
const BUSY_NAMES: [&str; 2] = ["lua-time-limit", "busy-reply-threshold"];

/// The name of the output buffer limits.
const BUFFER_LIMIT: &str = "client-output-buffer-limit";

/// Redis's limits of the classes this store does not enforce (`normal`
/// and `replica`, which Redis also names `slave`), as `CONFIG GET` shows
/// them; `CONFIG SET` may repeat them but not change them.
const FIXED_CLASSES: [(&str, &str); 2] = [("normal", "0 0 0"), ("slave", "268435456 67108864 60")];

/// The settings `CONFIG SET` changes on the running node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LiveSettings {
    /// A script running longer than this makes the node answer `BUSY` (ms).
    pub(crate) busy_threshold_ms: u64,
    /// When a subscriber that falls behind is cut off.
    pub(crate) pubsub_limit: OutputLimit,
}

/// `client-output-buffer-limit` as Redis shows it.
fn buffer_limits(limit: &OutputLimit) -> String {
    let fixed: Vec<String> = FIXED_CLASSES
        .iter()
        .map(|(class, value)| format!("{class} {value}"))
        .collect();
    format!(
        "{} pubsub {} {} {}",
        fixed.join(" "),
        limit.hard,
        limit.soft,
        limit.soft_for.as_secs()
    )
}

/// `CONFIG GET pattern [pattern ...]`.
pub(crate) fn get(patterns: &[Vec<u8>], live: &LiveSettings) -> Reply {
    let busy = live.busy_threshold_ms.to_string();
    let limits = buffer_limits(&live.pubsub_limit);
    let items = SETTINGS
        .iter()
        .copied()
        .chain(BUSY_NAMES.iter().map(|n| (*n, busy.as_str())))
        .chain([(BUFFER_LIMIT, limits.as_str())])
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
        if name == BUFFER_LIMIT {
            next.pubsub_limit = parse_buffer_limits(value, next.pubsub_limit)?;
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

/// `client-output-buffer-limit <class> <hard> <soft> <soft seconds> ...`:
/// the pub/sub limit it sets (the others must keep their values).
fn parse_buffer_limits(value: &[u8], mut pubsub: OutputLimit) -> Result<OutputLimit, CommandError> {
    let problem = CommandError::BufferLimit;
    let text = String::from_utf8_lossy(value);
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.is_empty() || !words.len().is_multiple_of(4) {
        return Err(problem(BufferLimitProblem::WrongArity));
    }
    for group in words.chunks(4) {
        let class = match group[0].to_ascii_lowercase().as_str() {
            "replica" => "slave".to_string(),
            c => c.to_string(),
        };
        let hard = memory_size(group[1]);
        let soft = memory_size(group[2]);
        let secs = group[3].parse::<u64>().ok();
        let known = class == "pubsub" || FIXED_CLASSES.iter().any(|(c, _)| *c == class);
        if !known {
            return Err(problem(BufferLimitProblem::BadClass));
        }
        let (Some(hard), Some(soft), Some(secs)) = (hard, soft, secs) else {
            return Err(problem(BufferLimitProblem::BadNumber));
        };
        if class == "pubsub" {
            pubsub = OutputLimit {
                hard,
                soft,
                soft_for: Duration::from_secs(secs),
            };
            continue;
        }
        let given = format!("{hard} {soft} {secs}");
        if !FIXED_CLASSES.contains(&(class.as_str(), given.as_str())) {
            return Err(problem(BufferLimitProblem::NotEnforced));
        }
    }
    Ok(pubsub)
}

/// A size as Redis's `memtoull` reads it: a number with an optional unit
/// (`k` 1000, `kb` 1024, `m`, `mb`, `g`, `gb`; any case).
fn memory_size(word: &str) -> Option<u64> {
    let lower = word.to_ascii_lowercase();
    let digits = lower.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = match &lower[digits.len()..] {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1 << 10,
        "m" => 1_000_000,
        "mb" => 1 << 20,
        "g" => 1_000_000_000,
        "gb" => 1 << 30,
        _ => return None,
    };
    digits.parse::<u64>().ok()?.checked_mul(unit)
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
            pubsub_limit: OutputLimit::default(),
        }
    }

    fn limits_shown(live: &LiveSettings) -> String {
        let Reply::Map(found) = get(&words(&["client-output-buffer-limit"]), live) else {
            panic!("a map")
        };
        match &found[..] {
            [(_, Reply::Bulk(Some(v)))] => String::from_utf8_lossy(v).into_owned(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_pubsub_output_limit_is_live_and_shown_as_redis_shows_it() {
        let mut live = live();
        assert_eq!(
            limits_shown(&live),
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
        );
        let set_to = pairs(&["client-output-buffer-limit", "pubsub 1mb 2k 5"]);
        assert_eq!(set(&set_to, &mut live), Reply::ok());
        assert_eq!(
            live.pubsub_limit,
            OutputLimit {
                hard: 1 << 20,
                soft: 2000,
                soft_for: Duration::from_secs(5)
            }
        );
        let unchanged = pairs(&[
            "client-output-buffer-limit",
            "normal 0 0 0 replica 256mb 64mb 60",
        ]);
        assert_eq!(set(&unchanged, &mut live), Reply::ok());
        assert!(limits_shown(&live).ends_with("pubsub 1048576 2000 5"));
    }

    #[test]
    fn a_buffer_limit_it_cannot_take_is_refused_with_redis_reasons_and_nothing_changes() {
        let mut live = live();
        let cases = [
            ("pubsub 1mb", BufferLimitProblem::WrongArity),
            ("foo 1 1 1", BufferLimitProblem::BadClass),
            ("pubsub x 1 1", BufferLimitProblem::BadNumber),
            ("normal 1mb 0 0", BufferLimitProblem::NotEnforced),
        ];
        for (value, problem) in cases {
            let got = set(&pairs(&["client-output-buffer-limit", value]), &mut live);
            assert_eq!(got, CommandError::BufferLimit(problem).into(), "{value}");
        }
        assert_eq!(live.pubsub_limit, OutputLimit::default());
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

    #[test]
    fn the_parameters_clients_read_are_answered_and_set_only_to_what_they_are() {
        let mut live = live();
        let Reply::Map(found) = get(&words(&["maxmemory*", "notify-keyspace-events"]), &live)
        else {
            panic!("a map")
        };
        let names: Vec<&Reply> = found.iter().map(|(k, _)| k).collect();
        assert_eq!(names.len(), 3, "{found:?}");
        assert_eq!(set(&pairs(&["maxmemory", "0"]), &mut live), Reply::ok());
        assert!(set(&pairs(&["maxmemory", "1mb"]), &mut live).is_error());
        assert!(set(&pairs(&["notify-keyspace-events", "KA"]), &mut live).is_error());
    }
}
