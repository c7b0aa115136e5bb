//! The catalogue: every [`CommandError`] with its text, grouped by the
//! commands that fail with it. Its codes and constructors are in
//! [`super::command`].

use super::ReplyError;
use super::config::BufferLimitProblem;

/// What a command can fail with: each variant's text is Redis 7.0's where
/// Redis has the error, and its code is [`CommandError::code`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    // --- Any command -------------------------------------------------
    /// A name no command has.
    #[error("unknown command '{name}', with args beginning with: {args}")]
    UnknownCommand {
        /// The name as sent (cut at 128 bytes).
        name: String,
        /// The first arguments, each quoted and followed by a space.
        args: String,
    },
    /// A container command's subcommand that does not exist.
    #[error("unknown subcommand '{sub}'. Try {container} HELP.")]
    UnknownSubcommand {
        /// The subcommand as sent.
        sub: String,
        /// The container, upper case.
        container: String,
    },
    /// The wrong number of arguments for `command` (`config|get` for a subcommand).
    #[error("wrong number of arguments for '{command}' command")]
    Arity {
        /// The command's full name, lower case.
        command: String,
    },
    /// Arguments that make no sense together.
    #[error("syntax error")]
    Syntax,
    /// A key of another type than the command works on.
    #[error("Operation against a key holding the wrong kind of value")]
    WrongType,
    /// An argument that must be an integer.
    #[error("value is not an integer or out of range")]
    NotAnInteger,
    /// An argument that must be a float.
    #[error("value is not a valid float")]
    NotAFloat,
    /// An integer outside what the command takes.
    #[error("value is out of range")]
    OutOfRange,
    /// A count that must not be negative.
    #[error("value is out of range, must be positive")]
    MustBePositive,
    /// A key over the node's key limit.
    #[error("key too large ({len} bytes, limit {limit})")]
    KeyTooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// An argument over the node's value limit.
    #[error("value too large ({len} bytes, limit {limit})")]
    ValueTooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A script over the node's request limit.
    #[error("script too large ({len} bytes, limit {limit})")]
    ScriptTooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A logged call of a command that is not applied from the log.
    #[error("'{command}' is not a command of the state machine")]
    NotLoggable {
        /// The command.
        command: String,
    },
    /// A read of a command that is not a read.
    #[error("'{command}' changes state and cannot run as a read")]
    NotARead {
        /// The command.
        command: String,
    },

    // --- Strings and numbers -----------------------------------------
    /// INCR and its kin past i64.
    #[error("increment or decrement would overflow")]
    Overflow,
    /// INCRBYFLOAT to an infinity or NaN.
    #[error("increment would produce NaN or Infinity")]
    NotFinite,
    /// An increment that is NaN or infinite.
    #[error("value is NaN or Infinity")]
    NanOrInfinity,
    /// A value past Redis's 512 MB.
    #[error("string exceeds maximum allowed size (proto-max-bulk-len)")]
    StringTooLong,
    /// A bit offset past 2^32 - 1.
    #[error("bit offset is not an integer or out of range")]
    BadBitOffset,
    /// SETBIT's bit is not 0 or 1.
    #[error("bit is not an integer or out of range")]
    BadBit,
    /// A bit offset past the node's value limit.
    #[error("value too large (bit offset {offset}, limit {limit} bytes)")]
    BitOffsetTooLarge {
        /// The offset.
        offset: u64,
        /// The value limit.
        limit: usize,
    },
    /// SETRANGE with a negative offset.
    #[error("offset is out of range")]
    OffsetOutOfRange,
    /// LCS of keys that are not strings.
    #[error("The specified keys must contain string values")]
    LcsNotStrings,
    /// LCS with both LEN and IDX.
    #[error("If you want both the length and indexes, please just use IDX.")]
    LcsLenAndIdx,
    /// LCS of inputs whose table would pass the limit.
    #[error("Insufficient memory, transient memory for LCS exceeds {limit} bytes")]
    LcsTooLarge {
        /// The limit in bytes.
        limit: u64,
    },

    // --- Keys and expiry ---------------------------------------------
    /// RENAME, LSET of a key that does not exist.
    #[error("no such key")]
    NoSuchKey,
    /// COPY onto itself.
    #[error("source and destination objects are the same")]
    SameObject,
    /// A DB other than 0.
    #[error("DB index is out of range")]
    DbIndexOutOfRange,
    /// SELECT of a DB other than 0.
    #[error("DB index is out of range (only database 0 exists)")]
    OnlyDatabaseZero,
    /// An expiry time that overflows or is not positive.
    #[error("invalid expire time in '{command}' command")]
    InvalidExpireTime {
        /// The command, lower case.
        command: &'static str,
    },
    /// EXPIRE with an option it does not know.
    #[error("Unsupported option {option}")]
    UnsupportedOption {
        /// The option as sent.
        option: String,
    },
    /// EXPIRE with NX and another condition.
    #[error("NX and XX, GT or LT options at the same time are not compatible")]
    ExpireNxWithOthers,
    /// EXPIRE with GT and LT.
    #[error("GT and LT options at the same time are not compatible")]
    ExpireGtWithLt,
    /// A SCAN cursor that is not a number.
    #[error("invalid cursor")]
    InvalidCursor,
    /// RESTORE of a payload that is not one of ours.
    #[error("DUMP payload version or checksum are wrong")]
    BadDumpPayload,
    /// RESTORE of a payload whose value does not decode.
    #[error("Bad data format")]
    BadDataFormat,
    /// RESTORE with a negative TTL.
    #[error("Invalid TTL value, must be >= 0")]
    InvalidTtl,
    /// RESTORE with a negative IDLETIME.
    #[error("Invalid IDLETIME value, must be >= 0")]
    InvalidIdleTime,
    /// RESTORE with a FREQ outside 0..=255.
    #[error("Invalid FREQ value, must be >= 0 and <= 255")]
    InvalidFreq,
    /// RESTORE onto a key that exists.
    #[error("Target key name already exists.")]
    TargetExists,

    // --- Collections ---------------------------------------------------
    /// HINCRBY of a field that is not an integer.
    #[error("hash value is not an integer")]
    HashValueNotInteger,
    /// HINCRBYFLOAT of a field that is not a float.
    #[error("hash value is not a float")]
    HashValueNotFloat,
    /// LSET past the end.
    #[error("index out of range")]
    IndexOutOfRange,
    /// LPOS with RANK 0.
    #[error(
        "RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"
    )]
    RankZero,
    /// LPOS with a negative COUNT.
    #[error("COUNT can't be negative")]
    NegativeCount,
    /// LPOS with a negative MAXLEN.
    #[error("MAXLEN can't be negative")]
    NegativeMaxlen,
    /// A LIMIT below 0.
    #[error("LIMIT can't be negative")]
    NegativeLimit,
    /// A numkeys below 1.
    #[error("numkeys should be greater than 0")]
    NumkeysNotPositive,
    /// A COUNT below 1 (LMPOP, ZMPOP).
    #[error("count should be greater than 0")]
    CountNotPositive,
    /// A numkeys past the arguments.
    #[error("Number of keys can't be greater than number of args")]
    TooManyKeys,
    /// A negative numkeys (EVAL).
    #[error("Number of keys can't be negative")]
    NegativeNumkeys,
    /// ZUNION and its kin with numkeys 0.
    #[error("at least 1 input key is needed for '{command}' command")]
    NoInputKeys {
        /// The command, lower case.
        command: &'static str,
    },
    /// A WEIGHTS value that is not a float.
    #[error("weight value is not a float")]
    WeightNotFloat,
    /// A score range end that is not a float.
    #[error("min or max is not a float")]
    MinMaxNotFloat,
    /// A lex range end that is not `-`, `+`, `[x` or `(x`.
    #[error("min or max not valid string range item")]
    MinMaxNotLex,
    /// A score that came out NaN.
    #[error("resulting score is not a number (NaN)")]
    ScoreNan,
    /// ZADD with NX and XX.
    #[error("XX and NX options at the same time are not compatible")]
    ZaddXxWithNx,
    /// ZADD with GT, LT or NX together.
    #[error("GT, LT, and/or NX options at the same time are not compatible")]
    ZaddGtLtNx,
    /// ZADD INCR with more than one pair.
    #[error("INCR option supports a single increment-element pair")]
    ZaddIncrPairs,
    /// ZRANGE ... LIMIT without BYSCORE or BYLEX.
    #[error("syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")]
    LimitNeedsByScoreOrLex,
    /// ZRANGE ... BYLEX WITHSCORES.
    #[error("syntax error, WITHSCORES not supported in combination with BYLEX")]
    WithScoresByLex,
    /// SORT of values that are not numbers.
    #[error("One or more scores can't be converted into double")]
    SortNotDouble,
    /// A blocking timeout that is not a number.
    #[error("timeout is not a float or out of range")]
    TimeoutNotFloat,
    /// A negative blocking timeout.
    #[error("timeout is negative")]
    TimeoutNegative,
    /// A blocking timeout past what a deadline holds.
    #[error("timeout is out of range")]
    TimeoutOutOfRange,

    // --- Connections and transactions ----------------------------------
    /// A command before `AUTH` on a node with a password.
    #[error("Authentication required.")]
    NoAuth,
    /// `AUTH` with a wrong password (or user).
    #[error("invalid username-password pair or user is disabled.")]
    WrongPass,
    /// `AUTH` on a node without a password.
    #[error(
        "AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
    )]
    NoPasswordSet,
    /// `HELLO` with a version other than 2 or 3.
    #[error("unsupported protocol version")]
    UnsupportedProtocol,
    /// `HELLO` with a version that is not a number.
    #[error("Protocol version is not an integer or out of range")]
    ProtocolNotInteger,
    /// `HELLO` with an option it does not know.
    #[error("Syntax error in HELLO option '{option}'")]
    HelloOption {
        /// The option as sent.
        option: String,
    },
    /// `HELLO` before `AUTH` without its own `AUTH`.
    #[error(
        "HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"
    )]
    HelloNeedsAuth,
    /// `CLIENT SETNAME` of a name with spaces or control characters.
    #[error("Client names cannot contain spaces, newlines or special characters.")]
    BadClientName,
    /// `CLIENT UNBLOCK id x` with another reason.
    #[error("CLIENT UNBLOCK reason should be TIMEOUT or ERROR")]
    BadUnblockReason,
    /// A blocked command ended by `CLIENT UNBLOCK id ERROR`.
    #[error("client unblocked via CLIENT UNBLOCK")]
    Unblocked,
    /// More clients blocked than this node allows.
    #[error("too many clients are blocked on this node; retry later")]
    TooManyBlocked,
    /// `MULTI` inside `MULTI`.
    #[error("MULTI calls can not be nested")]
    NestedMulti,
    /// `EXEC` without `MULTI`.
    #[error("EXEC without MULTI")]
    ExecWithoutMulti,
    /// `DISCARD` without `MULTI`.
    #[error("DISCARD without MULTI")]
    DiscardWithoutMulti,
    /// `WATCH` inside `MULTI`.
    #[error("WATCH inside MULTI is not allowed")]
    WatchInsideMulti,
    /// More watched keys than one connection may have.
    #[error("too many watched keys (limit {limit})")]
    TooManyWatched {
        /// The limit.
        limit: usize,
    },
    /// A command a RESP2 connection sent while subscribed.
    #[error(
        "Can't execute '{command}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
    )]
    NotInSubscribedMode {
        /// The command's full name, lower case.
        command: String,
    },
    /// A write that a member of the cluster would not know: its state
    /// machine version is older than the command.
    #[error(
        "'{command}' needs every member at state machine version {needs} or later, and this cluster runs version {runs}: upgrade every member first"
    )]
    NeedsNewerCluster {
        /// The command, lower case.
        command: String,
        /// The version that knows it.
        needs: u32,
        /// The version the cluster proposes at.
        runs: u32,
    },
    /// A command that cannot be queued.
    #[error("Command not allowed inside a transaction: '{command}'")]
    NotInMulti {
        /// The command, lower case.
        command: String,
    },
    /// A transaction past its limits.
    #[error("transaction too large (limits: {commands} commands, {bytes} bytes)")]
    TransactionTooLarge {
        /// Most commands.
        commands: usize,
        /// Most bytes.
        bytes: usize,
    },
    /// `EXEC` after a refused command.
    #[error("Transaction discarded because of previous errors.")]
    ExecAbort,
    /// `EXEC` refused because of `error`.
    #[error("Transaction discarded because of: {0}")]
    ExecAbortBecause(Box<ReplyError>),
    /// A transaction or script entry inside a transaction.
    #[error("MULTI calls can not be nested")]
    NestedTransaction,

    // --- Scripts -------------------------------------------------------
    /// `EVALSHA` of a script this node does not know.
    #[error("No matching script. Please use EVAL.")]
    NoScript,
    /// `SCRIPT KILL` with no script running.
    #[error("No scripts in execution right now.")]
    NotBusy,
    /// `SCRIPT KILL` of a script that wrote.
    #[error(
        "Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command."
    )]
    Unkillable,
    /// A command while a script runs past the busy threshold.
    #[error("Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.")]
    Busy,
    /// `redis.call` of a name no command has.
    #[error("Unknown Redis command called from script")]
    ScriptUnknownCommand,
    /// `redis.call` with the wrong number of arguments.
    #[error("Wrong number of args calling Redis command from script")]
    ScriptArity,
    /// `redis.call` of a command flagged `noscript`.
    #[error("This Redis command is not allowed from script")]
    ScriptNotAllowed,
    /// `redis.call()` without words.
    #[error("Please specify at least one argument for this redis lib call")]
    ScriptNoArguments,
    /// `redis.call` with a word that is neither a string nor a number.
    #[error("Lua redis lib command arguments must be strings or integers")]
    ScriptBadArgument,
    /// A write from `EVAL_RO`.
    #[error("Write commands are not allowed from read-only scripts.")]
    ScriptWriteInReadOnly,
    /// A script that does not compile.
    #[error("Error compiling script (new function): {0}")]
    ScriptCompile(String),
    /// A script that failed while it ran.
    #[error("Error running script (call to f_{sha}): @user_script: {reason}")]
    ScriptFailed {
        /// The script's SHA1.
        sha: String,
        /// What failed.
        reason: String,
    },
    /// A script stopped by `SCRIPT KILL`.
    #[error(
        "Error running script (call to f_{sha}): @user_script: Script killed by user with SCRIPT KILL..."
    )]
    ScriptKilled {
        /// The script's SHA1.
        sha: String,
    },
    /// A reply nested deeper than a script may build.
    #[error("reached lua stack limit")]
    LuaStackLimit,
    /// An EVAL entry where a plain command belongs (a replica's applier runs them).
    #[error("scripts run only on a node's applier")]
    ScriptOutsideApplier,
    /// A script or transaction entry queued in a script.
    #[error("scripts are not allowed inside a transaction or a script")]
    ScriptInTransaction,

    // --- Server and cluster administration ------------------------------
    /// `COMMAND GETKEYS` of an unknown command.
    #[error("Invalid command specified")]
    InvalidCommandSpecified,
    /// `COMMAND GETKEYS` with the wrong number of arguments.
    #[error("Invalid number of arguments specified for command")]
    InvalidArgumentCount,
    /// `COMMAND GETKEYS` whose key positions do not parse.
    #[error("Invalid arguments specified for command")]
    InvalidArguments,
    /// `COMMAND GETKEYS` of a command without keys.
    #[error("The command has no key arguments")]
    NoKeyArguments,
    /// `CONFIG SET` of a value that is not an integer.
    #[error(
        "CONFIG SET failed (possibly related to argument '{name}') - argument couldn't be parsed into an integer"
    )]
    ConfigNotInteger {
        /// The parameter.
        name: String,
    },
    /// `CONFIG SET` of a parameter that is not settable at run time.
    #[error(
        "CONFIG SET failed (possibly related to argument '{name}') - not settable here: only encoding hints are (they change nothing); other settings are raft-cli node flags"
    )]
    ConfigNotSettable {
        /// The parameter.
        name: String,
    },
    /// `CONFIG SET client-output-buffer-limit` with a value it cannot take.
    #[error("CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - {0}")]
    BufferLimit(BufferLimitProblem),
    /// BGSAVE could not start its thread.
    #[error("cannot start the snapshot: {0}")]
    SnapshotNotStarted(String),
    /// `SHUTDOWN ABORT` with no shutdown pending.
    #[error("No shutdown in progress.")]
    NoShutdownInProgress,
    /// A node id that is not a positive integer.
    #[error("node id must be a positive integer")]
    BadNodeId,
    /// A peer address that is not `HOST:PORT`.
    #[error("peer address '{addr}' is not HOST:PORT")]
    BadPeerAddress {
        /// The address as sent.
        addr: String,
    },
    /// `RAFT.ADDNODE` with a third word other than `LEARNER`.
    #[error("syntax error: the third argument can only be LEARNER")]
    AddNodeOption,
}
