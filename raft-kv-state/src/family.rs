//! What a command family registers: one [`Registration`] per command (or
//! subcommand), naming its handler and how the store treats it beyond what
//! the command tables say. Families (`store/*.rs`, `commands/*.rs`) build
//! their lists with [`write`], [`read`], [`blocking`], [`planned`] and
//! [`checked_write`]; the registry ([`crate::registry`]) joins them with the
//! tables' metadata. This module is the families' whole vocabulary, so a
//! family never depends on the registry that collects it.

use crate::errors::CommandError;
use crate::limits::Limits;
use crate::registry::keys::{KeyFinder, KeyParse};
use crate::registry::plan::{BlockingForm, CallContext, Plan};
use crate::reply::Reply;
use crate::store::KvStore;
use raft_core::SplitMix64;

/// A command's arguments after its name (and after its subcommand's).
pub type Args<'a> = &'a [Vec<u8>];

/// A write applied to the state machine (from the log, on every replica).
pub(crate) type WriteFn = fn(&mut KvStore, Args, &mut SplitMix64) -> Result<Reply, CommandError>;
/// A read of the state machine. Its random choices (SRANDMEMBER) come from
/// the generator: seeded inside a transaction or a script, whose results
/// can reach the state, this node's own for a client's read.
pub(crate) type ReadFn = fn(&KvStore, Args, &mut SplitMix64) -> Result<Reply, CommandError>;
/// Checks a write before it is proposed, against the proposer's limits
/// (what depends on a node's settings is decided once, by the proposer).
pub(crate) type CheckFn = fn(Args, &Limits) -> Result<(), CommandError>;
/// A blocking command's keys and timeout.
pub(crate) type FormFn = fn(Args) -> Result<BlockingForm, CommandError>;
/// A command that plans by itself (connection, server, administration).
pub(crate) type PlanFn = fn(Args, &CallContext) -> Result<Plan, CommandError>;

/// What runs a command.
#[derive(Clone, Copy)]
pub(crate) enum Handler {
    /// A write through the log, with an optional check before proposing.
    Write(WriteFn, Option<CheckFn>),
    /// A write through the log that may block until one of its keys holds
    /// something (each attempt is a write).
    Blocking(WriteFn, FormFn),
    /// A read of the state machine.
    Read(ReadFn),
    /// Its own plan.
    Plan(PlanFn),
}

/// How a command is ordered among its connection's requests: a read waits
/// for the connection's earlier writes, a write for its earlier reads,
/// nothing runs beside a blocked command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ordering {
    /// Reads replicated state.
    Read,
    /// Goes through the log.
    Write,
    /// Goes through the log and may wait for other clients' writes.
    Blocking,
    /// Neither.
    Other,
}

/// What a command does inside `MULTI`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InMulti {
    /// Queued until `EXEC` (the default).
    Queued,
    /// Runs at once: it is transaction control (`MULTI`, `EXEC`, `DISCARD`,
    /// `WATCH`, `QUIT`).
    RunsNow,
    /// Refused (`Command not allowed inside a transaction`): Redis's
    /// `no_multi`, and what this store cannot put in a transaction's entry
    /// (a script, administration, a change of the connection).
    Refused,
}

/// A family's registration of one command (or subcommand: `container|sub`).
#[derive(Clone, Copy)]
pub(crate) struct Registration {
    name: &'static str,
    handler: Handler,
    ordering: Option<Ordering>,
    in_multi: Option<InMulti>,
    keys: KeyFinder,
    random: bool,
    before_auth: bool,
    in_subscribed_mode: bool,
    since_version: u32,
    node_local: bool,
    secrets: Option<SecretsFn>,
}

/// The positions of a call's secret words (passwords), which `MONITOR`
/// shows as `(redacted)`.
pub(crate) type SecretsFn = fn(Args) -> Vec<usize>;

/// The state machine version of every command that does not say
/// otherwise: the first (version-1 entries are mapped to calls of the
/// commands that version had).
pub(crate) const FIRST_VERSION: u32 = crate::entry::LEGACY_VERSION;

impl Registration {
    const fn new(name: &'static str, handler: Handler) -> Registration {
        Registration {
            name,
            handler,
            ordering: None,
            in_multi: None,
            keys: KeyFinder::Specs,
            random: false,
            before_auth: false,
            in_subscribed_mode: false,
            since_version: FIRST_VERSION,
            node_local: false,
            secrets: None,
        }
    }

