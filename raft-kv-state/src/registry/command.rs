//! One entry of the registry: a command's metadata joined with its
//! handler, and every question the rest of the store asks of a command
//! (arity, flags, keys, limits, how it is planned and applied).

use super::flags::Flags;
use super::keys::{self, KeyFinder};
use super::metadata::Metadata;
use super::plan::{CallContext, Plan};
use crate::errors::CommandError;
use crate::family::{Handler, InMulti, Ordering, Registration};
use crate::limits::Limits;
use crate::reply::Reply;
use crate::store::KvStore;
use raft_core::SplitMix64;
use std::collections::HashMap;

/// One command of the registry (or one subcommand of a container).
pub struct Command {
    meta: Metadata,
    /// `None`: a container that answers only through its subcommands.
    handler: Option<Handler>,
    ordering: Ordering,
    in_multi: InMulti,
    keys: KeyFinder,
    random: bool,
    before_auth: bool,
    in_subscribed_mode: bool,
    since_version: u32,
    node_local: bool,
    secrets: Option<crate::family::SecretsFn>,
    /// By lower-case name (`get` of `config|get`).
    subcommands: HashMap<String, Command>,
    /// Its place in [`Registry::all`], for counters kept per command.
    index: usize,
}

impl Command {
    pub(super) fn new(meta: Metadata, r: Option<&Registration>) -> Command {
        let handler = r.map(Registration::handler);
        let derived = match handler {
            Some(Handler::Write(..)) => Ordering::Write,
            Some(Handler::Blocking(..)) => Ordering::Blocking,
            Some(Handler::Read(_)) => Ordering::Read,
            Some(Handler::Plan(_)) | None => Ordering::Other,
        };
        let in_multi = match r.and_then(Registration::in_multi) {
            Some(m) => m,
            None if meta.flags.contains(Flags::NO_MULTI) => InMulti::Refused,
            None => InMulti::Queued,
        };
        Command {
            ordering: r.and_then(Registration::ordering).unwrap_or(derived),
            in_multi,
            keys: r.map_or(KeyFinder::Specs, Registration::keys),
            random: r.is_some_and(Registration::is_random),
            before_auth: r.is_some_and(Registration::is_before_auth),
            in_subscribed_mode: r.is_some_and(Registration::is_allowed_when_subscribed),
            since_version: r.map_or(crate::family::FIRST_VERSION, Registration::since_version),
            node_local: r.is_some_and(Registration::is_node_local),
            secrets: r.and_then(Registration::secrets),
            meta,
            handler,
            subcommands: HashMap::new(),
            index: 0,
        }
    }

    /// What runs it (`None`: a container answering only through its
    /// subcommands).
    #[cfg(test)]
    pub(super) fn handler(&self) -> Option<Handler> {
        self.handler
    }

    /// True if it answers a connection that has not sent `AUTH` yet: Redis's
    /// `no_auth` (`AUTH`, `HELLO`, `QUIT`), and `PING` as the contract says.
    pub fn answers_before_auth(&self) -> bool {
        self.has(Flags::NO_AUTH) || self.before_auth
    }

    /// True if a RESP2 connection may send it while subscribed to
    /// channels (the subscribe commands, `PING`, `QUIT`, `RESET`).
    pub fn allowed_when_subscribed(&self) -> bool {
        self.in_subscribed_mode
    }

    /// True if `MONITOR` shows its calls: not Redis's administration
    /// commands nor those flagged `skip_monitor`.
    pub fn is_monitored(&self) -> bool {
        !self.has(Flags::ADMIN) && !self.has(Flags::SKIP_MONITOR)
    }

