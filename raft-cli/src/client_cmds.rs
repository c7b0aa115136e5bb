//! `get`, `put`, `delete` and `status`.

use crate::error::CliError;
use raft_kv_server::{Client, ClientError};

/// Where client commands go: the endpoints and the password to `AUTH` with.
pub struct Target {
    /// Client addresses of cluster nodes.
    pub endpoints: Vec<String>,
    /// `--password` (or `REDISCLI_AUTH`).
    pub password: Option<String>,
    /// `--tls` with `--cacert` (and `--cert`/`--key` for a client certificate).
    pub tls: Option<raft_kv::ClientTls>,
}

impl Target {
    /// A client failing over between every endpoint.
    pub fn client(&self) -> Result<Client, ClientError> {
        self.clients(self.endpoints.clone())
    }

    /// A client of one endpoint.
    pub fn client_at(&self, endpoint: &str) -> Result<Client, ClientError> {
        self.clients(vec![endpoint.to_string()])
    }

    /// A client failing over between `endpoints`.
    pub fn clients(&self, endpoints: Vec<String>) -> Result<Client, ClientError> {
        Ok(Client::new(endpoints)?
            .with_password(self.password.clone())
            .with_tls(self.tls.clone()))
    }
}

pub fn get(t: &Target, key: &str) -> Result<(), CliError> {
    let mut c = t.client()?;
    match c.get(key.as_bytes())? {
        Some(v) => say!("{}", String::from_utf8_lossy(&v)),
        None => return Err(CliError::KeyNotFound(key.to_string())),
    }
    Ok(())
}

pub fn put(t: &Target, key: &str, value: &str) -> Result<(), CliError> {
    let mut c = t.client()?;
    c.set(key.as_bytes(), value.as_bytes())?;
    say!("OK");
    Ok(())
}

pub fn delete(t: &Target, key: &str) -> Result<(), CliError> {
    let mut c = t.client()?;
    let n = c.del(key.as_bytes())?;
    say!("{n}");
    Ok(())
}

/// Parses `key:value` lines of an INFO reply.
/// The value of `key:` in an INFO text, or `?`.
pub fn info_field<'a>(info: &'a str, key: &str) -> &'a str {
    raft_kv_server::info::field(info, key).unwrap_or("?")
}

/// `Ok` for a simple-string reply to `command`; its error otherwise.
fn expect_ok(command: &'static str, reply: raft_kv::Reply) -> Result<(), CliError> {
    match reply {
        raft_kv::Reply::Simple(_) => Ok(()),
        raft_kv::Reply::Error(e) => Err(CliError::Refused(e)),
        reply => Err(CliError::UnexpectedReply { command, reply }),
    }
}

pub fn member_add(t: &Target, id: u64, peer_addr: &str, learner: bool) -> Result<(), CliError> {
    let mut c = t.client()?;
    let id = id.to_string();
    let mut args: Vec<&[u8]> = vec![b"RAFT.ADDNODE", id.as_bytes(), peer_addr.as_bytes()];
    if learner {
        args.push(b"LEARNER");
    }
    expect_ok("RAFT.ADDNODE", c.call(&args, false)?)?;
    say!("OK");
    Ok(())
}

pub fn member_remove(t: &Target, id: u64) -> Result<(), CliError> {
    // Ask the leader if one is known, and never the node being removed (a removed
    // follower may not learn that its removal committed).
    let mut ordered: Vec<String> = Vec::new();
    for ep in &t.endpoints {
        let Ok(mut c) = t.client_at(ep) else {
            continue;
        };
        let Ok(info) = c.info() else { continue };
        if info_field(&info, "node_id") == id.to_string() {
            continue;
        }
        if info_field(&info, "role") == "leader" {
            ordered.insert(0, ep.clone());
        } else {
            ordered.push(ep.clone());
        }
    }
    if ordered.is_empty() {
        return Err(CliError::OnlyTheRemovedNode(id));
    }
    let mut c = t.clients(ordered)?;
    let id = id.to_string();
    expect_ok(
        "RAFT.REMOVENODE",
        c.call(&[b"RAFT.REMOVENODE", id.as_bytes()], false)?,
    )?;
    say!("OK");
    Ok(())
}

/// The endpoints whose node reports `role:leader` now.
/// The client addresses of the members (found from any endpoint) and of the
/// endpoints given that report themselves leader.
fn leader_endpoints(t: &Target) -> Vec<String> {
    let members = crate::status_cmd::member_endpoints(t).unwrap_or_default();
    let mut candidates: Vec<String> = members.into_iter().filter_map(|(_, a)| a).collect();
    candidates.extend(t.endpoints.iter().cloned());
    candidates.dedup();
    candidates
        .into_iter()
        .filter(|ep| {
            t.client_at(ep)
                .and_then(|mut c| c.info())
                .is_ok_and(|info| info_field(&info, "role") == "leader")
        })
        .take(1)
        .collect()
}

pub fn transfer_leader(t: &Target, id: u64) -> Result<(), CliError> {
    let id = id.to_string();
    let mut last = CliError::NoLeader;
    // The leader may change between the INFO and the request: look again.
    for _ in 0..3 {
        for ep in leader_endpoints(t) {
            let mut c = t.client_at(&ep)?;
            match c.call_here(&[b"RAFT.TRANSFER", id.as_bytes()]) {
                Ok(raft_kv::Reply::Simple(_)) => {
                    say!("OK");
                    return Ok(());
                }
                Ok(other) => {
                    if let Err(e) = expect_ok("RAFT.TRANSFER", other) {
                        last = e.at(&ep);
                    }
                }
                Err(e) => last = CliError::from(e).at(&ep),
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    Err(last)
}

/// Asks every member (found from any endpoint, as `status` does) to snapshot.
pub fn snapshot(t: &Target) -> Result<(), CliError> {
    let mut failed = 0;
    for (id, address) in crate::status_cmd::member_endpoints(t)? {
        let Some(ep) = address else {
            failed += 1;
            say!("node {id}: no client address advertised yet");
            continue;
        };
        let mut c = t.client_at(&ep)?;
        match c
            .call_here(&[b"RAFT.SNAPSHOT"])
            .map_err(CliError::from)
            .and_then(|r| expect_ok("RAFT.SNAPSHOT", r))
        {
            Ok(()) => say!("node {id} ({ep}): OK"),
            Err(e) => {
                failed += 1;
                say!("node {id} ({ep}): {e}");
            }
        }
    }
    if failed > 0 {
        return Err(CliError::SnapshotsFailed(failed));
    }
    Ok(())
}