    /// The command's full name (`get`, `config|get`).
    pub(crate) const fn name(&self) -> &'static str {
        self.name
    }

    /// What runs it.
    pub(crate) const fn handler(&self) -> Handler {
        self.handler
    }

    /// Its order among a connection's requests, if not the handler's.
    pub(crate) const fn ordering(&self) -> Option<Ordering> {
        self.ordering
    }

    /// What it does inside `MULTI`, if not what its flags say.
    pub(crate) const fn in_multi(&self) -> Option<InMulti> {
        self.in_multi
    }

    /// How its keys are found.
    pub(crate) const fn keys(&self) -> KeyFinder {
        self.keys
    }

    /// True if its apply draws random numbers.
    pub(crate) const fn is_random(&self) -> bool {
        self.random
    }

    /// True if it answers before `AUTH` though Redis does not flag it
    /// `no_auth`.
    pub(crate) const fn is_before_auth(&self) -> bool {
        self.before_auth
    }

    /// True if a RESP2 connection may send it while subscribed.
    pub(crate) const fn is_allowed_when_subscribed(&self) -> bool {
        self.in_subscribed_mode
    }

    /// Where its secret words are, if it has any.
    pub(crate) const fn secrets(&self) -> Option<SecretsFn> {
        self.secrets
    }

    /// Its words at the places `find` names (among the arguments after
    /// its name) are secrets: `MONITOR` shows them as `(redacted)`.
    pub(crate) const fn redacted(mut self, find: SecretsFn) -> Registration {
        self.secrets = Some(find);
        self
    }

    /// True if it answers about this node alone (not from the state).
    pub(crate) const fn is_node_local(&self) -> bool {
        self.node_local
    }

    /// The state machine version whose entries know it.
    pub(crate) const fn since_version(&self) -> u32 {
        self.since_version
    }

    /// It answers about this node alone (`PUBSUB NUMSUB`: its own
    /// subscribers), so a script, whose result every replica computes,
    /// may not call it, though Redis's flags let it.
    pub(crate) const fn node_local(mut self) -> Registration {
        self.node_local = true;
        self
    }

    /// A RESP2 connection may send it while subscribed (Redis allows the
    /// subscribe commands, `PING`, `QUIT` and `RESET` there).
    pub(crate) const fn in_subscribed_mode(mut self) -> Registration {
        self.in_subscribed_mode = true;
        self
    }

    /// Logged entries know it from state machine `version` on: in an entry
    /// of an earlier version it is an unknown command, as it was to the
    /// binaries of that version.
    pub(crate) const fn since(mut self, version: u32) -> Registration {
        self.since_version = version;
        self
    }

    /// Answers before `AUTH` (the contract's `PING`, for health checks),
    /// while `COMMAND INFO` keeps Redis's flags.
    pub(crate) const fn before_auth(mut self) -> Registration {
        self.before_auth = true;
        self
    }

    /// Orders it as `ordering` (a planned command that proposes or reads).
    pub(crate) const fn ordered_as(mut self, ordering: Ordering) -> Registration {
        self.ordering = Some(ordering);
        self
    }

    /// Runs inside `MULTI` at once.
    pub(crate) const fn runs_in_multi(mut self) -> Registration {
        self.in_multi = Some(InMulti::RunsNow);
        self
    }

    /// Refused inside `MULTI`.
    pub(crate) const fn refused_in_multi(mut self) -> Registration {
        self.in_multi = Some(InMulti::Refused);
        self
    }

    /// Its keys are found by `find` (where its key specs cannot tell).
    pub(crate) const fn keys_by(mut self, find: KeyParse) -> Registration {
        self.keys = KeyFinder::Parse(find);
        self
    }

    /// Its apply draws random numbers: its entry carries a seed.
    pub(crate) const fn random(mut self) -> Registration {
        self.random = true;
        self
    }
}

/// A write applied from the log.
pub(crate) const fn write(name: &'static str, f: WriteFn) -> Registration {
    Registration::new(name, Handler::Write(f, None))
}

/// A write checked against the proposer's limits before it is proposed.
pub(crate) const fn checked_write(name: &'static str, f: WriteFn, check: CheckFn) -> Registration {
    Registration::new(name, Handler::Write(f, Some(check)))
}

/// A blocking write.
pub(crate) const fn blocking(name: &'static str, f: WriteFn, form: FormFn) -> Registration {
    Registration::new(name, Handler::Blocking(f, form))
}

/// A read.
pub(crate) const fn read(name: &'static str, f: ReadFn) -> Registration {
    Registration::new(name, Handler::Read(f))
}

/// A command that plans by itself.
pub(crate) const fn planned(name: &'static str, f: PlanFn) -> Registration {
    Registration::new(name, Handler::Plan(f))
}
