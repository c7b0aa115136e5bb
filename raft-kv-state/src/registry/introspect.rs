//! `COMMAND` and its subcommands, answered from the registry: each
//! command's metadata as Redis 7.0.15's tables give it, for the commands
//! (and subcommands) this store serves.

use super::plan::{CallContext, Plan};
use super::{Command, Registry, registry};
use crate::errors::CommandError;
use crate::family::{Args, Registration, planned};
use crate::reply::Reply;

/// `COMMAND` and its subcommands.
pub(super) static COMMANDS: &[Registration] = &[
    planned("command", |_, _| reply(all_infos(registry()))),
    planned("command|count", |_, _| {
        reply(Reply::Int(registry().commands().count() as i64))
    }),
    planned("command|list", list),
    planned("command|info", |a, _| reply(infos(registry(), a))),
    planned("command|docs", |a, _| reply(docs(registry(), a))),
    planned("command|getkeys", |a, _| {
        let keys = keys_of(registry(), a)?;
        reply(Reply::Array(
            keys.into_iter().map(|(k, _)| bulk(k)).collect(),
        ))
    }),
    planned("command|getkeysandflags", |a, _| {
        let keys = keys_of(registry(), a)?;
        let with_flags = keys.into_iter().map(|(k, flags)| {
            let flags = flags.iter().map(|f| Reply::Simple(f.clone())).collect();
            Reply::Array(vec![bulk(k), Reply::Set(flags)])
        });
        reply(Reply::Array(with_flags.collect()))
    }),
    planned("command|help", |_, _| reply(help(registry(), "command"))),
    // Every container's HELP lists what the registry serves of it.
    planned("client|help", |_, _| reply(help(registry(), "client"))),
    planned("config|help", |_, _| reply(help(registry(), "config"))),
    planned("script|help", |_, _| reply(help(registry(), "script"))).refused_in_multi(),
];

fn reply(r: Reply) -> Result<Plan, CommandError> {
    Ok(Plan::Reply(r))
}

fn bulk(b: &[u8]) -> Reply {
    Reply::Bulk(Some(b.to_vec()))
}

fn text(s: &str) -> Reply {
    Reply::Bulk(Some(s.as_bytes().to_vec()))
}

/// Every command's `COMMAND INFO` entry.
fn all_infos(r: &Registry) -> Reply {
    Reply::Array(r.commands().map(info_of).collect())
}

/// One command's `COMMAND INFO` entry, its served subcommands included.
pub(crate) fn info_of(c: &Command) -> Reply {
    let m = &c.meta();
    let simple =
        |items: &[String]| Reply::Set(items.iter().map(|s| Reply::Simple(s.clone())).collect());
    let mut subs: Vec<&Command> = c.subcommands().values().collect();
    subs.sort_by(|a, b| a.name().cmp(b.name()));
    Reply::Array(vec![
        text(&m.name),
        Reply::Int(i64::from(m.arity)),
        simple(&m.flag_names),
        Reply::Int(m.legacy_keys[0]),
        Reply::Int(m.legacy_keys[1]),
        Reply::Int(m.legacy_keys[2]),
        simple(&m.acl_categories),
        Reply::Set(m.tips.iter().map(|t| text(t)).collect()),
        m.key_spec_tree.to_reply(),
        Reply::Array(subs.into_iter().map(info_of).collect()),
    ])
}

/// `COMMAND INFO [name ...]`: nil for a name no command has.
fn infos(r: &Registry, names: Args) -> Reply {
    if names.is_empty() {
        return all_infos(r);
    }
    Reply::Array(
        names
            .iter()
            .map(|n| r.get(n).map_or(Reply::NullArray, info_of))
            .collect(),
    )
}

