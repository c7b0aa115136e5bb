//! Every error a command answers with, in one place:
//! - [`ErrorCode`]: the code word an error reply starts with;
//! - [`ReplyError`]: an error reply as it travels (its code and its text);
//! - [`CommandError`]: the catalogue of what a command can fail with, each
//!   with Redis 7.0's text. Handlers and store operations return it; only
//!   [`ReplyError::from`] turns it into a reply, so a text is written once.
//!
//! Nothing anywhere decides on an error's wording: code paths look at the
//! variant or the code.

mod catalogue;
mod command;
mod config;

pub use catalogue::CommandError;
pub use config::BufferLimitProblem;
use std::borrow::Cow;

/// The code word that starts every RESP error reply (see the contract).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// `-ERR`: bad command, wrong arity, wrong type, too large. Nothing was applied.
    Err,
    /// `-NOLEADER`: no leader could be reached in time; nothing was proposed.
    NoLeader,
    /// `-TIMEOUT`: proposed, but the outcome is unknown (it may still apply).
    Timeout,
    /// `-SHUTDOWN`: the node is stopping.
    Shutdown,
    /// `-NOAUTH`: the connection must `AUTH` first.
    NoAuth,
    /// `-WRONGPASS`: `AUTH` with a wrong password.
    WrongPass,
    /// `-NOPROTO`: `HELLO` with a protocol version this server does not speak.
    NoProto,
    /// `-EXECABORT`: `EXEC` of a transaction that had errors; nothing ran.
    ExecAbort,
    /// `-WRONGTYPE`: a command on a key holding another type; nothing changed.
    WrongType,
    /// `-UNBLOCKED`: a blocked command ended by `CLIENT UNBLOCK id ERROR`;
    /// it took nothing.
    Unblocked,
    /// `-BUSYKEY`: `RESTORE` onto a key that exists (without `REPLACE`).
    BusyKey,
    /// `-BUSY`: a script has run past `lua-time-limit`; only `SCRIPT KILL`
    /// and a few connection commands are served until it ends.
    Busy,
    /// `-NOSCRIPT`: `EVALSHA` of a script this node does not know.
    NoScript,
    /// `-NOTBUSY`: `SCRIPT KILL` with no script running.
    NotBusy,
    /// `-UNKILLABLE`: `SCRIPT KILL` of a script that wrote.
    Unkillable,
}

/// Every known code, for parsing a code word back.
const CODES: [ErrorCode; 15] = [
    ErrorCode::Err,
    ErrorCode::NoLeader,
    ErrorCode::Timeout,
    ErrorCode::Shutdown,
    ErrorCode::NoAuth,
    ErrorCode::WrongPass,
    ErrorCode::NoProto,
    ErrorCode::ExecAbort,
    ErrorCode::WrongType,
    ErrorCode::Unblocked,
    ErrorCode::BusyKey,
    ErrorCode::Busy,
    ErrorCode::NoScript,
    ErrorCode::NotBusy,
    ErrorCode::Unkillable,
];

impl ErrorCode {
    /// The code word as written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Err => "ERR",
            ErrorCode::NoLeader => "NOLEADER",
            ErrorCode::Timeout => "TIMEOUT",
            ErrorCode::Shutdown => "SHUTDOWN",
            ErrorCode::NoAuth => "NOAUTH",
            ErrorCode::WrongPass => "WRONGPASS",
            ErrorCode::NoProto => "NOPROTO",
            ErrorCode::ExecAbort => "EXECABORT",
            ErrorCode::WrongType => "WRONGTYPE",
            ErrorCode::Unblocked => "UNBLOCKED",
            ErrorCode::BusyKey => "BUSYKEY",
            ErrorCode::Busy => "BUSY",
            ErrorCode::NoScript => "NOSCRIPT",
            ErrorCode::NotBusy => "NOTBUSY",
            ErrorCode::Unkillable => "UNKILLABLE",
        }
    }

    /// The code of a code word; `None` for one this store never sends
    /// (another server's, or a script's own).
    pub fn of_word(word: &str) -> Option<ErrorCode> {
        CODES.into_iter().find(|c| c.as_str() == word)
    }

    /// The code of an error reply's text (`"NOLEADER no leader ..."`); `None`
    /// for a code this store never sends.
    pub fn of_error_text(text: &str) -> Option<ErrorCode> {
        ErrorCode::of_word(text.split_ascii_whitespace().next()?)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The code word of an error reply: one of the store's, or a script's own
/// (`return redis.error_reply("MYERR ...")` passes it through, as in Redis).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CodeWord {
    /// A code of this store.
    Known(ErrorCode),
    /// Another word (from a script).
    Other(Box<str>),
}

