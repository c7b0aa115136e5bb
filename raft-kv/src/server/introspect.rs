//! `COMMAND` and its subcommands (`COUNT`, `LIST`, `INFO`, `DOCS`,
//! `GETKEYS`), generated from the one command table: each command's name,
//! arity, flags (from its kind), group and key positions. Key positions are
//! Redis's legacy triple (first, last, step); commands whose keys are found
//! through a count argument (LMPOP, ZUNION, ...) or an option (SORT ...
//! STORE) are marked `movablekeys`, and `GETKEYS` finds their keys as Redis does.

use super::outcome::Kind;
use crate::command::Reply;
use crate::error::ErrorCode;

type Args<'a> = &'a [Vec<u8>];

/// What this module knows of a command of the table.
pub(super) struct Entry {
    /// Upper-case name.
    pub(super) name: &'static str,
    /// Redis-style arity, the name included.
    pub(super) arity: i32,
    /// How it is ordered on its connection (read, write, blocking, other).
    pub(super) kind: Kind,
}

impl Entry {
    fn arity_ok(&self, words: usize) -> bool {
        crate::store::words::arity_fits(self.arity, words)
    }
}

/// The entry of `name` (any case).
fn lookup<'t>(table: &'t [Entry], name: &[u8]) -> Option<&'t Entry> {
    table
        .iter()
        .find(|c| c.name.as_bytes().eq_ignore_ascii_case(name))
}

/// Where a command's keys are.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Keys {
    /// None.
    None,
    /// Redis's (first, last, step): positions counted from the name, `last`
    /// negative from the end.
    Range(i64, i64, i64),
    /// A key count at position `count_at`, the keys right after it, and the
    /// positions before it given as (first, last) keys too (a destination).
    Counted { count_at: usize, before: usize },
    /// SORT: the key, and the destination after `STORE`.
    Sort,
}

/// The keys of `name` (upper case).
fn keys_of(name: &str) -> Keys {
    match name {
        "DEL" | "UNLINK" | "EXISTS" | "MGET" | "TOUCH" | "WATCH" | "SINTER" | "SUNION"
        | "SDIFF" | "SINTERSTORE" | "SUNIONSTORE" | "SDIFFSTORE" => Keys::Range(1, -1, 1),
        "MSET" | "MSETNX" => Keys::Range(1, -1, 2),
        "BLPOP" | "BRPOP" | "BZPOPMIN" | "BZPOPMAX" => Keys::Range(1, -2, 1),
        "RENAME" | "RENAMENX" | "COPY" | "LMOVE" | "RPOPLPUSH" | "BLMOVE" | "BRPOPLPUSH"
        | "SMOVE" | "ZRANGESTORE" => Keys::Range(1, 2, 1),
        "LMPOP" | "ZMPOP" | "ZUNION" | "ZINTER" | "ZDIFF" | "ZINTERCARD" | "SINTERCARD" => {
            Keys::Counted {
                count_at: 1,
                before: 0,
            }
        }
        "BLMPOP" | "BZMPOP" | "EVAL" | "EVAL_RO" | "EVALSHA" | "EVALSHA_RO" => Keys::Counted {
            count_at: 2,
            before: 0,
        },
        "ZUNIONSTORE" | "ZINTERSTORE" | "ZDIFFSTORE" => Keys::Counted {
            count_at: 2,
            before: 1,
        },
        "SORT" | "SORT_RO" => Keys::Sort,
        "MEMORY" | "OBJECT" => Keys::Range(2, 2, 1),
        _ if no_keys(name) => Keys::None,
        _ => Keys::Range(1, 1, 1),
    }
}

/// Commands without keys.
fn no_keys(name: &str) -> bool {
    const NONE: &[&str] = &[
        "PING",
        "ECHO",
        "AUTH",
        "HELLO",
        "SELECT",
        "INFO",
        "CONFIG",
        "COMMAND",
        "CLIENT",
        "MULTI",
        "EXEC",
        "DISCARD",
        "UNWATCH",
        "TIME",
        "DBSIZE",
        "FLUSHDB",
        "FLUSHALL",
        "KEYS",
        "SCAN",
        "RANDOMKEY",
        "QUIT",
        "READONLY",
        "READWRITE",
        "FUNCTION",
        "SCRIPT",
        "SAVE",
        "BGSAVE",
        "SHUTDOWN",
    ];
    NONE.contains(&name) || name.starts_with("RAFT.")
}

