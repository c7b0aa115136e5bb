//! The `INFO` text, in Redis's layout (`# Section` headers, `key:value` lines).

mod replication;
use raft_kv::NodeStatus;
use raft_kv::metrics::Metrics;
use replication::replication;
pub use replication::{field, role_reply};

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

/// The Redis version clients may assume (the commands behave as Redis 7.0's).
pub use raft_kv_state::REDIS_COMPAT_VERSION;

/// What `INFO` shows beyond the node's status and metrics.
#[derive(Clone, Debug, Default)]
pub struct ServerFacts {
    /// The client port.
    pub tcp_port: u16,
    /// The client connection limit.
    pub max_clients: usize,
    /// Keys in the state machine (as this node has applied them).
    pub keys: i64,
    /// Clients of this node blocked on keys (BLPOP and the like).
    pub blocked_clients: usize,
    /// Keys those clients wait on.
    pub blocking_keys: usize,
    /// The state machine version this node proposes at.
    pub state_machine_version: u32,
    /// Channels, patterns and shard channels this node's clients subscribe to.
    pub pubsub: [usize; 3],
}

/// The process's user and system CPU seconds and resident bytes, from
/// `/proc/self` (zeros where it cannot be read). `/proc` reports CPU time in
/// USER_HZ, which is 100 on Linux whatever the kernel's tick.
fn process_usage() -> (f64, f64, u64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesized command name, which may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after ')'.
    let (user, sys) = (ticks(11) / 100.0, ticks(12) / 100.0);
    let rss_pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|m| m.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap_or(0);
    (user, sys, rss_pages * 4096)
}

fn human_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.2}G", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.2}M", b as f64 / (1u64 << 20) as f64),
        b => format!("{:.2}K", b as f64 / 1024.0),
    }
}

