//! One client connection: reads what arrives, parses every complete pipelined
//! request, submits them all before it waits for the first reply, and writes
//! the replies in request order.

use super::commands::{Kind, Outcome, Session, lookup};
use super::reply::reply_of;
use crate::command::Reply;
use crate::error::ErrorCode;
use crate::resp::{ParseLimits, parse_request};
use crate::runtime::{NodeHandle, PendingReply};
use std::io::{Read, Write};
use std::net::TcpStream;

pub(super) struct Connection {
    stream: TcpStream,
    session: Session,
    limits: ParseLimits,
}

/// The requests of one read, submitted and not yet answered.
struct Batch {
    pending: Vec<PendingReply>,
    in_flight: Option<Kind>,
    out: Vec<u8>,
}

impl Batch {
    /// Program order per connection: reads wait for this connection's earlier
    /// writes and writes for its earlier reads; requests of one kind stay in
    /// flight together.
    fn order(&mut self, kind: Kind) {
        if kind == Kind::Other {
            return;
        }
        if self.in_flight.is_some_and(|k| k != kind) {
            self.flush();
        }
        self.in_flight = Some(kind);
    }

    fn flush(&mut self) {
        for p in self.pending.drain(..) {
            reply_of(p.wait()).encode_into(&mut self.out);
        }
        self.in_flight = None;
    }
}

impl Connection {
    pub(super) fn new(stream: TcpStream, node: NodeHandle) -> Self {
        let limits = ParseLimits {
            max_request: node.config().limits.max_request,
            ..ParseLimits::default()
        };
        Connection {
            stream,
            session: Session::new(node),
            limits,
        }
    }

    pub(super) fn run(mut self) -> std::io::Result<()> {
        self.stream.set_nonblocking(false)?;
        self.stream.set_nodelay(true)?;
        let mut buf: Vec<u8> = Vec::with_capacity(16 << 10);
        let mut chunk = vec![0u8; 64 << 10];
        let mut batch = Batch {
            pending: Vec::new(),
            in_flight: None,
            out: Vec::with_capacity(16 << 10),
        };
        loop {
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
            let (used, close) = self.submit_all(&buf, &mut batch);
            buf.drain(..used);
            batch.flush();
            if let Some(r) = &close {
                r.encode_into(&mut batch.out);
            }
            self.stream.write_all(&batch.out)?;
            batch.out.clear();
            if close.is_some() {
                return Ok(());
            }
        }
    }

    /// Submits every complete request in `buf`; returns the bytes used and the
    /// last reply if the connection must close.
    fn submit_all(&mut self, buf: &[u8], batch: &mut Batch) -> (usize, Option<Reply>) {
        let mut pos = 0;
        loop {
            match parse_request(&buf[pos..], &self.limits) {
                Ok(Some((args, used))) => {
                    pos += used;
                    if args.is_empty() {
                        continue;
                    }
                    let spec = lookup(&args[0]);
                    batch.order(spec.map_or(Kind::Other, |s| self.session.kind_of(s)));
                    match self.session.dispatch(spec, args) {
                        Outcome::Reply(p) => batch.pending.push(p),
                        Outcome::Close(r) => return (pos, Some(r)),
                    }
                }
                Ok(None) => return (pos, None),
                Err(e) => return (pos, Some(Reply::error(ErrorCode::Err, e))),
            }
        }
    }
}
