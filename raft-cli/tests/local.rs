//! `raft-cli local` as a demonstration of Raft: a node killed with -9 is
//! reported while the others keep serving, `--restart-crashed` brings it back,
//! the children die with `local` even when it is killed with -9, and a data
//! dir of another cluster size is refused.

mod common;

use common::{BIN, free_port, wait_until};
use raft_kv_server::Client;
use std::process::{Command, Stdio};
use std::time::Duration;

/// `n` consecutive free ports, taken from `free_port` so that no other port
/// this test asks for falls among them.
fn free_ports(n: u16) -> u16 {
    'search: loop {
        let base = free_port();
        for k in 1..n {
            if free_port() != base + k {
                continue 'search;
            }
        }
        return base;
    }
}

fn info_of(addr: &str, field: &str) -> Option<String> {
    let info = Client::new(vec![addr.to_string()]).ok()?.info().ok()?;
    raft_kv_server::info::field(&info, field).map(str::to_string)
}

#[test]
fn local_keeps_serving_through_a_killed_node_restarts_it_and_takes_its_children_along() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (peer, client) = (free_ports(3), free_ports(3));
    let clients: Vec<String> = (0..3)
        .map(|k| format!("127.0.0.1:{}", client + k))
        .collect();
    let mut local = common::Reaped(
        Command::new(BIN)
            .args(["local", "--nodes", "3", "--restart-crashed", "--data-dir"])
            .arg(dir.path())
            .args([
                "--peer-port",
                &peer.to_string(),
                "--client-port",
                &client.to_string(),
            ])
            .args(["--", "--tick-ms", "20"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn raft-cli local"),
    );
    wait_until("a leader", Duration::from_secs(20), || {
        clients
            .iter()
            .any(|c| info_of(c, "role").as_deref() == Some("leader"))
    });
    let mut all = Client::new(clients.clone()).expect("endpoints");
    all.set(b"k", b"v").expect("write");
    let first_pid = info_of(&clients[0], "process_id").expect("node 1's pid");
    let killed = Command::new("kill")
        .args(["-9", &first_pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let mut survivors = Client::new(clients[1..].to_vec()).expect("endpoints");
    wait_until(
        "a write through the survivors",
        Duration::from_secs(20),
        || survivors.set(b"after", b"kill").is_ok(),
    );
    wait_until("node 1 restarted", Duration::from_secs(20), || {
        info_of(&clients[0], "process_id").is_some_and(|pid| pid != first_pid)
    });
    let mut one = Client::new(vec![clients[0].clone()]).expect("endpoint");
    wait_until("node 1 caught up", Duration::from_secs(20), || {
        one.get(b"after").ok().flatten().as_deref() == Some(&b"kill"[..])
    });
    // kill -9 of `local` itself: the children go too (no orphans holding ports).
    local.0.kill().expect("kill local");
    let _ = local.0.wait();
    wait_until(
        "every node to stop with local",
        Duration::from_secs(20),
        || {
            clients
                .iter()
                .all(|c| std::net::TcpStream::connect(c).is_err())
        },
    );
    // A data dir of 3 nodes is not started as 5.
    let out = Command::new(BIN)
        .args(["local", "--nodes", "5", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("run local");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("--nodes 3"), "{err}");
}

#[test]
fn stopping_local_stops_the_followers_first_and_the_leader_without_a_futile_hand_over() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (peer, client) = (free_ports(3), free_ports(3));
    let clients: Vec<String> = (0..3)
        .map(|k| format!("127.0.0.1:{}", client + k))
        .collect();
    let log = dir.path().join("local.log");
    let log_file = std::fs::File::create(&log).expect("log file");
    let mut local = common::Reaped(
        Command::new(BIN)
            .args(["local", "--nodes", "3", "--data-dir"])
            .arg(dir.path().join("data"))
            .args([
                "--peer-port",
                &peer.to_string(),
                "--client-port",
                &client.to_string(),
            ])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("spawn raft-cli local"),
    );
    wait_until("a leader", Duration::from_secs(20), || {
        clients
            .iter()
            .any(|c| info_of(c, "role").as_deref() == Some("leader"))
    });
    let sent = Command::new("kill")
        .args(["-INT", &local.0.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(sent.success());
    let status = local.0.wait().expect("local exits");
    assert!(status.success(), "local exits 0 on Ctrl-C: {status}");
    let text = std::fs::read_to_string(&log).expect("read the log");
    assert!(
        !text.contains("did not complete"),
        "no futile leadership transfer when the whole cluster stops:\n{text}"
    );
    assert!(
        text.contains("stopping without a leadership hand-over"),
        "the leader, stopped last, saw no voter left to hand over to:\n{text}"
    );
    assert!(!text.contains("did not stop in time"), "{text}");
}