/// One `# Title` section: its `INFO` name and its `key:value` lines (an
/// empty key: the value is the whole line, for keys made at run time).
struct Section {
    name: &'static str,
    title: &'static str,
    lines: Vec<(&'static str, String)>,
}

/// Renders `status`, the counters of `metrics` and `facts` in Redis's
/// sections (server, clients, memory, persistence, stats, replication, cpu,
/// keyspace) plus `# Raft`, the one with the contract's `role:` line (the Raft
/// role: Redis's master/replica role is `HELLO`'s). `section` limits it to one
/// section when given (`replication` shows Raft's too).
pub fn render(
    status: &NodeStatus,
    metrics: &Metrics,
    facts: &ServerFacts,
    sections_asked: &[Vec<u8>],
) -> Vec<u8> {
    let asked: Vec<String> = sections_asked
        .iter()
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
        .collect();
    // As Redis: none or `default` gives the default sections, `all` and
    // `everything` add the per-command ones, a name gives that section.
    let show = |name: &str| {
        let extra = matches!(name, "commandstats" | "errorstats");
        let default = asked.is_empty() || asked.iter().any(|w| w == "default");
        (default && !extra)
            || asked.iter().any(|w| {
                w == name
                    || matches!(w.as_str(), "all" | "everything")
                    || (w == "replication" && name == "raft")
            })
    };
    let (user, sys, rss) = process_usage();
    let sections = [
        server(status, metrics, facts),
        Section {
            name: "clients",
            title: "Clients",
            lines: vec![
                ("connected_clients", metrics.connected_clients().to_string()),
                ("maxclients", facts.max_clients.to_string()),
                ("blocked_clients", facts.blocked_clients.to_string()),
                ("total_blocking_keys", facts.blocking_keys.to_string()),
            ],
        },
        memory(rss),
        persistence(metrics),
        stats(metrics, facts),
        replication(status),
        Section {
            name: "cpu",
            title: "CPU",
            lines: vec![
                ("used_cpu_sys", format!("{sys:.6}")),
                ("used_cpu_user", format!("{user:.6}")),
            ],
        },
        raft(status, metrics, facts),
        keyspace(facts),
        command_stats(metrics),
        error_stats(metrics),
    ];
    let mut out = String::new();
    for s in sections.iter().filter(|s| show(s.name)) {
        out.push_str(&format!("# {}\r\n", s.title));
        for (k, v) in &s.lines {
            match k.is_empty() {
                true => out.push_str(&format!("{v}\r\n")),
                false => out.push_str(&format!("{k}:{v}\r\n")),
            }
        }
        out.push_str("\r\n");
    }
    out.into_bytes()
}

/// `cmdstat_<name>:calls=..` per command and subcommand, as Redis names
/// the fields; times are not measured per command here (0).
fn command_stats(metrics: &Metrics) -> Section {
    let lines = metrics
        .command_lines()
        .into_iter()
        .map(|l| {
            let line = format!(
                "cmdstat_{}:calls={},usec=0,usec_per_call=0.00,rejected_calls={},failed_calls={}",
                l.name, l.calls, l.rejected, l.failed
            );
            ("", line)
        })
        .collect();
    Section {
        name: "commandstats",
        title: "Commandstats",
        lines,
    }
}

/// Error replies by their code word (`errorstat_WRONGTYPE:count=3`).
fn error_stats(metrics: &Metrics) -> Section {
    let lines = metrics
        .error_counts()
        .into_iter()
        .map(|(code, n)| ("", format!("errorstat_{code}:count={n}")))
        .collect();
    Section {
        name: "errorstats",
        title: "Errorstats",
        lines,
    }
}

fn server(status: &NodeStatus, metrics: &Metrics, facts: &ServerFacts) -> Section {
    let uptime = metrics.uptime().as_secs();
    let os = format!("{} {}", std::env::consts::OS, std::env::consts::ARCH);
    Section {
        name: "server",
        title: "Server",
        lines: vec![
            ("redis_version", REDIS_COMPAT_VERSION.to_string()),
            ("redis_mode", "standalone".into()),
            ("os", os),
            ("arch_bits", usize::BITS.to_string()),
            ("raft_kv_version", env!("CARGO_PKG_VERSION").into()),
            ("node_id", status.id.to_string()),
            ("process_id", std::process::id().to_string()),
            ("tcp_port", facts.tcp_port.to_string()),
            ("uptime_in_seconds", uptime.to_string()),
            ("uptime_in_days", (uptime / 86_400).to_string()),
            ("cluster_id", format!("{:016x}", status.cluster_id)),
        ],
    }
}

fn memory(rss: u64) -> Section {
    Section {
        name: "memory",
        title: "Memory",
        lines: vec![
            ("used_memory", rss.to_string()),
            ("used_memory_human", human_bytes(rss)),
            ("used_memory_rss", rss.to_string()),
            ("maxmemory", "0".into()),
            ("maxmemory_policy", "noeviction".into()),
            // Rust's global allocator here is the C library's malloc.
            ("mem_allocator", "libc".into()),
        ],
    }
}

/// Every acknowledged write is in a fsynced WAL: Redis's closest setting is
/// an AOF with `appendfsync always`.
fn persistence(metrics: &Metrics) -> Section {
    Section {
        name: "persistence",
        title: "Persistence",
        lines: vec![
            ("loading", "0".into()),
            ("aof_enabled", "1".into()),
            ("rdb_bgsave_in_progress", "0".into()),
            ("snapshots_taken", metrics.snapshots().to_string()),
        ],
    }
}

fn stats(metrics: &Metrics, facts: &ServerFacts) -> Section {
    let [channels, patterns, shard_channels] = facts.pubsub;
    Section {
        name: "stats",
        title: "Stats",
        lines: vec![
            (
                "total_connections_received",
                metrics.connections_received().to_string(),
            ),
            (
                "total_commands_processed",
                metrics.commands_processed().to_string(),
            ),
            (
                "rejected_connections",
                metrics.connections_rejected().to_string(),
            ),
            ("total_error_replies", metrics.error_replies().to_string()),
            ("pubsub_channels", channels.to_string()),
            ("pubsub_patterns", patterns.to_string()),
            ("pubsubshard_channels", shard_channels.to_string()),
        ],
    }
}

fn raft(status: &NodeStatus, metrics: &Metrics, facts: &ServerFacts) -> Section {
    let pairs = |m: &std::collections::BTreeMap<u64, String>| {
        let v: Vec<String> = m.iter().map(|(id, a)| format!("{id}={a}")).collect();
        v.join(",")
    };
    let joint = if status.voters_outgoing.is_empty() {
        "no".to_string()
    } else {
        format!("yes outgoing={}", join(&status.voters_outgoing))
    };
    Section {
        name: "raft",
        title: "Raft",
        lines: vec![
            ("role", status.role.as_str().to_string()),
            ("membership", status.membership().as_str().to_string()),
            ("term", status.term.to_string()),
            ("leader_id", status.leader_id.unwrap_or(0).to_string()),
            ("commit_index", status.commit_index.to_string()),
            ("applied_index", status.applied_index.to_string()),
            ("last_index", status.last_index.to_string()),
            ("members", pairs(&status.members)),
            ("member_clients", pairs(&status.clients)),
            ("voters", join(&status.voters)),
            ("learners", join(&status.learners)),
            ("joint", joint),
            ("leader_elections_won", status.leader_elections.to_string()),
            ("proposals", status.proposals.to_string()),
            ("leader_changes", metrics.leader_changes().to_string()),
            (
                "state_machine_version",
                facts.state_machine_version.to_string(),
            ),
            ("wal_fsync_buckets", fsync_buckets(metrics)),
        ],
    }
}

fn keyspace(facts: &ServerFacts) -> Section {
    let mut lines = Vec::new();
    if facts.keys > 0 {
        lines.push(("db0", format!("keys={},expires=0,avg_ttl=0", facts.keys)));
    }
    Section {
        name: "keyspace",
        title: "Keyspace",
        lines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(section: Option<&str>, keys: i64) -> String {
        let mut status = NodeStatus::starting(1, 7, Default::default());
        status.role = raft_core::Role::Leader;
        status.leader_id = Some(1);
        status.voters = vec![1, 2, 3];
        let facts = ServerFacts {
            tcp_port: 6001,
            max_clients: 10_000,
            keys,
            blocked_clients: 2,
            blocking_keys: 1,
            state_machine_version: 2,
            pubsub: [3, 2, 1],
        };
        let sections: Vec<Vec<u8>> = section
            .map(|s| s.split(' ').map(|w| w.as_bytes().to_vec()).collect())
            .unwrap_or_default();
        let bytes = render(&status, &Metrics::default(), &facts, &sections);
        String::from_utf8(bytes).expect("INFO is text")
    }

    fn field<'a>(info: &'a str, key: &str) -> Vec<&'a str> {
        info.lines()
            .filter_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .collect()
    }

