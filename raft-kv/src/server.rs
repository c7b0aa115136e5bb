//! The RESP2 client port: one thread per connection, pipelined requests (all
//! requests read so far are submitted before the first reply is awaited, and
//! replies go out in request order), limits on every size, and a connection cap.

use crate::command::{Command, Reply};
use crate::node::{NodeHandle, PendingReply, ReadCommand};
use crate::resp::{ParseLimits, parse_request};
use raft_core::ConfChangeStep;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// Stops the accept loop.
pub struct ServerHandle {
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ServerHandle {
    /// Stops accepting new connections (open ones answer `-SHUTDOWN`).
    pub fn stop(mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves RESP on `listener` until stopped.
pub fn serve(listener: TcpListener, node: NodeHandle) -> std::io::Result<ServerHandle> {
    listener.set_nonblocking(true)?;
    let stopping = Arc::new(AtomicBool::new(false));
    let stop = stopping.clone();
    let connections = Arc::new(AtomicUsize::new(0));
    let thread = std::thread::Builder::new()
        .name("raft-kv-accept".into())
        .spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let max = node.config().max_connections;
                        if connections.fetch_add(1, Ordering::SeqCst) >= max {
                            connections.fetch_sub(1, Ordering::SeqCst);
                            let mut s = stream;
                            let _ = s.write_all(b"-ERR max number of clients reached\r\n");
                            continue;
                        }
                        let node = node.clone();
                        let conns = connections.clone();
                        let spawned = std::thread::Builder::new()
                            .name("raft-kv-client".into())
                            .spawn(move || {
                                if let Err(e) = Connection::new(stream, node).run() {
                                    log::debug!("client connection ended: {e}");
                                }
                                conns.fetch_sub(1, Ordering::SeqCst);
                            });
                        if let Err(e) = spawned {
                            log::error!("cannot start a client thread: {e}");
                            connections.fetch_sub(1, Ordering::SeqCst);
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    Err(e) => {
                        log::warn!("accept failed: {e}");
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
            }
        })?;
    Ok(ServerHandle {
        stopping,
        thread: Some(thread),
    })
}

struct Connection {
    stream: TcpStream,
    node: NodeHandle,
    readonly: bool,
    limits: ParseLimits,
}

/// Whether a request reads or writes replicated state (for per-connection order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
    Other,
}

/// What a parsed request turned into.
enum Outcome {
    Reply(PendingReply),
    Close(Reply),
}

impl Connection {
    fn new(stream: TcpStream, node: NodeHandle) -> Self {
        let l = node.config().limits;
        let limits = ParseLimits {
            max_request: l.max_request,
            ..ParseLimits::default()
        };
        Connection {
            stream,
            node,
            readonly: false,
            limits,
        }
    }