/// One command's `COMMAND DOCS` fields, its served subcommands included.
fn docs_of(c: &Command) -> Reply {
    let mut fields = match c.meta().docs.to_reply() {
        Reply::Map(fields) => fields,
        _ => Vec::new(),
    };
    if !c.subcommands().is_empty() {
        let mut subs: Vec<&Command> = c.subcommands().values().collect();
        subs.sort_by(|a, b| a.name().cmp(b.name()));
        let subs = subs.into_iter().map(|s| (text(s.name()), docs_of(s)));
        fields.push((text("subcommands"), Reply::Map(subs.collect())));
    }
    Reply::Map(fields)
}

/// `COMMAND DOCS [name ...]`: a name no command has is left out.
fn docs(r: &Registry, names: Args) -> Reply {
    let named: Vec<&Command> = match names {
        [] => r.commands().collect(),
        _ => names.iter().filter_map(|n| r.get(n)).collect(),
    };
    Reply::Map(
        named
            .into_iter()
            .map(|c| (text(c.name()), docs_of(c)))
            .collect(),
    )
}

/// `COMMAND LIST [FILTERBY MODULE m | ACLCAT c | PATTERN p]`: every
/// command's and subcommand's name.
fn list(a: Args, _: &CallContext) -> Result<Plan, CommandError> {
    let r = registry();
    let everything = r
        .commands()
        .flat_map(|c| std::iter::once(c).chain(c.subcommands().values()));
    let keep: Box<dyn Fn(&Command) -> bool> = match a {
        [] => Box::new(|_| true),
        [f, by, arg] if f.eq_ignore_ascii_case(b"FILTERBY") => {
            match by.to_ascii_uppercase().as_slice() {
                b"MODULE" => Box::new(|_| false),
                b"ACLCAT" => {
                    let cat = format!("@{}", String::from_utf8_lossy(arg).to_ascii_lowercase());
                    Box::new(move |c| c.acl_categories().contains(&cat))
                }
                b"PATTERN" => {
                    let pattern = arg.to_ascii_lowercase();
                    Box::new(move |c| crate::store::glob_matches(&pattern, c.name().as_bytes()))
                }
                _ => return Err(CommandError::Syntax),
            }
        }
        _ => return Err(CommandError::Syntax),
    };
    let names = everything.filter(|c| keep(c)).map(|c| text(c.name()));
    reply(Reply::Array(names.collect()))
}

/// A key of a call, with its key spec's flags.
type FlaggedKey<'a> = (&'a [u8], Vec<String>);

/// The keys (with their key spec's flags) of the call `argv`, as
/// `COMMAND GETKEYS` finds them.
fn keys_of<'a>(r: &Registry, argv: &'a [Vec<u8>]) -> Result<Vec<FlaggedKey<'a>>, CommandError> {
    let c = r
        .lookup(argv)
        .map_err(|_| CommandError::InvalidCommandSpecified)?;
    if !c.takes_keys() {
        return Err(CommandError::NoKeyArguments);
    }
    if !c.arity_fits(argv.len()) {
        return Err(CommandError::InvalidArgumentCount);
    }
    match c.keys_with_flags(argv) {
        Some(found) if !found.is_empty() => Ok(found),
        _ if c.has(super::flags::Flags::NO_MANDATORY_KEYS) => Ok(Vec::new()),
        _ => Err(CommandError::InvalidArguments),
    }
}

/// A container's `HELP`: its served subcommands and their summaries.
pub(crate) fn help(r: &Registry, container: &str) -> Reply {
    let Some(c) = r.get(container.as_bytes()) else {
        return Reply::Array(Vec::new());
    };
    let upper = container.to_ascii_uppercase();
    let mut lines = vec![format!(
        "{upper} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    )];
    let mut subs: Vec<&Command> = c.subcommands().values().collect();
    subs.sort_by(|a, b| a.name().cmp(b.name()));
    for s in subs {
        let sub = s.name().split_once('|').map_or("", |(_, s)| s);
        if sub == "help" {
            continue;
        }
        lines.push(sub.to_ascii_uppercase());
        lines.push(format!("    {}", s.meta().summary()));
    }
    lines.push("HELP".into());
    lines.push("    Print this help.".into());
    Reply::Array(lines.into_iter().map(Reply::Simple).collect())
}
