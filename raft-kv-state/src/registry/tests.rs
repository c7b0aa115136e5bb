//! The registry's tests: it builds, it answers `COMMAND INFO` as Redis
//! 7.0.15 does, and its flags decide what they should.

use super::flags::Flags;
use super::metadata;
use super::plan::{CallContext, Plan};
use super::tree::Tree;
use super::*;
use crate::family::Handler;
use crate::limits::Limits;
use crate::reply::Reply;

fn argv(words: &[&str]) -> Vec<Vec<u8>> {
    words.iter().map(|w| w.as_bytes().to_vec()).collect()
}

#[test]
fn the_registry_builds_and_finds_every_command_in_any_case() {
    let r = registry();
    assert!(r.commands().count() > 150, "the families are in");
    for c in r.commands() {
        assert_eq!(c.name(), c.name().to_ascii_lowercase());
        let upper = c.name().to_ascii_uppercase();
        assert!(
            r.get(upper.as_bytes())
                .is_some_and(|f| f.name() == c.name())
        );
    }
    assert!(r.get(b"NOPE").is_none());
    assert_eq!(
        r.all().len(),
        r.commands()
            .map(|c| 1 + c.subcommands().len())
            .sum::<usize>(),
        "every command and subcommand has an index"
    );
}

#[test]
fn lookup_resolves_subcommands_and_says_why_it_cannot() {
    let r = registry();
    let get = r.lookup(&argv(&["config", "GET", "x"])).map(Command::name);
    assert_eq!(get, Ok("config|get"));
    assert_eq!(
        r.lookup(&argv(&["CONFIG", "NOPE"])).err(),
        Some(CommandError::UnknownSubcommand {
            sub: "NOPE".into(),
            container: "CONFIG".into()
        })
    );
    assert_eq!(
        r.lookup(&argv(&["config"])).err(),
        Some(CommandError::arity("config"))
    );
    let bare = r.lookup(&argv(&["COMMAND"])).map(Command::name);
    assert_eq!(bare, Ok("command"), "COMMAND answers on its own too");
    assert!(matches!(
        r.lookup(&argv(&["FOO", "a"])),
        Err(CommandError::UnknownCommand { .. })
    ));
}

/// The line of a command in Redis 7.0.15's table, with only the
/// subcommands this store serves, as a reply: what `COMMAND INFO` answers.
fn redis_info(line: &metadata::Metadata, served: &Command) -> Reply {
    let simple =
        |items: &[String]| Reply::Set(items.iter().map(|s| Reply::Simple(s.clone())).collect());
    let mut subs: Vec<&metadata::Metadata> = line
        .subcommands
        .iter()
        .filter(|s| served.subcommands().values().any(|c| c.name() == s.name))
        .collect();
    subs.sort_by(|a, b| a.name.cmp(&b.name));
    let subs = subs
        .into_iter()
        .map(|s| {
            let served = served.subcommands().values().find(|c| c.name() == s.name);
            redis_info(s, served.expect("filtered above"))
        })
        .collect();
    Reply::Array(vec![
        Reply::Bulk(Some(line.name.as_bytes().to_vec())),
        Reply::Int(i64::from(line.arity)),
        simple(&line.flag_names),
        Reply::Int(line.legacy_keys[0]),
        Reply::Int(line.legacy_keys[1]),
        Reply::Int(line.legacy_keys[2]),
        simple(&line.acl_categories),
        Reply::Set(
            line.tips
                .iter()
                .map(|t| Reply::Bulk(Some(t.as_bytes().to_vec())))
                .collect(),
        ),
        line.key_spec_tree.to_reply(),
        Reply::Array(subs),
    ])
}

