//! Issue 4 end to end on real processes: compaction under load, a node that
//! joins and catches up through InstallSnapshot, promotion, removal of the
//! leader, restart from snapshot plus WAL tail, identical state everywhere.

mod common;

use common::{Cluster, free_port, wait_until};
use raft_kv::Reply;
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Writes `n` keys through `addr` with pipelined batches; every write must be acknowledged.
fn bulk_write(addr: &str, n: usize) {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut w = s.try_clone().expect("clone");
    let mut r = BufReader::new(s);
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let mut req = Vec::new();
        for i in chunk {
            req.extend_from_slice(format!("SET k{i} v{i}\r\n").as_bytes());
        }
        w.write_all(&req).expect("write");
        for _ in chunk {
            let reply = raft_kv_server::client::read_reply(&mut r).expect("reply");
            assert_eq!(reply, Reply::Simple("OK".into()));
        }
    }
}

fn call(addr: &str, args: &[&str]) -> Reply {
    let mut c = raft_kv_server::Client::new(vec![addr.to_string()]).expect("endpoint");
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    c.call_here(&args).expect("reply")
}

fn info_field(addr: &str, field: &str) -> String {
    match call(addr, &["INFO"]) {
        Reply::Bulk(Some(b)) => String::from_utf8_lossy(&b)
            .lines()
            .find_map(|l| {
                l.strip_prefix(field)
                    .and_then(|r| r.strip_prefix(':'))
                    .map(|v| v.trim().to_string())
            })
            .unwrap_or_default(),
        other => panic!("INFO: {other:?}"),
    }
}

fn local_get(addr: &str, key: &str) -> Option<Vec<u8>> {
    let mut c = raft_kv_server::Client::new(vec![addr.to_string()]).expect("endpoint");
    c.call_here(&[b"READONLY"]).expect("READONLY");
    match c.call_here(&[b"GET", key.as_bytes()]).expect("GET") {
        Reply::Bulk(v) => v,
        other => panic!("GET: {other:?}"),
    }
}