    /// `argv` (the name first) as `MONITOR` shows it: secret words (an
    /// `AUTH` password) replaced by `(redacted)`.
    pub fn monitor_words<'a>(&self, argv: &'a [Vec<u8>]) -> Vec<&'a [u8]> {
        let skip = self.name_words();
        let secret: Vec<usize> = match (self.secrets, argv.get(skip..)) {
            (Some(find), Some(args)) => find(args).into_iter().map(|i| i + skip).collect(),
            _ => Vec::new(),
        };
        argv.iter()
            .enumerate()
            .map(|(i, w)| match secret.contains(&i) {
                true => b"(redacted)".as_slice(),
                false => w.as_slice(),
            })
            .collect()
    }

    /// True if a script may call it: Redis's `noscript` is not set, and it
    /// does not answer about one node alone (a script's result is computed
    /// by every replica).
    pub fn allowed_in_scripts(&self) -> bool {
        !self.has(Flags::NOSCRIPT) && !self.node_local
    }

    /// The state machine version from which logged entries know it (an
    /// entry of an earlier version answers it as an unknown command).
    pub fn since_version(&self) -> u32 {
        self.since_version
    }

    /// What the command tables say of it.
    pub(super) fn meta(&self) -> &Metadata {
        &self.meta
    }

    /// Its subcommands, by lower-case name (`get` of `config|get`).
    pub(super) fn subcommands(&self) -> &HashMap<String, Command> {
        &self.subcommands
    }

    /// Its subcommands, to register one.
    pub(super) fn subcommands_mut(&mut self) -> &mut HashMap<String, Command> {
        &mut self.subcommands
    }

    /// Numbers it ([`Command::index`]), once every name is known.
    pub(super) fn set_index(&mut self, index: usize) {
        self.index = index;
    }

    /// This command, or the subcommand of it that `argv` (the name first)
    /// names; a container called without a subcommand it needs is a wrong
    /// arity.
    pub(super) fn resolve(&self, argv: &[Vec<u8>]) -> Result<&Command, CommandError> {
        if self.subcommands.is_empty() {
            return Ok(self);
        }
        let Some(sub) = argv.get(1) else {
            return match self.handler {
                Some(_) => Ok(self),
                None => Err(CommandError::arity(self.name())),
            };
        };
        let lower = String::from_utf8_lossy(sub).to_ascii_lowercase();
        self.subcommands
            .get(&lower)
            .ok_or_else(|| CommandError::UnknownSubcommand {
                sub: String::from_utf8_lossy(sub).into_owned(),
                container: self.name().to_ascii_uppercase(),
            })
    }

    /// The full name, lower case (`get`, `config|get`).
    pub fn name(&self) -> &str {
        &self.meta.name
    }

    /// Redis's arity: `n` exactly n words, `-n` at least n (the name, and a
    /// subcommand's name, included).
    pub fn arity(&self) -> i32 {
        self.meta.arity
    }

    /// True if a call of `words` words fits the arity.
    pub fn arity_fits(&self, words: usize) -> bool {
        let words = i64::try_from(words).unwrap_or(i64::MAX);
        let arity = i64::from(self.meta.arity);
        if arity >= 0 {
            words == arity
        } else {
            words >= -arity
        }
    }

    /// Its flags.
    pub fn flags(&self) -> Flags {
        self.meta.flags
    }

    /// True if its flags hold every flag of `f`.
    pub fn has(&self, f: Flags) -> bool {
        self.meta.flags.contains(f)
    }

    /// Its command group (`string`, `server`, ...).
    pub fn group(&self) -> &str {
        self.meta.group()
    }

    /// The Redis version it appeared in.
    pub fn since(&self) -> &str {
        self.meta.since()
    }

    /// Its ACL categories.
    pub fn acl_categories(&self) -> &[String] {
        &self.meta.acl_categories
    }

    /// How it is ordered on its connection.
    pub fn ordering(&self) -> Ordering {
        self.ordering
    }

    /// What it does inside `MULTI`.
    pub fn in_multi(&self) -> InMulti {
        self.in_multi
    }

    /// Its place among [`Registry::all`].
    pub fn index(&self) -> usize {
        self.index
    }

    /// True if its apply draws random numbers (its entry carries a seed).
    pub fn is_random(&self) -> bool {
        self.random
    }

    /// True if it goes through the log (a write, blocking or not).
    pub fn is_write(&self) -> bool {
        matches!(
            self.handler,
            Some(Handler::Write(..) | Handler::Blocking(..))
        )
    }

    /// How many words name it (1, or 2 for a subcommand).
    fn name_words(&self) -> usize {
        1 + usize::from(self.meta.name.contains('|'))
    }

    /// Plans the call `argv` (the name first; the arity already checked).
    pub fn plan(&self, argv: &[Vec<u8>], ctx: &CallContext) -> Result<Plan, CommandError> {
        let args = &argv[self.name_words()..];
        match self.handler {
            Some(Handler::Write(_, check)) => {
                if let Some(check) = check {
                    check(args, ctx.limits)?;
                }
                Ok(Plan::Write)
            }
            Some(Handler::Blocking(_, form)) if ctx.may_block => Ok(Plan::Block(form(args)?)),
            Some(Handler::Blocking(..)) => Ok(Plan::Write),
            Some(Handler::Read(_)) => Ok(Plan::Read),
            Some(Handler::Plan(f)) => f(args, ctx),
            None => Err(CommandError::arity(&self.meta.name)),
        }
    }

    /// The positions of the keys of `argv` (the name first), as Redis finds
    /// them; `None` if its arguments do not let them be found.
    pub fn key_positions(&self, argv: &[Vec<u8>]) -> Option<Vec<usize>> {
        match self.keys {
            KeyFinder::Parse(find) => Some(find(argv).into_iter().map(|(p, _)| p).collect()),
            KeyFinder::Specs => keys::positions(&self.meta.key_specs, argv)
                .map(|ks| ks.into_iter().map(|(p, _)| p).collect()),
        }
    }

    /// The keys of `argv` with their key spec's flags; `None` as for
    /// [`Command::key_positions`].
    pub fn keys_with_flags<'a>(&self, argv: &'a [Vec<u8>]) -> Option<Vec<(&'a [u8], Vec<String>)>> {
        let found: Vec<(usize, Vec<String>)> = match self.keys {
            KeyFinder::Parse(find) => find(argv)
                .into_iter()
                .map(|(p, f)| (p, f.iter().map(|s| (*s).to_string()).collect()))
                .collect(),
            KeyFinder::Specs => keys::positions(&self.meta.key_specs, argv)?
                .into_iter()
                .map(|(p, f)| (p, f.to_vec()))
                .collect(),
        };
        Some(
            found
                .into_iter()
                .filter_map(|(p, f)| argv.get(p).map(|k| (k.as_slice(), f)))
                .collect(),
        )
    }

    /// Checks `argv` against the request limits: each key (as the key
    /// specs find them) within the key limit, each other word within the
    /// value limit.
    pub fn check_limits(&self, argv: &[Vec<u8>], limits: &Limits) -> Result<(), CommandError> {
        if let Some(keys) = self.key_positions(argv) {
            for at in keys {
                let len = argv.get(at).map_or(0, Vec::len);
                if len > limits.max_key {
                    return Err(CommandError::KeyTooLarge {
                        len,
                        limit: limits.max_key,
                    });
                }
            }
        }
        match argv
            .iter()
            .map(Vec::len)
            .find(|&len| len > limits.max_value)
        {
            Some(len) => Err(CommandError::ValueTooLarge {
                len,
                limit: limits.max_value,
            }),
            None => Ok(()),
        }
    }

    /// True if it takes keys at all.
    pub fn takes_keys(&self) -> bool {
        matches!(self.keys, KeyFinder::Parse(_)) || keys::has_keys(&self.meta.key_specs)
    }

    /// Applies the logged call `argv` to `store`: a write with the entry's
    /// `seed`, or (inside a transaction) a read.
    pub(crate) fn apply(&self, store: &mut KvStore, argv: &[Vec<u8>], seed: u64) -> Reply {
        let args = &argv[self.name_words()..];
        let outcome = match self.handler {
            Some(Handler::Write(f, _) | Handler::Blocking(f, _)) => {
                f(store, args, &mut SplitMix64::new(seed))
            }
            Some(Handler::Read(f)) => f(store, args, &mut SplitMix64::new(seed)),
            Some(Handler::Plan(_)) | None => Err(CommandError::NotLoggable {
                command: self.meta.name.clone(),
            }),
        };
        outcome.unwrap_or_else(Reply::from)
    }

    /// Runs the read `argv` against `store` with `rng`; `None` if it is
    /// not a read.
    pub(crate) fn run_read(
        &self,
        store: &KvStore,
        argv: &[Vec<u8>],
        rng: &mut SplitMix64,
    ) -> Option<Reply> {
        match self.handler {
            Some(Handler::Read(f)) => {
                Some(f(store, &argv[self.name_words()..], rng).unwrap_or_else(Reply::from))
            }
            _ => None,
        }
    }
}