    fn run(mut self) -> std::io::Result<()> {
        self.stream.set_nonblocking(false)?;
        self.stream.set_nodelay(true)?;
        let mut buf: Vec<u8> = Vec::with_capacity(16 << 10);
        let mut chunk = vec![0u8; 64 << 10];
        let mut out = Vec::with_capacity(16 << 10);
        loop {
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
            let mut pos = 0;
            let mut pending: Vec<PendingReply> = Vec::new();
            let mut in_flight: Option<Kind> = None;
            out.clear();
            let mut close = None;
            loop {
                match parse_request(&buf[pos..], &self.limits) {
                    Ok(Some((args, used))) => {
                        pos += used;
                        if args.is_empty() {
                            continue;
                        }
                        // Program order per connection: reads wait for this
                        // connection's earlier writes and writes for its earlier
                        // reads; requests of one kind stay in flight together.
                        let kind = self.kind_of(&args[0]);
                        if kind != Kind::Other && in_flight.is_some_and(|k| k != kind) {
                            for p in pending.drain(..) {
                                p.wait().encode_into(&mut out);
                            }
                            in_flight = None;
                        }
                        if kind != Kind::Other {
                            in_flight = Some(kind);
                        }
                        match self.dispatch(args) {
                            Outcome::Reply(p) => pending.push(p),
                            Outcome::Close(r) => {
                                close = Some(r);
                                break;
                            }
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        close = Some(Reply::error("ERR", e));
                        break;
                    }
                }
            }
            buf.drain(..pos);
            for p in pending {
                p.wait().encode_into(&mut out);
            }
            if let Some(r) = &close {
                r.encode_into(&mut out);
            }
            self.stream.write_all(&out)?;
            if close.is_some() {
                return Ok(());
            }
        }
    }

    fn dispatch(&mut self, args: Vec<Vec<u8>>) -> Outcome {
        let name = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
        let rest = &args[1..];
        if self.node.is_stopping() && name != "QUIT" {
            return Outcome::Reply(PendingReply::ready(Reply::error(
                "SHUTDOWN",
                "the node is stopping",
            )));
        }
        let reply = |r: Reply| Outcome::Reply(PendingReply::ready(r));
        match name.as_str() {
            "QUIT" => Outcome::Close(Reply::ok()),
            "PING" => match rest {
                [] => reply(Reply::Simple("PONG".into())),
                [msg] => reply(Reply::Bulk(Some(msg.clone()))),
                _ => reply(arity(&name)),
            },
            "ECHO" => match rest {
                [msg] => reply(Reply::Bulk(Some(msg.clone()))),
                _ => reply(arity(&name)),
            },
            "READONLY" => {
                self.readonly = true;
                reply(Reply::ok())
            }
            "READWRITE" => {
                self.readonly = false;
                reply(Reply::ok())
            }
            "INFO" => reply(Reply::Bulk(Some(crate::info::render(
                &self.node.status(),
                rest.first(),
            )))),
            "CONFIG" => reply(config_command(rest)),
            "COMMAND" => reply(Reply::Array(Vec::new())),
            "CLIENT" => reply(Reply::ok()),
            "SELECT" => match rest {
                [db] if db.as_slice() == b"0" => reply(Reply::ok()),
                [_] => reply(Reply::error(
                    "ERR",
                    "DB index is out of range (only database 0 exists)",
                )),
                _ => reply(arity(&name)),
            },
            "GET" => match rest {
                [k] => self.read(ReadCommand::Get(k.clone())),
                _ => reply(arity(&name)),
            },
            "MGET" if !rest.is_empty() => self.read(ReadCommand::MGet(rest.to_vec())),
            "EXISTS" if !rest.is_empty() => self.read(ReadCommand::Exists(rest.to_vec())),
            "DBSIZE" if rest.is_empty() => self.read(ReadCommand::DbSize),
            "SET" => match rest {
                [k, v] => self.write(Command::Set {
                    key: k.clone(),
                    value: v.clone(),
                }),
                [_, _, ..] => reply(Reply::error(
                    "ERR",
                    "syntax error: SET options (EX, PX, NX, XX, ...) are not supported",
                )),
                _ => reply(arity(&name)),
            },
            "DEL" if !rest.is_empty() => self.write(Command::Del {
                keys: rest.to_vec(),
            }),
            "MSET" if !rest.is_empty() && rest.len().is_multiple_of(2) => {
                let pairs = rest
                    .chunks(2)
                    .map(|p| (p[0].clone(), p[1].clone()))
                    .collect();
                self.write(Command::MSet { pairs })
            }
            "INCR" => match rest {
                [k] => self.write(Command::IncrBy {
                    key: k.clone(),
                    delta: 1,
                }),
                _ => reply(arity(&name)),
            },
            "INCRBY" => match rest {
                [k, n] => match std::str::from_utf8(n)
                    .ok()
                    .and_then(|s| s.parse::<i64>().ok())
                {
                    Some(delta) => self.write(Command::IncrBy {
                        key: k.clone(),
                        delta,
                    }),
                    None => reply(Reply::error(
                        "ERR",
                        "value is not an integer or out of range",
                    )),
                },
                _ => reply(arity(&name)),
            },
            "CAS" => match rest {
                [k, e, n] => self.write(Command::Cas {
                    key: k.clone(),
                    expected: e.clone(),
                    new: n.clone(),
                }),
                _ => reply(arity(&name)),
            },
            "RAFT.ADDNODE" => match rest {
                [id, addr] | [id, addr, _] => {
                    let learner = match rest.get(2) {
                        None => false,
                        Some(flag) if flag.eq_ignore_ascii_case(b"LEARNER") => true,
                        Some(_) => {
                            return reply(Reply::error(
                                "ERR",
                                "syntax error: the third argument can only be LEARNER",
                            ));
                        }
                    };
                    let Some(id) = parse_id(id) else {
                        return reply(Reply::error("ERR", "node id must be a positive integer"));
                    };
                    let addr = String::from_utf8_lossy(addr).into_owned();
                    if !addr.contains(':') {
                        return reply(Reply::error(
                            "ERR",
                            format!("peer address '{addr}' is not HOST:PORT"),
                        ));
                    }
                    let step = if learner {
                        ConfChangeStep::AddLearner(id)
                    } else {
                        ConfChangeStep::AddVoter(id)
                    };
                    Outcome::Reply(self.node.conf_change(step, Some(addr)))
                }
                _ => reply(arity(&name)),
            },
            "RAFT.REMOVENODE" => match rest {
                [id] => match parse_id(id) {
                    Some(id)
                        if id == self.node.config().id && self.node.status().role != "leader" =>
                    {
                        reply(Reply::error(
                            "ERR",
                            "a follower cannot wait for its own removal to commit; send RAFT.REMOVENODE to another member",
                        ))
                    }
                    Some(id) => {
                        Outcome::Reply(self.node.conf_change(ConfChangeStep::Remove(id), None))
                    }
                    None => reply(Reply::error("ERR", "node id must be a positive integer")),
                },
                _ => reply(arity(&name)),
            },
            "RAFT.TRANSFER" => match rest {
                [id] => match parse_id(id) {
                    Some(id) => reply(self.node.transfer(id)),
                    None => reply(Reply::error("ERR", "node id must be a positive integer")),
                },
                _ => reply(arity(&name)),
            },
            "RAFT.SNAPSHOT" if rest.is_empty() => reply(self.node.snapshot()),
            "MGET" | "EXISTS" | "DEL" | "MSET" | "DBSIZE" | "RAFT.SNAPSHOT" => reply(arity(&name)),
            _ => {
                let shown: String = String::from_utf8_lossy(&args[0]).chars().take(64).collect();
                reply(Reply::error("ERR", format!("unknown command '{shown}'")))
            }
        }
    }

    fn kind_of(&self, name: &[u8]) -> Kind {
        let name = String::from_utf8_lossy(name).to_ascii_uppercase();
        match name.as_str() {
            "GET" | "MGET" | "EXISTS" | "DBSIZE" if !self.readonly => Kind::Read,
            "SET" | "DEL" | "MSET" | "INCR" | "INCRBY" | "CAS" | "RAFT.ADDNODE"
            | "RAFT.REMOVENODE" => Kind::Write,
            _ => Kind::Other,
        }
    }

    fn read(&self, cmd: ReadCommand) -> Outcome {
        let too_long = match &cmd {
            ReadCommand::Get(k) => k.len() > self.node.config().limits.max_key,
            ReadCommand::MGet(ks) | ReadCommand::Exists(ks) => ks
                .iter()
                .any(|k| k.len() > self.node.config().limits.max_key),
            ReadCommand::DbSize => false,
        };
        if too_long {
            return Outcome::Reply(PendingReply::ready(Reply::error("ERR", "key too large")));
        }
        if self.readonly {
            Outcome::Reply(PendingReply::ready(self.node.stale_read(&cmd)))
        } else {
            Outcome::Reply(self.node.read(cmd))
        }
    }

    fn write(&self, cmd: Command) -> Outcome {
        if let Err(e) = check_sizes(&cmd, &self.node.config().limits) {
            return Outcome::Reply(PendingReply::ready(e));
        }
        Outcome::Reply(self.node.write(cmd))
    }
}

fn parse_id(bytes: &[u8]) -> Option<u64> {
    std::str::from_utf8(bytes)
        .ok()?
        .parse::<u64>()
        .ok()
        .filter(|&id| id > 0)
}

fn arity(name: &str) -> Reply {
    Reply::error(
        "ERR",
        format!(
            "wrong number of arguments for '{}' command",
            name.to_ascii_lowercase()
        ),
    )
}

/// Refuses keys and values beyond the limits before anything is proposed.
fn check_sizes(cmd: &Command, limits: &crate::config::Limits) -> Result<(), Reply> {
    let key = |k: &Vec<u8>| {
        if k.len() > limits.max_key {
            Err(Reply::error(
                "ERR",
                format!(
                    "key too large ({} bytes, limit {})",
                    k.len(),
                    limits.max_key
                ),
            ))
        } else {
            Ok(())
        }
    };
    let value = |v: &Vec<u8>| {
        if v.len() > limits.max_value {
            Err(Reply::error(
                "ERR",
                format!(
                    "value too large ({} bytes, limit {})",
                    v.len(),
                    limits.max_value
                ),
            ))
        } else {
            Ok(())
        }
    };
    match cmd {
        Command::Set { key: k, value: v } => key(k).and(value(v)),
        Command::Del { keys } => keys.iter().try_for_each(key),
        Command::MSet { pairs } => pairs.iter().try_for_each(|(k, v)| key(k).and(value(v))),
        Command::IncrBy { key: k, .. } => key(k),
        Command::Cas {
            key: k,
            expected,
            new,
        } => key(k).and(value(expected)).and(value(new)),
    }
}

/// `CONFIG GET` answers what Redis tools ask at start-up; nothing is settable.
fn config_command(args: &[Vec<u8>]) -> Reply {
    match args {
        [sub, pattern] if sub.eq_ignore_ascii_case(b"GET") => {
            let known: [(&str, &str); 3] =
                [("save", ""), ("appendonly", "yes"), ("databases", "1")];
            let p = String::from_utf8_lossy(pattern).to_ascii_lowercase();
            let items = known
                .iter()
                .filter(|(k, _)| p == "*" || p == *k)
                .flat_map(|(k, v)| {
                    [
                        Reply::Bulk(Some(k.as_bytes().to_vec())),
                        Reply::Bulk(Some(v.as_bytes().to_vec())),
                    ]
                })
                .collect();
            Reply::Array(items)
        }
        _ => Reply::error("ERR", "only CONFIG GET is supported"),
    }
}
