//! The client port's side of the collection commands (hashes, lists, sets,
//! and the keyspace commands of the state machine's words table): handlers
//! that send the command's words, its name first, as one log entry or one
//! read.

use super::outcome::Outcome;
use super::session::Session;
use crate::command::{Command, ReadCommand};

type Args<'a> = &'a [Vec<u8>];

/// A write: the words as one log entry, with a fresh seed. A blocking
/// command blocks (outside `MULTI`, where it answers nil at once as in Redis).
pub(super) fn write(s: &mut Session, argv: Args) -> Outcome {
    if !s.capturing {
        match crate::store::blocking::blocking_form(argv) {
            Some(Ok(form)) => return s.block(argv.to_vec(), form),
            Some(Err(refused)) => return super::outcome::now(refused),
            None => {}
        }
    }
    let seed = s.next_seed();
    s.write(Command::Words {
        argv: argv.to_vec(),
        seed,
    })
}

/// A read: the words as one read.
pub(super) fn read(s: &mut Session, argv: Args) -> Outcome {
    s.read(ReadCommand::Words(argv.to_vec()))
}
