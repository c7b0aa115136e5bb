//! The `INFO` text, in Redis's layout (`# Section` headers, `key:value` lines).

use crate::metrics::Metrics;
use crate::status::NodeStatus;

fn join(ids: &[u64]) -> String {
    ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

/// `le=count` pairs (seconds, cumulative), the last bound `+Inf`.
fn fsync_buckets(metrics: &Metrics) -> String {
    let pairs: Vec<String> = metrics
        .fsync_buckets()
        .into_iter()
        .map(|(le, n)| match le.is_finite() {
            true => format!("{le}={n}"),
            false => format!("+Inf={n}"),
        })
        .collect();
    pairs.join(",")
}

/// Renders `status` and the counters of `metrics` that `raft-cli top` reads;
/// `section` limits it to one section (`server`, `raft`, `keyspace`) when given.
pub fn render(status: &NodeStatus, metrics: &Metrics, section: Option<&Vec<u8>>) -> Vec<u8> {
    let want = section.map(|s| String::from_utf8_lossy(s).to_ascii_lowercase());
    let show = |name: &str| {
        want.as_deref()
            .is_none_or(|w| w == name || w == "all" || w == "everything" || w == "default")
    };
    let mut out = String::new();
    if show("server") {
        out.push_str("# Server\r\n");
        out.push_str(&format!(
            "raft_kv_version:{}\r\n",
            env!("CARGO_PKG_VERSION")
        ));
        out.push_str(&format!("node_id:{}\r\n", status.id));
        out.push_str(&format!("process_id:{}\r\n", std::process::id()));
        out.push_str(&format!("cluster_id:{:016x}\r\n", status.cluster_id));
        out.push_str("\r\n");
    }
    if show("raft") || show("replication") {
        out.push_str("# Raft\r\n");
        out.push_str(&format!("role:{}\r\n", status.role.as_str()));
        out.push_str(&format!("term:{}\r\n", status.term));
        out.push_str(&format!("leader_id:{}\r\n", status.leader_id.unwrap_or(0)));
        out.push_str(&format!("commit_index:{}\r\n", status.commit_index));
        out.push_str(&format!("applied_index:{}\r\n", status.applied_index));
        out.push_str(&format!("last_index:{}\r\n", status.last_index));
        let members: Vec<String> = status
            .members
            .iter()
            .map(|(id, a)| format!("{id}={a}"))
            .collect();
        out.push_str(&format!("members:{}\r\n", members.join(",")));
        let clients: Vec<String> = status
            .clients
            .iter()
            .map(|(id, a)| format!("{id}={a}"))
            .collect();
        out.push_str(&format!("member_clients:{}\r\n", clients.join(",")));
        out.push_str(&format!("voters:{}\r\n", join(&status.voters)));
        out.push_str(&format!("learners:{}\r\n", join(&status.learners)));
        let joint = if status.voters_outgoing.is_empty() {
            "no".to_string()
        } else {
            format!("yes outgoing={}", join(&status.voters_outgoing))
        };
        out.push_str(&format!("joint:{joint}\r\n"));
        out.push_str(&format!(
            "leader_elections_won:{}\r\n",
            status.leader_elections
        ));
        out.push_str(&format!("proposals:{}\r\n", status.proposals));
        out.push_str(&format!("leader_changes:{}\r\n", metrics.leader_changes()));
        out.push_str(&format!("wal_fsync_buckets:{}\r\n", fsync_buckets(metrics)));
        out.push_str("\r\n");
    }
    out.into_bytes()
}