#[test]
fn compaction_join_by_snapshot_promotion_leader_removal_and_restart() {
    let mut c = Cluster::start_with(3, &["--snapshot-every", "10000"]);
    let leader = c.wait_for_leader(Duration::from_secs(10));
    bulk_write(&c.client[leader - 1], 50_000);
    // Every node compacted: a snapshot file exists and the WAL was cut.
    for i in 1..=3 {
        let snap = c.data_dir(i).join("raft").join("snapshot");
        wait_until(
            &format!("node {i} to take a snapshot"),
            Duration::from_secs(20),
            || snap.exists(),
        );
    }
    assert_eq!(
        call(&c.client[0], &["RAFT.SNAPSHOT"]),
        Reply::Simple("OK".into()),
        "on-demand snapshot"
    );

    let (_node4, peer4, client4) = join_node_4_by_snapshot(&c);

    // A second change while one is in progress is refused with a clear error;
    // promoting the learner works once the first is done.
    assert_eq!(
        call(&c.client[0], &["RAFT.ADDNODE", "4", &peer4]),
        Reply::Simple("OK".into()),
        "promotion"
    );
    wait_until("node 4 to vote", Duration::from_secs(10), || {
        info_field(&client4, "voters") == "1,2,3,4"
    });
    // `status` given one endpoint finds all four members and asks each.
    wait_until(
        "status to show 4 healthy members",
        Duration::from_secs(10),
        || {
            let out = common::run_cli(&["--endpoints", &c.client[0], "status", "--json"]);
            let view: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            let rows = view["members"].as_array().cloned().unwrap_or_default();
            let healthy = rows.iter().filter(|r| r["health"] == "ok").count();
            let ids: Vec<u64> = rows.iter().filter_map(|r| r["id"].as_u64()).collect();
            ids == [1, 2, 3, 4] && healthy == 4 && rows[3]["address"] == client4.as_str()
        },
    );
    let out = common::run_cli(&["--endpoints", &c.client[0], "status"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        table.lines().filter(|l| l.ends_with(" ok")).count(),
        4,
        "one row per member:\n{table}"
    );

    let (others, endpoints, mut client) = remove_the_leader(&c, &client4);

    // A member restarted after compaction recovers from snapshot plus WAL tail.
    let restart = others[1];
    assert_eq!(c.sigterm(restart).code(), Some(0));
    c.start_node(restart);
    client.set(b"final", b"1").expect("final write");

    assert_members_agree(&endpoints);
}

#[test]
fn a_membership_change_is_answered_once_complete_so_the_next_one_is_accepted() {
    let c = Cluster::start(3);
    let leader = c.wait_for_leader(Duration::from_secs(10));
    let follower = 1 + leader % 3;
    let ok = Reply::Simple("OK".into());
    let fourth = format!("{}:{}", common::peer_ip(4), free_port());
    // Each change is sent the moment the previous one is answered: added
    // through a follower (which answers once it applied the change), removed
    // through the leader, which must not find the first still in progress.
    // Node 4 never starts: three of four voters are still a quorum.
    for round in 0..10 {
        let learner = round % 2 == 1;
        let mut add = vec!["RAFT.ADDNODE", "4", fourth.as_str()];
        if learner {
            add.push("LEARNER");
        }
        assert_eq!(
            call(&c.client[follower - 1], &add),
            ok,
            "round {round}: add"
        );
        assert_eq!(
            call(&c.client[leader - 1], &["RAFT.REMOVENODE", "4"]),
            ok,
            "round {round}: remove right after the add was answered"
        );
    }
    assert_eq!(info_field(&c.client[leader - 1], "voters"), "1,2,3");
    assert_eq!(info_field(&c.client[leader - 1], "learners"), "");
}

/// Node 4 joins empty and is added as a learner; the log it needs is compacted,
/// so it catches up through InstallSnapshot.
fn join_node_4_by_snapshot(c: &Cluster) -> (common::Reaped, String, String) {
    let dir4 = c.dir.path().join("n4");
    let (peer4, client4) = (
        format!("{}:{}", common::peer_ip(4), free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let node4 = common::Reaped(
        Command::new(common::BIN)
            .args(["node", "--id", "4", "--join", "--data-dir"])
            .arg(&dir4)
            .args(["--listen-peer", &peer4, "--listen-client", &client4])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn node 4"),
    );
    wait_until("node 4's client port", Duration::from_secs(10), || {
        TcpStream::connect(&client4).is_ok()
    });
    assert_eq!(
        call(&c.client[1], &["RAFT.ADDNODE", "4", &peer4, "LEARNER"]),
        Reply::Simple("OK".into())
    );
    wait_until("node 4 to catch up", Duration::from_secs(30), || {
        local_get(&client4, "k49999").as_deref() == Some(&b"v49999"[..])
    });
    // Its snapshot may predate its own addition; the entries after it add it.
    wait_until(
        "node 4 to see itself as a learner",
        Duration::from_secs(10),
        || info_field(&client4, "learners") == "4",
    );
    let spool = std::fs::read_dir(dir4.join("incoming-snapshots"))
        .expect("node 4 spools incoming snapshots")
        .count();
    assert_eq!(spool, 0, "the spooled snapshot was installed and removed");
    (node4, peer4, client4)
}

/// Removes the leader; the others (and node 4) keep serving. Returns the
/// remaining original members, every remaining endpoint, and a client on them.
fn remove_the_leader(
    c: &Cluster,
    client4: &str,
) -> (Vec<usize>, Vec<String>, raft_kv_server::Client) {
    let leader = c.wait_for_leader(Duration::from_secs(10));
    let others: Vec<usize> = (1..=3).filter(|&i| i != leader).collect();
    assert_eq!(
        call(
            &c.client[others[0] - 1],
            &["RAFT.REMOVENODE", &leader.to_string()]
        ),
        Reply::Simple("OK".into())
    );
    let endpoints: Vec<String> = others
        .iter()
        .map(|&i| c.client[i - 1].clone())
        .chain([client4.to_string()])
        .collect();
    let mut client = raft_kv_server::Client::new(endpoints.clone()).expect("endpoints");
    wait_until(
        "a write after removing the leader",
        Duration::from_secs(15),
        || client.set(b"after-removal", b"yes").is_ok(),
    );
    wait_until(
        "the removed leader to leave the voters",
        Duration::from_secs(10),
        || {
            info_field(&endpoints[0], "voters")
                == (1..=4)
                    .filter(|&i| i != leader)
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
        },
    );

    (others, endpoints, client)
}

/// Every member holds the identical map (checked with READONLY reads).
fn assert_members_agree(endpoints: &[String]) {
    for addr in endpoints {
        wait_until(
            "every member to apply the final write",
            Duration::from_secs(15),
            || local_get(addr, "final").as_deref() == Some(&b"1"[..]),
        );
        for key in ["k0", "k12345", "k49999", "after-removal"] {
            assert_eq!(
                local_get(addr, key),
                local_get(&endpoints[0], key),
                "{key} on {addr}"
            );
        }
        assert_eq!(call(addr, &["READONLY"]), Reply::Simple("OK".into()));
    }
    let sizes: Vec<String> = endpoints
        .iter()
        .map(|a| {
            let mut cl = raft_kv_server::Client::new(vec![a.clone()]).expect("endpoint");
            cl.call_here(&[b"READONLY"]).expect("READONLY");
            format!("{:?}", cl.call_here(&[b"DBSIZE"]).expect("DBSIZE"))
        })
        .collect();
    assert!(
        sizes.windows(2).all(|w| w[0] == w[1]),
        "same number of keys everywhere: {sizes:?}"
    );
}

#[test]
fn a_removed_member_stops_and_exits_0_and_leaves_members_everywhere() {
    let mut c = Cluster::start(3);
    let leader = c.wait_for_leader(Duration::from_secs(10));
    let victim = (1..=3).find(|&i| i != leader).expect("a follower");
    assert_eq!(
        call(
            &c.client[leader - 1],
            &["RAFT.REMOVENODE", &victim.to_string()]
        ),
        Reply::Simple("OK".into())
    );
    let mut child = c.procs[victim - 1].take().expect("the victim runs");
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the removed node keeps running:\n{}",
            c.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "a removed member exits 0");
    for i in (1..=3).filter(|&i| i != victim) {
        wait_until(
            "the address to leave members:",
            Duration::from_secs(10),
            || !info_field(&c.client[i - 1], "members").contains(&format!("{victim}=")),
        );
    }
    // The remaining two serve, and quickly.
    let mut client =
        raft_kv_server::Client::new(vec![c.client[leader - 1].clone()]).expect("endpoint");
    let t0 = std::time::Instant::now();
    client
        .set(b"after", b"removal")
        .expect("a write after the removal");
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "took {:?}",
        t0.elapsed()
    );
}