#[test]
fn command_info_of_every_served_command_is_what_redis_7_0_15_answers() {
    let redis: std::collections::HashMap<String, metadata::Metadata> = metadata::all()
        .into_iter()
        .map(|m| (m.name.clone(), m))
        .collect();
    let r = registry();
    let mut compared = 0;
    for c in r
        .commands()
        .filter(|c| !c.name().starts_with("raft.") && c.name() != "cas")
    {
        let line = redis
            .get(c.name())
            .expect("every Redis command the store serves is in the table");
        let mut ours = introspect::info_of(c);
        // Subcommands of Redis 7.2 this store serves too (CLIENT SETINFO)
        // come from its own table; the rest must be Redis 7.0.15's.
        if let Reply::Array(fields) = &mut ours
            && let Some(Reply::Array(subs)) = fields.last_mut()
        {
            subs.retain(|s| {
                let Reply::Array(f) = s else { return true };
                line.subcommands
                    .iter()
                    .any(|m| f.first() == Some(&Reply::Bulk(Some(m.name.as_bytes().to_vec()))))
            });
        }
        assert_eq!(ours, redis_info(line, c), "COMMAND INFO {}", c.name());
        compared += 1;
    }
    assert!(compared > 150);
}

#[test]
fn the_tables_hold_only_known_flags_and_readable_key_specs() {
    // Building the metadata reads every flag and key spec; a flag or a
    // spec shape this store does not know fails here.
    let all = metadata::all();
    assert!(all.len() >= 240, "Redis 7.0.15 has 240 commands");
    let get = all.iter().find(|m| m.name == "get").expect("GET");
    assert!(get.flags.contains(Flags::READONLY) && get.flags.contains(Flags::FAST));
    assert_eq!(get.group(), "string");
    assert_eq!(get.since(), "1.0.0");
    assert!(matches!(get.docs.get("summary"), Some(Tree::Bulk(_))));
}

#[test]
fn the_flags_decide_scripts_auth_busy_and_multi() {
    let r = registry();
    let c = |name: &str| r.lookup(&argv(&[name])).expect(name);
    for words in [
        &["exec"][..],
        &["watch"],
        &["multi"],
        &["blpop"],
        &["eval"],
        &["client", "id"],
        &["config", "get"],
        &["script", "load"],
    ] {
        let c = r.lookup(&argv(words)).expect(words[0]);
        assert!(
            c.has(Flags::NOSCRIPT),
            "{words:?} is not for scripts, as in Redis 7.0"
        );
    }
    for name in ["time", "info", "get", "ping"] {
        assert!(
            !c(name).has(Flags::NOSCRIPT),
            "{name} is callable from scripts"
        );
    }
    for name in ["auth", "hello", "quit"] {
        assert!(c(name).has(Flags::NO_AUTH), "{name} before AUTH");
    }
    assert!(
        !c("ping").has(Flags::NO_AUTH),
        "Redis 7 wants AUTH before PING"
    );
    for name in [
        "auth", "multi", "discard", "watch", "unwatch", "quit", "shutdown",
    ] {
        assert!(c(name).has(Flags::ALLOW_BUSY), "{name} while busy");
    }
    let kill = r.lookup(&argv(&["script", "kill"])).expect("SCRIPT KILL");
    assert!(kill.has(Flags::ALLOW_BUSY));
    assert_eq!(c("shutdown").in_multi(), InMulti::Refused, "no_multi");
    assert_eq!(c("exec").in_multi(), InMulti::RunsNow);
    assert_eq!(c("get").in_multi(), InMulti::Queued);
    assert_eq!(c("eval").in_multi(), InMulti::Refused);
}

#[test]
fn the_order_on_a_connection_comes_from_the_handler() {
    let r = registry();
    let order = |name: &str| r.lookup(&argv(&[name])).expect(name).ordering();
    assert_eq!(order("get"), Ordering::Read);
    assert_eq!(order("set"), Ordering::Write);
    assert_eq!(order("blpop"), Ordering::Blocking);
    assert_eq!(order("ping"), Ordering::Other);
    assert_eq!(order("exec"), Ordering::Write);
    assert_eq!(order("watch"), Ordering::Read);
    assert_eq!(order("evalsha"), Ordering::Write);
}