/// Redis's command group of `spec`.
fn group_of(name: &str, kind: Kind) -> &'static str {
    match name {
        "AUTH" | "HELLO" | "PING" | "ECHO" | "QUIT" | "SELECT" | "CLIENT" | "READONLY"
        | "READWRITE" => "connection",
        "MULTI" | "EXEC" | "DISCARD" | "WATCH" | "UNWATCH" => "transactions",
        "INFO" | "CONFIG" | "COMMAND" | "TIME" | "DBSIZE" | "FLUSHDB" | "FLUSHALL" | "SAVE"
        | "BGSAVE" | "SHUTDOWN" | "MEMORY" => "server",
        "FUNCTION" => "scripting",
        _ if name.starts_with("RAFT.") => "raft",
        _ if name.starts_with('H') && name != "HELLO" => "hash",
        _ if name.starts_with('Z') || name.starts_with("BZ") => "sorted_set",
        "SET" | "SETNX" | "SETEX" | "PSETEX" | "SETRANGE" | "SETBIT" | "STRLEN" | "SUBSTR" => {
            "string"
        }
        "SORT" | "SORT_RO" | "SCAN" => "generic",
        _ if name.starts_with('S') => "set",
        _ if name.starts_with('L')
            || name.starts_with("BL")
            || name.starts_with("BR")
            || matches!(name, "RPUSH" | "RPUSHX" | "RPOP" | "RPOPLPUSH") =>
        {
            "list"
        }
        "DEL" | "UNLINK" | "EXISTS" | "TOUCH" | "TYPE" | "KEYS" | "RENAME" | "RENAMENX"
        | "COPY" | "RANDOMKEY" | "OBJECT" => "generic",
        "EXPIRE" | "PEXPIRE" | "EXPIREAT" | "PEXPIREAT" | "EXPIRETIME" | "PEXPIRETIME" | "TTL"
        | "PTTL" | "PERSIST" => "generic",
        _ if kind == Kind::Other => "server",
        _ => "string",
    }
}

/// The flags `COMMAND INFO` shows.
fn flags_of(spec: &Entry) -> Vec<&'static str> {
    let mut flags = match spec.kind {
        Kind::Read => vec!["readonly"],
        Kind::Write => vec!["write"],
        Kind::Blocking => vec!["write", "blocking"],
        Kind::Other => Vec::new(),
    };
    let name = spec.name;
    if name.starts_with("RAFT.") || matches!(name, "SAVE" | "BGSAVE" | "SHUTDOWN" | "CONFIG") {
        flags.extend(["admin", "noscript"]);
    }
    if matches!(
        name,
        "EVAL" | "EVAL_RO" | "EVALSHA" | "EVALSHA_RO" | "SCRIPT"
    ) {
        flags.push("noscript");
    }
    if super::session::BEFORE_AUTH.contains(&name) {
        flags.push("no_auth");
    }
    if matches!(keys_of(name), Keys::Counted { .. } | Keys::Sort) {
        flags.push("movablekeys");
    }
    flags
}

/// One command's `COMMAND INFO` entry.
fn info_of(spec: &Entry) -> Reply {
    let (first, last, step) = match keys_of(spec.name) {
        Keys::None | Keys::Counted { before: 0, .. } => (0, 0, 0),
        Keys::Range(f, l, s) => (f, l, s),
        Keys::Counted { .. } | Keys::Sort => (1, 1, 1),
    };
    let status = |s: &str| Reply::Simple(s.to_string());
    Reply::Array(vec![
        Reply::Bulk(Some(spec.name.to_ascii_lowercase().into_bytes())),
        Reply::Int(i64::from(spec.arity)),
        Reply::Set(flags_of(spec).into_iter().map(status).collect()),
        Reply::Int(first),
        Reply::Int(last),
        Reply::Int(step),
        Reply::Set(Vec::new()),
        Reply::Set(Vec::new()),
        Reply::Array(Vec::new()),
        Reply::Array(Vec::new()),
    ])
}

/// One command's `COMMAND DOCS` entry (its group; no summary is kept).
fn docs_of(spec: &Entry) -> (Reply, Reply) {
    let text = |s: &str| Reply::Bulk(Some(s.as_bytes().to_vec()));
    (
        text(&spec.name.to_ascii_lowercase()),
        Reply::Map(vec![
            (text("summary"), text("")),
            (text("group"), text(group_of(spec.name, spec.kind))),
        ]),
    )
}

