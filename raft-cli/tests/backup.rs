//! `raft-cli backup` of a live cluster under write load, and `raft-cli restore`
//! of it into a new cluster.

mod common;

use common::{BIN, Cluster, Reaped, free_port, peer_ip, run_cli, wait_until};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn info_field(addr: &str, field: &str) -> Option<String> {
    let info = raft_kv_server::Client::new(vec![addr.to_string()])
        .ok()?
        .info()
        .ok()?;
    raft_kv_server::info::field(&info, field).map(str::to_string)
}

/// Writes w0, w1, ... through `endpoints` until `stop`; records each
/// acknowledged write with the time of its acknowledgement.
fn write_load(
    endpoints: Vec<String>,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<(u64, Instant)>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut client = raft_kv_server::Client::new(endpoints).expect("endpoints");
        let mut n = 0u64;
        while !stop.load(Ordering::SeqCst) {
            if client
                .set(format!("w{n}").as_bytes(), n.to_string().as_bytes())
                .is_ok()
            {
                acked
                    .lock()
                    .expect("no poisoning")
                    .push((n, Instant::now()));
            }
            n += 1;
        }
    })
}

/// A new three-member cluster restored from `file` under `dir`: its nodes
/// (killed on drop), client addresses and peer addresses.
fn restore_new_cluster(
    file: &std::path::Path,
    dir: &std::path::Path,
) -> (Vec<Reaped>, Vec<String>, Vec<String>) {
    let peers: Vec<String> = (1..=3)
        .map(|i| format!("{}:{}", peer_ip(i), free_port()))
        .collect();
    let clients: Vec<String> = (1..=3)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    let list: Vec<String> = peers
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{}={p}", i + 1))
        .collect();
    let list = list.join(",");
    let mut nodes = Vec::new();
    for i in 1..=3usize {
        let data = dir.join(format!("new{i}"));
        let restore = || {
            run_cli(&[
                "restore",
                file.to_str().expect("utf-8 path"),
                "--data-dir",
                data.to_str().expect("utf-8 path"),
                "--id",
                &i.to_string(),
                "--initial-cluster",
                &list,
            ])
        };
        let out = restore();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !restore().status.success(),
            "a data dir is restored once, never over itself"
        );
        nodes.push(Reaped(
            Command::new(BIN)
                .args(["node", "--id", &i.to_string(), "--data-dir"])
                .arg(&data)
                .args([
                    "--listen-peer",
                    &peers[i - 1],
                    "--listen-client",
                    &clients[i - 1],
                ])
                .args(["--initial-cluster", &list])
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn a restored node"),
        ));
    }
    wait_until(
        "the new cluster to elect a leader",
        Duration::from_secs(15),
        || {
            clients
                .iter()
                .any(|a| info_field(a, "role").as_deref() == Some("leader"))
        },
    );
    (nodes, clients, peers)
}

#[test]
fn a_backup_under_write_load_restores_into_a_new_cluster_with_every_acknowledged_write() {
    let c = Cluster::start(3);
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::default();
    let writer = write_load(c.client.clone(), stop.clone(), acked.clone());
    std::thread::sleep(Duration::from_millis(500));
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("cluster.backup");
    let started = Instant::now();
    let out = run_cli(&[
        "--endpoints",
        &c.client.join(","),
        "backup",
        file.to_str().expect("utf-8 path"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(said.starts_with("backup at index "), "{said}");
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::SeqCst);
    writer.join().expect("the writer ends");
    let before: Vec<u64> = acked
        .lock()
        .expect("no poisoning")
        .iter()
        .filter(|(_, at)| *at < started)
        .map(|(n, _)| *n)
        .collect();
    assert!(before.len() > 10, "the load ran: {} writes", before.len());

    let (_nodes, clients, peers) = restore_new_cluster(&file, dir.path());
    assert_ne!(
        info_field(&clients[0], "cluster_id"),
        info_field(&c.client[0], "cluster_id"),
        "a restored cluster is a new cluster"
    );
    let mut client = raft_kv_server::Client::new(clients.clone()).expect("endpoints");
    for n in &before {
        assert_eq!(
            client.get(format!("w{n}").as_bytes()).expect("a read"),
            Some(n.to_string().into_bytes()),
            "write w{n}, acknowledged before the backup started"
        );
    }
    client
        .set(b"after-restore", b"1")
        .expect("the new cluster takes writes");
    let members = info_field(&clients[0], "members").unwrap_or_default();
    for p in &peers {
        assert!(
            members.contains(p.as_str()),
            "new addresses only: {members}"
        );
    }
    assert!(!members.contains(&c.peer[0]), "no old address: {members}");
}
