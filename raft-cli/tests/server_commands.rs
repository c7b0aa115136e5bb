//! Redis's server commands on a real node: SAVE and BGSAVE take a snapshot,
//! neither may be queued in MULTI, and SHUTDOWN stops the node gracefully
//! (exit 0) after closing the connection without a reply, as Redis does.

mod common;

use common::{Cluster, connect, wait_until};
use raft_kv::Reply;
use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn reply(r: &mut BufReader<TcpStream>) -> Reply {
    raft_kv_server::client::read_reply(r).expect("a reply")
}

fn snapshots_taken(c: &Cluster) -> u64 {
    c.info(1, "snapshots_taken")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn save_snapshots_and_shutdown_stops_the_node_without_a_reply() {
    let mut c = Cluster::start(1);
    c.wait_for_leader(Duration::from_secs(10));
    let (mut s, mut r) = connect(&c.client[0]);
    s.write_all(b"SET k v\r\nSAVE\r\nBGSAVE\r\nMULTI\r\nSAVE\r\nSHUTDOWN\r\nDISCARD\r\n")
        .expect("send");
    assert_eq!(reply(&mut r), Reply::ok());
    assert_eq!(reply(&mut r), Reply::ok(), "SAVE");
    assert_eq!(
        reply(&mut r),
        Reply::Simple("Background saving started".into())
    );
    assert_eq!(reply(&mut r), Reply::ok(), "MULTI");
    for name in ["save", "shutdown"] {
        assert_eq!(
            reply(&mut r),
            Reply::Error(raft_kv_state::ReplyError::from_line(&format!(
                "ERR Command not allowed inside a transaction: '{name}'"
            )))
        );
    }
    assert_eq!(reply(&mut r), Reply::ok(), "DISCARD");
    wait_until(
        "SAVE and BGSAVE took snapshots",
        Duration::from_secs(10),
        || snapshots_taken(&c) >= 2,
    );
    s.write_all(b"SHUTDOWN NOSAVE\r\n").expect("send");
    let mut rest = Vec::new();
    let _ = r.read_to_end(&mut rest);
    assert!(rest.is_empty(), "no reply before the close: {rest:?}");
    let child = c.procs[0].as_mut().expect("running");
    wait_until("the node exits", Duration::from_secs(15), || {
        child.try_wait().ok().flatten().is_some()
    });
    let status = child.try_wait().expect("wait").expect("exited");
    assert!(status.success(), "a graceful stop exits 0: {status}");
    c.procs[0] = None;
}

/// The lines of one `INFO` section that start with `prefix`, sorted.
fn info_lines(
    r: &mut BufReader<TcpStream>,
    s: &mut TcpStream,
    section: &str,
    prefix: &str,
) -> Vec<String> {
    s.write_all(format!("INFO {section}\r\n").as_bytes())
        .expect("send");
    let Reply::Bulk(Some(text)) = reply(r) else {
        panic!("INFO {section} answers a bulk string");
    };
    let mut lines: Vec<String> = String::from_utf8_lossy(&text)
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

#[test]
fn errorstats_count_each_code_and_commandstats_tell_failed_from_rejected() {
    let c = Cluster::start(1);
    c.wait_for_leader(Duration::from_secs(10));
    let (mut s, mut r) = connect(&c.client[0]);
    // What Redis 7.0.15 answers to the same five requests: one WRONGTYPE
    // and one NOSCRIPT from commands that ran (failed), one ERR for a name
    // no command has, and one ERR for an arity the command refused
    // (rejected, not run).
    s.write_all(
        b"SET k v\r\nLPUSH k x\r\nFOO\r\nEVALSHA deadbeefdeadbeefdeadbeefdeadbeefdeadbeef 0\r\nGET\r\n",
    )
    .expect("send");
    for _ in 0..5 {
        reply(&mut r);
    }
    assert_eq!(
        info_lines(&mut r, &mut s, "errorstats", "errorstat_"),
        [
            "errorstat_ERR:count=2",
            "errorstat_NOSCRIPT:count=1",
            "errorstat_WRONGTYPE:count=1"
        ]
    );
    let stats = info_lines(&mut r, &mut s, "commandstats", "cmdstat_");
    let counts = |name: &str| -> String {
        let line = stats
            .iter()
            .find(|l| l.starts_with(&format!("cmdstat_{name}:")))
            .unwrap_or_else(|| panic!("no cmdstat_{name} in {stats:?}"));
        let fields: Vec<&str> = line
            .split([':', ','])
            .filter(|f| {
                f.starts_with("calls=") || f.starts_with("rejected_") || f.starts_with("failed_")
            })
            .collect();
        fields.join(",")
    };
    assert_eq!(counts("set"), "calls=1,rejected_calls=0,failed_calls=0");
    assert_eq!(counts("lpush"), "calls=1,rejected_calls=0,failed_calls=1");
    assert_eq!(counts("evalsha"), "calls=1,rejected_calls=0,failed_calls=1");
    assert_eq!(counts("get"), "calls=0,rejected_calls=1,failed_calls=0");
    assert!(
        !stats.iter().any(|l| l.starts_with("cmdstat_foo")),
        "an unknown name has no line: {stats:?}"
    );
}