/// The keys of the call `argv` (the name first), as `COMMAND GETKEYS` finds
/// them.
fn keys_in(table: &[Entry], argv: Args) -> Result<Vec<Vec<u8>>, Reply> {
    let spec = lookup(table, &argv[0])
        .ok_or_else(|| Reply::error(ErrorCode::Err, "Invalid command specified"))?;
    if !spec.arity_ok(argv.len()) {
        return Err(Reply::error(
            ErrorCode::Err,
            "Invalid number of arguments specified for command",
        ));
    }
    let no_keys = || Reply::error(ErrorCode::Err, "The command has no key arguments");
    let len = argv.len() as i64;
    let keys = match keys_of(spec.name) {
        Keys::None => return Err(no_keys()),
        Keys::Range(first, last, step) => {
            let last = if last < 0 {
                len + last
            } else {
                last.min(len - 1)
            };
            (first..=last)
                .step_by(step as usize)
                .filter_map(|i| argv.get(i as usize).cloned())
                .collect()
        }
        Keys::Counted { count_at, before } => {
            let count = argv
                .get(count_at)
                .and_then(|c| crate::command::parse_redis_int(c))
                .and_then(|n| usize::try_from(n).ok())
                .filter(|&n| n >= 1 && count_at + n < argv.len())
                .ok_or_else(|| {
                    Reply::error(ErrorCode::Err, "Invalid arguments specified for command")
                })?;
            let mut keys: Vec<Vec<u8>> = argv[1..=before].to_vec();
            keys.extend_from_slice(&argv[count_at + 1..=count_at + count]);
            keys
        }
        Keys::Sort => {
            let mut keys = vec![argv[1].clone()];
            let store = argv[2..]
                .windows(2)
                .rfind(|w| w[0].eq_ignore_ascii_case(b"STORE"))
                .map(|w| w[1].clone());
            keys.extend(store);
            keys
        }
    };
    if keys.is_empty() {
        return Err(no_keys());
    }
    Ok(keys)
}

/// `COMMAND [COUNT | LIST [FILTERBY PATTERN p] | INFO [name ...] | DOCS
/// [name ...] | GETKEYS command [arg ...]]`.
pub(super) fn command(table: &[Entry], a: Args) -> Reply {
    let sub = a.first().map(|s| s.to_ascii_uppercase());
    let named = |names: Args| names.iter().map(|n| lookup(table, n)).collect::<Vec<_>>();
    match (sub.as_deref(), a.get(1..).unwrap_or_default()) {
        (None, _) => Reply::Array(table.iter().map(info_of).collect()),
        (Some(b"COUNT"), []) => Reply::Int(table.len() as i64),
        (Some(b"LIST"), rest) => match list(table, rest) {
            Ok(r) => r,
            Err(e) => e,
        },
        (Some(b"INFO"), []) => Reply::Array(table.iter().map(info_of).collect()),
        (Some(b"INFO"), names) => Reply::Array(
            named(names)
                .into_iter()
                .map(|s| s.map_or(Reply::NullArray, info_of))
                .collect(),
        ),
        (Some(b"DOCS"), []) => Reply::Map(table.iter().map(docs_of).collect()),
        (Some(b"DOCS"), names) => {
            Reply::Map(named(names).into_iter().flatten().map(docs_of).collect())
        }
        (Some(b"GETKEYS"), argv) if !argv.is_empty() => match keys_in(table, argv) {
            Ok(keys) => Reply::Array(keys.into_iter().map(|k| Reply::Bulk(Some(k))).collect()),
            Err(e) => e,
        },
        (Some(b"COUNT" | b"GETKEYS"), _) => Reply::error(
            ErrorCode::Err,
            format!(
                "wrong number of arguments for 'command|{}' command",
                String::from_utf8_lossy(&a[0]).to_ascii_lowercase()
            ),
        ),
        (Some(_), _) => Reply::error(
            ErrorCode::Err,
            format!(
                "unknown subcommand '{}'. Try COMMAND HELP.",
                String::from_utf8_lossy(&a[0])
            ),
        ),
    }
}

