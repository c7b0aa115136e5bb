//! `INFO replication` and `ROLE`: the Raft roles in Redis's words (the
//! leader is the master, every other member its replica), and how a reader
//! of `INFO` tells the two `role:` lines apart.

use raft_kv::NodeStatus;
use raft_kv_state::Reply;

/// The value of `key:` in an `INFO` text, read in the `# Raft` section first
/// (whose `role:` is the Raft role; `# Replication`'s is Redis's `master` or
/// `slave`), then anywhere.
pub fn field<'a>(info: &'a str, key: &str) -> Option<&'a str> {
    let value = |l: &'a str| l.strip_prefix(key)?.strip_prefix(':').map(str::trim);
    let raft = info
        .split("# Raft")
        .nth(1)
        .map(|rest| rest.split("\r\n# ").next().unwrap_or(rest));
    raft.and_then(|r| r.lines().find_map(value))
        .or_else(|| info.lines().find_map(value))
}

/// What `ROLE` answers, in Redis's shape: on the leader `master`, the
/// applied index as the offset, and each other member's client address
/// (host, port, its offset as far as this node knows: the applied index);
/// on a follower `slave`, the leader's host and port, `connected` (or
/// `connect` while no leader is known) and its applied index.
pub fn role_reply(status: &NodeStatus) -> Reply {
    let bulk = |s: &str| Reply::Bulk(Some(s.as_bytes().to_vec()));
    let offset = Reply::Int(i64::try_from(status.applied_index).unwrap_or(i64::MAX));
    let split = |addr: &str| {
        let (host, port) = addr.rsplit_once(':').unwrap_or((addr, "0"));
        (host.to_string(), port.to_string())
    };
    if status.is_leader() {
        let replicas = status
            .clients
            .iter()
            .filter(|(id, _)| **id != status.id)
            .map(|(_, addr)| {
                let (host, port) = split(addr);
                Reply::Array(vec![
                    bulk(&host),
                    bulk(&port),
                    bulk(&status.applied_index.to_string()),
                ])
            })
            .collect();
        return Reply::Array(vec![bulk("master"), offset, Reply::Array(replicas)]);
    }
    let leader = status.leader_id.and_then(|l| status.clients.get(&l));
    let (host, port, state) = match leader {
        Some(addr) => {
            let (h, p) = split(addr);
            (h, p.parse::<i64>().unwrap_or(0), "connected")
        }
        None => (String::new(), -1, "connect"),
    };
    Reply::Array(vec![
        bulk("slave"),
        bulk(&host),
        Reply::Int(port),
        bulk(state),
        offset,
    ])
}

/// Redis's replication fields from the Raft state: the leader's followers
/// are its replicas, a follower's master is the leader's client address.
pub(super) fn replication(status: &NodeStatus) -> super::Section {
    let leading = status.is_leader();
    let members = status.voters.len() + status.learners.len();
    let replicas = if leading {
        members.saturating_sub(1)
    } else {
        0
    };
    // Redis's names: a client that asks for the master finds the leader.
    let role = if leading { "master" } else { "slave" };
    let mut lines = vec![
        ("role", role.to_string()),
        ("connected_slaves", replicas.to_string()),
    ];
    let leader_addr = status
        .leader_id
        .filter(|_| !leading)
        .and_then(|l| status.clients.get(&l));
    if let Some(addr) = leader_addr {
        let (host, port) = addr.rsplit_once(':').unwrap_or((addr.as_str(), "0"));
        lines.push(("master_host", host.to_string()));
        lines.push(("master_port", port.to_string()));
        lines.push(("master_link_status", "up".into()));
    }
    // The log is the replication stream: its applied position is the offset.
    lines.push(("master_repl_offset", status.applied_index.to_string()));
    super::Section {
        name: "replication",
        title: "Replication",
        lines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::info::{ServerFacts, render};
    use raft_kv::metrics::Metrics;

    #[test]
    fn role_answers_master_on_the_leader_and_slave_of_the_leader_elsewhere() {
        let mut status = NodeStatus::starting(1, 7, Default::default());
        status.role = raft_core::Role::Leader;
        status.leader_id = Some(1);
        status.applied_index = 9;
        status.clients = [(1, "10.0.0.1:6001"), (2, "10.0.0.2:6002")]
            .map(|(id, a)| (id, a.to_string()))
            .into();
        let bulk = |s: &str| Reply::Bulk(Some(s.as_bytes().to_vec()));
        assert_eq!(
            role_reply(&status),
            Reply::Array(vec![
                bulk("master"),
                Reply::Int(9),
                Reply::Array(vec![Reply::Array(vec![
                    bulk("10.0.0.2"),
                    bulk("6002"),
                    bulk("9")
                ])])
            ])
        );
        status.id = 2;
        status.role = raft_core::Role::Follower;
        assert_eq!(
            role_reply(&status),
            Reply::Array(vec![
                bulk("slave"),
                bulk("10.0.0.1"),
                Reply::Int(6001),
                bulk("connected"),
                Reply::Int(9)
            ])
        );
        let info = String::from_utf8(render(
            &status,
            &Metrics::default(),
            &ServerFacts::default(),
            &[b"replication".to_vec()],
        ))
        .expect("text");
        assert!(info.contains("role:slave\r\n"), "{info}");
        assert!(info.contains("master_port:6001\r\n"), "{info}");
    }
}