#[test]
fn keys_are_found_as_redis_finds_them() {
    let r = registry();
    let keys = |words: &[&str]| {
        let a = argv(words);
        let c = r.lookup(&a).expect(words[0]);
        c.key_positions(&a).map(|p| {
            p.into_iter()
                .map(|i| words[i].to_string())
                .collect::<Vec<_>>()
        })
    };
    let owned = |ws: &[&str]| Some(ws.iter().map(|w| w.to_string()).collect::<Vec<_>>());
    assert_eq!(keys(&["GET", "k"]), owned(&["k"]));
    assert_eq!(keys(&["mset", "a", "1", "b", "2"]), owned(&["a", "b"]));
    assert_eq!(keys(&["BLPOP", "a", "b", "0"]), owned(&["a", "b"]));
    assert_eq!(
        keys(&["ZUNIONSTORE", "dst", "2", "x", "y", "WEIGHTS", "1", "2"]),
        owned(&["dst", "x", "y"])
    );
    assert_eq!(keys(&["LMPOP", "1", "l", "LEFT"]), owned(&["l"]));
    assert_eq!(
        keys(&["EVAL", "return 1", "2", "a", "b", "arg"]),
        owned(&["a", "b"])
    );
    assert_eq!(
        keys(&["SORT", "l", "LIMIT", "0", "1", "STORE", "out"]),
        owned(&["l", "out"])
    );
    assert_eq!(keys(&["MEMORY", "USAGE", "k"]), owned(&["k"]));
    assert_eq!(keys(&["WATCH", "a", "b"]), owned(&["a", "b"]));
    assert_eq!(keys(&["PING"]), owned(&[]));
    assert_eq!(
        keys(&["LMPOP", "5", "l", "LEFT"]),
        None,
        "numkeys past the words"
    );
}

#[test]
fn command_getkeys_answers_as_redis_does() {
    let call = |words: &[&str]| {
        let a = argv(words);
        let c = registry().lookup(&a).expect("COMMAND");
        let limits = Limits::default();
        c.plan(
            &a,
            &CallContext {
                limits: &limits,
                may_block: false,
            },
        )
    };
    let bulk = |s: &str| Reply::Bulk(Some(s.as_bytes().to_vec()));
    assert_eq!(
        call(&["COMMAND", "GETKEYS", "SET", "k", "v"]),
        Ok(Plan::Reply(Reply::Array(vec![bulk("k")])))
    );
    assert_eq!(
        call(&["COMMAND", "GETKEYS", "EVAL", "x", "0"]),
        Ok(Plan::Reply(Reply::Array(vec![]))),
        "no_mandatory_keys"
    );
    assert_eq!(
        call(&["COMMAND", "GETKEYS", "NOPE", "x"]),
        Err(CommandError::InvalidCommandSpecified)
    );
    assert_eq!(
        call(&["COMMAND", "GETKEYS", "PING", "x"]),
        Err(CommandError::NoKeyArguments)
    );
    assert_eq!(
        call(&["COMMAND", "GETKEYS", "LMPOP", "0", "LEFT"]),
        Err(CommandError::InvalidArgumentCount)
    );
    let flags = call(&[
        "COMMAND",
        "GETKEYSANDFLAGS",
        "LMOVE",
        "a",
        "b",
        "LEFT",
        "RIGHT",
    ]);
    let set = |fs: &[&str]| Reply::Set(fs.iter().map(|f| Reply::Simple((*f).into())).collect());
    assert_eq!(
        flags,
        Ok(Plan::Reply(Reply::Array(vec![
            Reply::Array(vec![bulk("a"), set(&["RW", "access", "delete"])]),
            Reply::Array(vec![bulk("b"), set(&["RW", "insert"])]),
        ])))
    );
}

