//! How a connection ends: its last replies go out, then the write side is
//! shut and what the client still sends is read and dropped for a moment
//! (closing with unread input would reset the connection and lose the last
//! reply, say the error for a 100 MB value refused at the limit).

use super::{Connection, Progress};
use std::io::{ErrorKind, Read};
use std::time::{Duration, Instant};

/// How long the last replies of a closing connection may take to go out.
const CLOSE_WRITE_TIME: Duration = Duration::from_secs(30);
/// How long a closing connection reads and drops what the client still sends.
const CLOSE_DRAIN_TIME: Duration = Duration::from_secs(2);
/// Most bytes read and dropped while closing.
const CLOSE_DRAIN_BYTES: usize = 256 << 20;

/// A closing connection's progress.
pub(super) struct Closing {
    shut: bool,
    deadline: Instant,
    drained: usize,
}

impl Closing {
    /// When the connection is dropped whatever its state.
    pub(super) fn deadline(&self) -> Instant {
        self.deadline
    }
}

impl Connection {
    pub(super) fn begin_close(&mut self, scratch: &mut [u8]) -> Progress {
        if let Some(r) = self.last.take() {
            r.encode_into(&mut self.out);
        }
        self.parked = None;
        self.budget.give_back(std::mem::take(&mut self.held));
        self.inbuf = Vec::new();
        self.closing = Some(Closing {
            shut: false,
            deadline: Instant::now() + CLOSE_WRITE_TIME,
            drained: 0,
        });
        self.drive_close(scratch)
    }

    pub(super) fn drive_close(&mut self, scratch: &mut [u8]) -> Progress {
        let now = Instant::now();
        let Some(closing) = self.closing.as_ref() else {
            return Progress::Closed;
        };
        if now >= closing.deadline {
            return Progress::Closed;
        }
        if !closing.shut {
            if self.flush_out().is_err() {
                return Progress::Closed;
            }
            if self.wants_write() {
                return Progress::Open { more: false };
            }
            if self.eof || self.stream.shutdown_write().is_err() {
                return Progress::Closed;
            }
            self.closing = Some(Closing {
                shut: true,
                deadline: now + CLOSE_DRAIN_TIME,
                drained: 0,
            });
        }
        let Some(closing) = self.closing.as_mut() else {
            return Progress::Closed;
        };
        while closing.drained < CLOSE_DRAIN_BYTES {
            match self.stream.read(scratch) {
                Ok(0) => return Progress::Closed,
                Ok(n) => closing.drained += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    return Progress::Open { more: false };
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Progress::Closed,
            }
        }
        Progress::Closed
    }
}