    #[test]
    fn info_has_redis_sections_and_one_raft_role_line() {
        let all = text(None, 42);
        let titles: Vec<&str> = all.lines().filter(|l| l.starts_with("# ")).collect();
        assert_eq!(
            titles,
            [
                "# Server",
                "# Clients",
                "# Memory",
                "# Persistence",
                "# Stats",
                "# Replication",
                "# CPU",
                "# Raft",
                "# Keyspace"
            ]
        );
        assert_eq!(field(&all, "redis_version"), [REDIS_COMPAT_VERSION]);
        assert_eq!(
            field(&all, "role"),
            ["master", "leader"],
            "Redis's role in Replication, the Raft role in Raft"
        );
        assert_eq!(super::field(&all, "role"), Some("leader"), "Raft's first");
        assert_eq!(
            super::field(&all, "tcp_port"),
            Some("6001"),
            "then anywhere"
        );
        assert_eq!(field(&all, "connected_slaves"), ["2"]);
        assert_eq!(field(&all, "tcp_port"), ["6001"]);
        assert_eq!(field(&all, "db0"), ["keys=42,expires=0,avg_ttl=0"]);
        assert_eq!(field(&all, "pubsub_channels"), ["3"]);
        assert_eq!(field(&all, "pubsub_patterns"), ["2"]);
        assert_eq!(field(&all, "pubsubshard_channels"), ["1"]);
        assert!(field(&all, "used_memory")[0].parse::<u64>().expect("bytes") > 0);
        assert!(
            all.lines()
                .all(|l| l.is_empty() || l.starts_with('#') || l.contains(':'))
        );
    }

    #[test]
    fn a_section_argument_limits_the_output() {
        let raft = text(Some("raft"), 0);
        assert!(raft.starts_with("# Raft\r\n") && !raft.lines().any(|l| l == "# Server"));
        let replication = text(Some("REPLICATION"), 0);
        let titles: Vec<&str> = replication
            .lines()
            .filter(|l| l.starts_with("# "))
            .collect();
        assert_eq!(titles, ["# Replication", "# Raft"]);
        assert_eq!(
            text(Some("keyspace"), 0),
            "# Keyspace\r\n\r\n",
            "no db0 when empty"
        );
    }

    #[test]
    fn per_command_sections_come_with_all_or_by_name_and_sections_combine() {
        let titles = |t: &str| -> Vec<String> {
            t.lines()
                .filter(|l| l.starts_with("# "))
                .map(String::from)
                .collect()
        };
        assert!(!titles(&text(None, 0)).contains(&"# Commandstats".to_string()));
        assert!(!titles(&text(Some("default"), 0)).contains(&"# Commandstats".to_string()));
        assert!(titles(&text(Some("all"), 0)).contains(&"# Commandstats".to_string()));
        assert_eq!(titles(&text(Some("commandSTATS"), 0)), ["# Commandstats"]);
        assert_eq!(titles(&text(Some("cpu raft"), 0)), ["# CPU", "# Raft"]);
    }
}