impl CodeWord {
    /// The word as written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            CodeWord::Known(c) => c.as_str(),
            CodeWord::Other(w) => w,
        }
    }
}

/// An error reply: its code word and the text after it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ReplyError {
    code: CodeWord,
    text: Cow<'static, str>,
}

impl ReplyError {
    /// An error with `code` and `text` (for the typed errors of other layers;
    /// a command's errors come from [`CommandError`]).
    pub fn new(code: ErrorCode, text: impl Into<Cow<'static, str>>) -> ReplyError {
        ReplyError {
            code: CodeWord::Known(code),
            text: text.into(),
        }
    }

    /// An error as a line of text (`"CODE text"`, as a script's
    /// `error_reply` or a peer sends one): the first word is the code.
    pub fn from_line(line: &str) -> ReplyError {
        let (word, text) = line.split_once(' ').unwrap_or((line, ""));
        let code = match ErrorCode::of_word(word) {
            Some(c) => CodeWord::Known(c),
            None => CodeWord::Other(word.into()),
        };
        ReplyError {
            code,
            text: text.to_string().into(),
        }
    }

    /// The code word.
    pub fn code(&self) -> &CodeWord {
        &self.code
    }

    /// The known code, if it is one of this store's.
    pub fn known_code(&self) -> Option<ErrorCode> {
        match self.code {
            CodeWord::Known(c) => Some(c),
            CodeWord::Other(_) => None,
        }
    }

    /// The text after the code word.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The whole line: the code word, a space, the text.
    pub fn line(&self) -> String {
        self.to_string()
    }
}

impl std::fmt::Display for ReplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.text.is_empty() {
            true => f.write_str(self.code.as_str()),
            false => write!(f, "{} {}", self.code.as_str(), self.text),
        }
    }
}

impl PartialEq<&str> for ReplyError {
    /// True if the whole line is `line`.
    fn eq(&self, line: &&str) -> bool {
        self.line() == *line
    }
}

impl From<&str> for ReplyError {
    /// [`ReplyError::from_line`].
    fn from(line: &str) -> ReplyError {
        ReplyError::from_line(line)
    }
}

/// In a log entry (a reply known when a command was queued) an error is its
/// line, as the first entry format wrote it.
impl serde::Serialize for ReplyError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.line())
    }
}

impl<'de> serde::Deserialize<'de> for ReplyError {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let line = <Cow<'de, str>>::deserialize(d)?;
        Ok(ReplyError::from_line(&line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_code_word_is_not_guessed() {
        assert_eq!(ErrorCode::of_error_text("MOVED 3999 x"), None);
        assert_eq!(ErrorCode::of_error_text(""), None);
        assert_eq!(
            ErrorCode::of_error_text("NOLEADER x"),
            Some(ErrorCode::NoLeader)
        );
    }

    #[test]
    fn an_error_line_keeps_its_code_word_and_text() {
        let e = ReplyError::from_line("MYERR something broke");
        assert_eq!(e.code().as_str(), "MYERR");
        assert_eq!(e.text(), "something broke");
        assert_eq!(e.line(), "MYERR something broke");
        let known = ReplyError::from(CommandError::WrongType);
        assert_eq!(known.known_code(), Some(ErrorCode::WrongType));
        assert_eq!(
            known.line(),
            "WRONGTYPE Operation against a key holding the wrong kind of value"
        );
    }

    #[test]
    fn an_unknown_command_is_answered_as_redis_7_answers_it() {
        let argv = [b"FOO".to_vec(), b"a".to_vec(), b"b".to_vec()];
        assert_eq!(
            ReplyError::from(CommandError::unknown_command(&argv)).line(),
            "ERR unknown command 'FOO', with args beginning with: 'a' 'b' "
        );
        let bare = ReplyError::from(CommandError::unknown_command(&argv[..1]));
        assert_eq!(
            bare.line(),
            "ERR unknown command 'FOO', with args beginning with: "
        );
    }
}
