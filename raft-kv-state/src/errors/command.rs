//! What a [`CommandError`] answers: its code word, the constructors that
//! shape Redis's texts, and the one conversion into a [`ReplyError`].

use super::{CodeWord, CommandError, ErrorCode, ReplyError};

impl CommandError {
    /// The code word of this error's reply.
    pub fn code(&self) -> ErrorCode {
        use CommandError::*;
        match self {
            WrongType => ErrorCode::WrongType,
            NoAuth | HelloNeedsAuth => ErrorCode::NoAuth,
            WrongPass => ErrorCode::WrongPass,
            UnsupportedProtocol => ErrorCode::NoProto,
            Unblocked => ErrorCode::Unblocked,
            TargetExists => ErrorCode::BusyKey,
            ExecAbort | ExecAbortBecause(_) => ErrorCode::ExecAbort,
            NoScript => ErrorCode::NoScript,
            NotBusy => ErrorCode::NotBusy,
            Unkillable => ErrorCode::Unkillable,
            Busy => ErrorCode::Busy,
            _ => ErrorCode::Err,
        }
    }

    /// The wrong-arity error of `command` (its full name, any case).
    pub fn arity(command: &str) -> CommandError {
        CommandError::Arity {
            command: command.to_ascii_lowercase(),
        }
    }

    /// Redis's reply to a name no command has: the name and the first
    /// arguments, each quoted, cut near 128 bytes as Redis cuts them.
    pub fn unknown_command(argv: &[Vec<u8>]) -> CommandError {
        const CUT: usize = 128;
        let shown = |b: &[u8], room: usize| {
            String::from_utf8_lossy(&b[..b.len().min(room)]).replace(['\r', '\n'], " ")
        };
        let mut args = String::new();
        for a in argv.iter().skip(1) {
            if args.len() >= CUT {
                break;
            }
            let room = CUT - args.len();
            args.push_str(&format!("'{}' ", shown(a, room)));
        }
        CommandError::UnknownCommand {
            name: argv.first().map_or_else(String::new, |n| shown(n, CUT)),
            args,
        }
    }
}

impl From<CommandError> for ReplyError {
    fn from(e: CommandError) -> ReplyError {
        ReplyError {
            code: CodeWord::Known(e.code()),
            text: e.to_string().into(),
        }
    }
}