#[test]
fn only_random_commands_draw_a_seed() {
    let r = registry();
    let random: Vec<&str> = r
        .commands()
        .filter(|c| c.is_random())
        .map(Command::name)
        .collect();
    assert_eq!(
        random,
        [
            "hrandfield",
            "randomkey",
            "spop",
            "srandmember",
            "zrandmember"
        ]
    );
}

#[test]
fn every_plan_a_script_may_reach_is_one_a_script_can_carry_out() {
    // A script refuses nothing the registry lets it call: every command
    // without `noscript` plans into a write, a read, a reply, TIME, INFO,
    // READONLY or PING.
    let limits = Limits::default();
    let ctx = CallContext {
        limits: &limits,
        may_block: false,
    };
    let probes: &[&[&str]] = &[
        &["PING"],
        &["ECHO", "x"],
        &["SELECT", "0"],
        &["TIME"],
        &["INFO"],
        &["COMMAND"],
        &["COMMAND", "COUNT"],
        &["COMMAND", "LIST"],
        &["COMMAND", "INFO", "get"],
        &["COMMAND", "DOCS", "get"],
        &["COMMAND", "GETKEYS", "GET", "k"],
        &["COMMAND", "GETKEYSANDFLAGS", "GET", "k"],
        &["COMMAND", "HELP"],
        &["CLIENT", "HELP"],
        &["CONFIG", "HELP"],
        &["SCRIPT", "HELP"],
        &["READONLY"],
        &["READWRITE"],
    ];
    for words in probes {
        let a = argv(words);
        let c = registry().lookup(&a).expect(words[0]);
        assert!(!c.has(Flags::NOSCRIPT), "{}", words[0]);
        let plan = c.plan(&a, &ctx).expect("plans");
        let carried = matches!(
            plan,
            Plan::Write
                | Plan::Read
                | Plan::Reply(_)
                | Plan::Node(plan::NodeOp::Time | plan::NodeOp::Info(_))
                | Plan::Connection(plan::ConnectionOp::ReadOnly(_) | plan::ConnectionOp::Ping(_))
        );
        assert!(
            carried,
            "{words:?} plans into something a script cannot run"
        );
    }
    let planned_without_noscript: Vec<&str> = registry()
        .commands()
        .flat_map(|c| std::iter::once(c).chain(c.subcommands().values()))
        .filter(|c| matches!(c.handler(), Some(Handler::Plan(_))) && c.allowed_in_scripts())
        .map(Command::name)
        .collect();
    for name in &planned_without_noscript {
        let probed = probes
            .iter()
            .any(|w| registry().lookup(&argv(w)).is_ok_and(|c| c.name() == *name));
        assert!(probed, "{name} may be called from a script: probe it above");
    }
}

#[test]
fn monitor_shows_passwords_as_redacted_and_skips_administration() {
    let shown = |ws: &[&str]| -> Vec<String> {
        let a = argv(ws);
        let c = registry().lookup(&a).expect("known");
        c.monitor_words(&a)
            .iter()
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect()
    };
    assert_eq!(shown(&["AUTH", "pw"]), ["AUTH", "(redacted)"]);
    assert_eq!(
        shown(&["AUTH", "u", "pw"]),
        ["AUTH", "(redacted)", "(redacted)"]
    );
    assert_eq!(
        shown(&["HELLO", "3", "AUTH", "u", "pw", "SETNAME", "n"]),
        [
            "HELLO",
            "3",
            "AUTH",
            "(redacted)",
            "(redacted)",
            "SETNAME",
            "n"
        ]
    );
    assert_eq!(shown(&["SET", "k", "v"]), ["SET", "k", "v"]);
    let monitored = |w: &str| {
        registry()
            .lookup(&argv(&[w]))
            .expect("known")
            .is_monitored()
    };
    assert!(monitored("get") && monitored("exec") && monitored("multi"));
    assert!(!monitored("monitor") && !monitored("shutdown"));
}