/// `COMMAND LIST [FILTERBY PATTERN p | ACLCAT c | MODULE m]`: no command
/// belongs to an ACL category or a module here.
fn list(table: &[Entry], rest: Args) -> Result<Reply, Reply> {
    let names = |keep: &dyn Fn(&str) -> bool| {
        Reply::Array(
            table
                .iter()
                .map(|c| c.name.to_ascii_lowercase())
                .filter(|n| keep(n))
                .map(|n| Reply::Bulk(Some(n.into_bytes())))
                .collect(),
        )
    };
    match rest {
        [] => Ok(names(&|_| true)),
        [f, by, arg] if f.eq_ignore_ascii_case(b"FILTERBY") => {
            match by.to_ascii_uppercase().as_slice() {
                b"PATTERN" => Ok(names(&|n| crate::store::glob_matches(arg, n.as_bytes()))),
                b"ACLCAT" | b"MODULE" => Ok(Reply::Array(Vec::new())),
                _ => Err(Reply::error(ErrorCode::Err, "syntax error")),
            }
        }
        _ => Err(Reply::error(ErrorCode::Err, "syntax error")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<Vec<u8>> {
        words.iter().map(|w| w.as_bytes().to_vec()).collect()
    }

    fn table() -> Vec<Entry> {
        let e = |name, arity, kind| Entry { name, arity, kind };
        vec![
            e("GET", 2, Kind::Read),
            e("MSET", -3, Kind::Write),
            e("BLPOP", -3, Kind::Blocking),
            e("ZUNIONSTORE", -4, Kind::Write),
            e("LMPOP", -4, Kind::Write),
            e("SORT", -2, Kind::Write),
            e("MEMORY", -2, Kind::Read),
            e("PING", -1, Kind::Other),
            e("RAFT.SNAPSHOT", 1, Kind::Other),
            e("EVAL", -3, Kind::Write),
        ]
    }

    #[test]
    fn getkeys_finds_keys_as_redis_does() {
        let t = table();
        let keys = |w: &[&str]| keys_in(&t, &argv(w)).map_err(|_| ());
        assert_eq!(keys(&["GET", "k"]), Ok(argv(&["k"])));
        assert_eq!(keys(&["mset", "a", "1", "b", "2"]), Ok(argv(&["a", "b"])));
        assert_eq!(keys(&["BLPOP", "a", "b", "0"]), Ok(argv(&["a", "b"])));
        assert_eq!(
            keys(&["ZUNIONSTORE", "dst", "2", "x", "y", "WEIGHTS", "1", "2"]),
            Ok(argv(&["dst", "x", "y"]))
        );
        assert_eq!(keys(&["LMPOP", "1", "l", "LEFT"]), Ok(argv(&["l"])));
        let eval = ["EVAL", "return 1", "2", "a", "b", "arg"];
        assert_eq!(
            keys(&eval),
            Ok(argv(&["a", "b"])),
            "EVAL's keys follow numkeys"
        );
        assert_eq!(
            keys(&["SORT", "l", "STORE", "out"]),
            Ok(argv(&["l", "out"]))
        );
        assert_eq!(keys(&["MEMORY", "USAGE", "k"]), Ok(argv(&["k"])));
        assert!(keys(&["PING"]).is_err());
        assert!(keys(&["NOPE", "x"]).is_err());
        assert!(keys(&["GET"]).is_err(), "arity");
    }

    #[test]
    fn every_command_has_an_entry_and_writes_are_flagged() {
        let t = table();
        for spec in &t {
            let Reply::Array(entry) = info_of(spec) else {
                panic!("an array for {}", spec.name);
            };
            assert_eq!(entry.len(), 10, "{}", spec.name);
            let Reply::Set(flags) = &entry[2] else {
                panic!("flags are a set");
            };
            let writes = flags.contains(&Reply::Simple("write".into()));
            assert_eq!(
                writes,
                matches!(spec.kind, Kind::Write | Kind::Blocking),
                "{}",
                spec.name
            );
        }
        assert_eq!(flags_of(&t[8]), ["admin", "noscript"]);
        assert_eq!(flags_of(&t[2]), ["write", "blocking"]);
        assert_eq!(flags_of(&t[4]), ["write", "movablekeys"]);
        assert_eq!(flags_of(&t[9]), ["write", "noscript", "movablekeys"]);
        let get = lookup(&t, b"get").expect("GET");
        assert_eq!(
            docs_of(get).1,
            Reply::Map(vec![
                (
                    Reply::Bulk(Some(b"summary".to_vec())),
                    Reply::Bulk(Some(Vec::new()))
                ),
                (
                    Reply::Bulk(Some(b"group".to_vec())),
                    Reply::Bulk(Some(b"string".to_vec()))
                ),
            ])
        );
    }
}
