//! What the command tables in `commands/` say of each command: Redis
//! 7.0.15's own (`redis-7.0.15.json`, written from a running Redis by
//! `scripts/redis-command-table.py`) and this store's (`raft-kv.json`, the
//! same shape). `COMMAND` answers from these, so it answers what Redis
//! answers; the flags decide how the store treats a command.

use super::flags::Flags;
use super::keys::KeySpec;
use super::tree::{TableError, Tree, malformed};
use serde_json::Value;

/// Redis 7.0.15's command table.
const REDIS_TABLE: &str = include_str!("../../commands/redis-7.0.15.json");
/// This store's own commands, in the same shape.
const OWN_TABLE: &str = include_str!("../../commands/raft-kv.json");

/// One command's (or subcommand's) line of a table.
#[derive(Clone, Debug)]
pub(crate) struct Metadata {
    /// Lower case; a subcommand as `container|sub`.
    pub(crate) name: String,
    /// Redis's arity: `n` exactly n words (the name, and the subcommand, included), `-n` at least n.
    pub(crate) arity: i32,
    /// The flags' names, in Redis's order.
    pub(crate) flag_names: Vec<String>,
    /// The flags.
    pub(crate) flags: Flags,
    /// Redis's legacy key positions (first, last, step).
    pub(crate) legacy_keys: [i64; 3],
    /// ACL categories (`@read`, ...).
    pub(crate) acl_categories: Vec<String>,
    /// Tips (`nondeterministic_output`, ...).
    pub(crate) tips: Vec<String>,
    /// The key specs as the table holds them (what `COMMAND INFO` shows).
    pub(crate) key_spec_tree: Tree,
    /// The key specs, read.
    pub(crate) key_specs: Vec<KeySpec>,
    /// `COMMAND DOCS`'s fields but the subcommands.
    pub(crate) docs: Tree,
    /// The subcommands.
    pub(crate) subcommands: Vec<Metadata>,
}

impl Metadata {
    fn of(v: &Value) -> Result<Metadata, TableError> {
        let name = v
            .get("name")
            .ok_or(TableError::MissingField("name"))?
            .as_str()
            .ok_or(malformed("name", "a string"))?;
        Metadata::of_command(name, v).map_err(|e| TableError::In {
            command: name.to_string(),
            source: Box::new(e),
        })
    }

    fn of_command(name: &str, v: &Value) -> Result<Metadata, TableError> {
        let field = |name: &'static str| v.get(name).ok_or(TableError::MissingField(name));
        let strings = |name: &'static str| -> Result<Vec<String>, TableError> {
            field(name)?
                .as_array()
                .ok_or(malformed(name, "a list"))?
                .iter()
                .map(|s| {
                    s.as_str()
                        .map(str::to_string)
                        .ok_or(malformed(name, "a list of strings"))
                })
                .collect()
        };
        let keys: Vec<i64> = field("keys")?
            .as_array()
            .map(|k| k.iter().filter_map(Value::as_i64).collect())
            .unwrap_or_default();
        let legacy_keys =
            <[i64; 3]>::try_from(keys).map_err(|_| malformed("keys", "three numbers"))?;
        let flag_names = strings("flags")?;
        let flags = flag_names
            .iter()
            .map(|f| Flags::of_name(f).ok_or_else(|| TableError::UnknownFlag(f.clone())))
            .collect::<Result<Flags, _>>()?;
        let key_spec_tree = Tree::of(field("key_specs")?)?;
        let key_specs = key_spec_tree
            .items()
            .iter()
            .map(KeySpec::of)
            .collect::<Result<_, _>>()?;
        let subcommands = field("subcommands")?
            .as_array()
            .ok_or(malformed("subcommands", "a list"))?
            .iter()
            .map(Metadata::of)
            .collect::<Result<_, _>>()?;
        Ok(Metadata {
            name: name.to_string(),
            arity: field("arity")?
                .as_i64()
                .and_then(|a| i32::try_from(a).ok())
                .ok_or(malformed("arity", "an i32"))?,
            flag_names,
            flags,
            legacy_keys,
            acl_categories: strings("acl")?,
            tips: strings("tips")?,
            key_spec_tree,
            key_specs,
            docs: Tree::of(field("docs")?)?,
            subcommands,
        })
    }

    /// The docs' `group` (`string`, `server`, ...).
    pub(crate) fn group(&self) -> &str {
        self.docs.get("group").and_then(Tree::text).unwrap_or("")
    }

    /// The docs' `since`: the version the command appeared in.
    pub(crate) fn since(&self) -> &str {
        self.docs.get("since").and_then(Tree::text).unwrap_or("")
    }

    /// The docs' one-line `summary`.
    pub(crate) fn summary(&self) -> &str {
        self.docs.get("summary").and_then(Tree::text).unwrap_or("")
    }
}

/// Every line of one table (the first line says where it came from).
fn lines(table: &str, what: &str) -> Vec<Metadata> {
    let all: Vec<Value> = serde_json::from_str(table)
        .unwrap_or_else(|e| panic!("the {what} command table is JSON: {e}"));
    all.iter()
        .skip(1)
        .map(|v| Metadata::of(v).unwrap_or_else(|e| panic!("the {what} command table: {e}")))
        .collect()
}

/// Both tables' lines: Redis's, then this store's.
pub(crate) fn all() -> Vec<Metadata> {
    let mut all = lines(REDIS_TABLE, "Redis");
    all.extend(lines(OWN_TABLE, "raft-kv"));
    all
}
