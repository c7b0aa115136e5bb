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
    raft_kv::client::read_reply(r).expect("a reply")
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
            Reply::Error(format!(
                "ERR Command not allowed inside a transaction: '{name}'"
            ))
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
