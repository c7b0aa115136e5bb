//! The command registry: every fact about every command in one place.
//!
//! A command's metadata (arity, flags, key specs, ACL categories, group, the
//! version it appeared in, docs) comes from the command tables in
//! `commands/` ([`metadata`]); its handler and how the store treats it come
//! from the family that registers it (a [`Registration`] in `store/*.rs` and
//! `commands/*.rs`). [`registry`] joins them once into one hash map. Every
//! part of the store that asks something of a command asks its entry:
//! `COMMAND` and its subcommands, the `NOAUTH` gate (`no_auth`), `MULTI`
//! (`no_multi`, [`InMulti`]), what scripts may call (`noscript`), what a busy
//! node answers (`allow_busy`), blocking (`blocking`), the keys of a call
//! ([`Command::key_positions`]), the order on a connection ([`Ordering`]),
//! and the apply of a logged call ([`crate::store::KvStore::apply_call`]).

mod command;
pub mod flags;
mod introspect;
pub(crate) mod keys;
pub(crate) mod metadata;
pub mod plan;
mod tree;

use crate::errors::CommandError;
use crate::family::Registration;
pub use crate::family::{Args, InMulti, Ordering};
pub use command::Command;
use metadata::Metadata;
use std::collections::HashMap;
use std::sync::LazyLock;

/// Every command the store serves.
pub struct Registry {
    /// By lower-case name.
    by_name: HashMap<String, Command>,
    /// Every command and subcommand's full name, by [`Command::index`].
    names: Vec<String>,
}

/// The families' registrations.
fn registrations() -> impl Iterator<Item = &'static Registration> {
    [
        crate::store::strings::COMMANDS,
        crate::store::keyspace::COMMANDS,
        crate::store::keys::COMMANDS,
        crate::store::expire::COMMANDS,
        crate::store::hash::COMMANDS,
        crate::store::list::COMMANDS,
        crate::store::set::COMMANDS,
        crate::store::zset::COMMANDS,
        crate::store::zset_ops::COMMANDS,
        crate::store::blocking::COMMANDS,
        crate::store::sort::COMMANDS,
        crate::store::lcs::COMMANDS,
        crate::store::dump::COMMANDS,
        crate::store::ranges::COMMANDS,
        crate::commands::connection::COMMANDS,
        crate::commands::transactions::COMMANDS,
        crate::commands::server::COMMANDS,
        crate::commands::scripting::COMMANDS,
        crate::commands::cluster::COMMANDS,
        crate::commands::pubsub::COMMANDS,
        introspect::COMMANDS,
    ]
    .into_iter()
    .flatten()
}

impl Registry {
    /// Joins the tables' metadata with the families' registrations. Panics
    /// if a registration names a command no table has, or one twice: the
    /// registry is built from the code and tables of this binary, and a
    /// unit test builds it.
    fn build() -> Registry {
        let mut meta: HashMap<String, Metadata> = metadata::all()
            .into_iter()
            .map(|m| (m.name.clone(), m))
            .collect();
        let mut by_name: HashMap<String, Command> = HashMap::new();
        let mut seen = std::collections::HashSet::new();
        for r in registrations() {
            assert!(seen.insert(r.name()), "{} is registered twice", r.name());
            match r.name().split_once('|') {
                None => {
                    let m = meta.remove(r.name()).unwrap_or_else(|| {
                        panic!("{} is registered but no command table has it", r.name())
                    });
                    let mut c = Command::new(m, Some(r));
                    if let Some(mut container) = by_name.remove(r.name()) {
                        std::mem::swap(c.subcommands_mut(), container.subcommands_mut());
                    }
                    by_name.insert(r.name().to_string(), c);
                }
                Some((container, sub)) => {
                    if !by_name.contains_key(container) {
                        let m = meta.remove(container).unwrap_or_else(|| {
                            panic!("{} is registered but no table has {container}", r.name())
                        });
                        by_name.insert(container.to_string(), Command::new(m, None));
                    }
                    let parent = by_name.get_mut(container).expect("inserted above");
                    // A subcommand of Redis's container, or one of this
                    // store's own table (named `container|sub`).
                    let m = parent
                        .meta()
                        .subcommands
                        .iter()
                        .find(|s| s.name == r.name())
                        .cloned()
                        .or_else(|| meta.remove(r.name()))
                        .unwrap_or_else(|| panic!("no table has the subcommand {}", r.name()));
                    parent
                        .subcommands_mut()
                        .insert(sub.to_string(), Command::new(m, Some(r)));
                }
            }
        }
        let mut registry = Registry {
            by_name,
            names: Vec::new(),
        };
        registry.number();
        registry
    }

    /// Gives every command and subcommand its [`Command::index`].
    fn number(&mut self) {
        let mut names: Vec<String> = self
            .by_name
            .values()
            .flat_map(|c| {
                std::iter::once(c.name().to_string())
                    .chain(c.subcommands().values().map(|s| s.name().to_string()))
            })
            .collect();
        names.sort();
        let index_of = |n: &str| names.binary_search_by(|x| x.as_str().cmp(n)).unwrap_or(0);
        for c in self.by_name.values_mut() {
            c.set_index(index_of(c.name()));
            for s in c.subcommands_mut().values_mut() {
                s.set_index(index_of(s.name()));
            }
        }
        self.names = names;
    }

    /// The top-level command named `name` (any case).
    pub fn get(&self, name: &[u8]) -> Option<&Command> {
        let mut buf = [0u8; 32];
        let lower = buf.get_mut(..name.len())?;
        lower.copy_from_slice(name);
        lower.make_ascii_lowercase();
        self.by_name.get(std::str::from_utf8(lower).ok()?)
    }

    /// The command (or subcommand) that serves `argv` (the name first), or
    /// why there is none: an unknown name or subcommand, or a container
    /// called without a subcommand it needs. The arity is the caller's to
    /// check ([`Command::arity_fits`]).
    pub fn lookup(&self, argv: &[Vec<u8>]) -> Result<&Command, CommandError> {
        let name = argv.first().map_or(&[][..], Vec::as_slice);
        let c = self
            .get(name)
            .ok_or_else(|| CommandError::unknown_command(argv))?;
        c.resolve(argv)
    }

    /// As [`Registry::lookup`], for a call logged in an entry of state
    /// machine `version`: a command that version did not know is unknown,
    /// as it was to the binaries that wrote such entries.
    pub fn lookup_logged(&self, argv: &[Vec<u8>], version: u32) -> Result<&Command, CommandError> {
        let c = self.lookup(argv)?;
        if c.since_version() > version {
            return Err(CommandError::unknown_command(argv));
        }
        Ok(c)
    }

    /// Every top-level command, by name.
    pub fn commands(&self) -> impl Iterator<Item = &Command> {
        let mut all: Vec<&Command> = self.by_name.values().collect();
        all.sort_by(|a, b| a.name().cmp(b.name()));
        all.into_iter()
    }

    /// Every command's and subcommand's full name, by [`Command::index`].
    pub fn all(&self) -> &[String] {
        &self.names
    }
}

/// The registry of this binary, built on first use.
pub fn registry() -> &'static Registry {
    static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::build);
    &REGISTRY
}

#[cfg(test)]
mod tests;
