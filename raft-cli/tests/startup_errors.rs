//! Bad start-ups end with one clear line on stderr and a non-zero exit.

mod common;

use common::{Cluster, free_port, run_cli};
use std::time::Duration;

fn error_lines(out: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains("error"))
        .map(str::to_string)
        .collect()
}

/// Runs node 1 of a one-node cluster to its exit.
fn run_single_node(dir: &std::path::Path, peer: &str, client: &str) -> std::process::Output {
    run_cli(&[
        "node",
        "--id",
        "1",
        "--data-dir",
        dir.to_str().expect("utf-8 path"),
        "--listen-peer",
        peer,
        "--listen-client",
        client,
        "--initial-cluster",
        &format!("1={peer}"),
    ])
}

#[test]
fn a_port_in_use_is_one_clear_line_and_a_non_zero_exit() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let dir = tempfile::tempdir().expect("temp dir");
    let peer = format!("127.0.0.1:{}", free_port());
    let out = run_single_node(dir.path(), &peer, &addr);
    assert!(!out.status.success());
    let lines = error_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains(&addr) && lines[0].contains("cannot listen"),
        "{}",
        lines[0]
    );
}

#[test]
fn bad_flags_are_one_clear_line_and_a_non_zero_exit() {
    let cases: [(&[&str], &str); 5] = [
        (&["node", "--id", "abc"], "invalid value"),
        (
            &[
                "node",
                "--id",
                "1",
                "--data-dir",
                "/tmp/x",
                "--listen-peer",
                "a:1",
                "--listen-client",
                "a:2",
                "--initial-cluster",
                "1=a:1,oops",
            ],
            "initial-cluster",
        ),
        (
            &[
                "node",
                "--id",
                "4",
                "--data-dir",
                "/tmp/x",
                "--listen-peer",
                "a:1",
                "--listen-client",
                "a:2",
                "--initial-cluster",
                "1=a:1",
            ],
            "does not list this node",
        ),
        (&["node", "--data-dir", "/tmp/x"], "--id is required"),
        (
            &[
                "node",
                "--id",
                "1",
                "--data-dir",
                "/tmp/x",
                "--listen-peer",
                "127.0.0.1:7009",
                "--listen-client",
                "a:2",
                "--initial-cluster",
                "1=127.0.0.1:7001",
            ],
            "--listen-peer: the peer listener 127.0.0.1:7009 is not the address 127.0.0.1:7001",
        ),
    ];
    for (args, needle) in cases {
        let out = run_cli(args);
        assert!(!out.status.success(), "{args:?}");
        let lines = error_lines(&out);
        assert_eq!(lines.len(), 1, "{args:?}: {lines:?}");
        assert!(lines[0].contains(needle), "{args:?}: {}", lines[0]);
    }
}

/// Flips a byte in the middle of `path`, restarts node 1 with its usual command
/// line, and returns its single error line (asserting a non-zero exit).
fn restart_after_corrupting(c: &Cluster, path: &std::path::Path) -> String {
    flip_middle_byte(path);
    let out = c
        .node_command(1)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("run");
    assert!(!out.status.success());
    let lines = error_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    lines[0].clone()
}

#[test]
fn a_corrupted_wal_is_refused_with_the_file_and_offset() {
    let mut c = Cluster::start(1);
    let mut client = c.client();
    for i in 0..50 {
        client
            .set(format!("k{i}").as_bytes(), &[7u8; 100])
            .expect("write");
    }
    assert_eq!(c.sigterm(1).code(), Some(0));
    let wal = c.data_dir(1).join("raft").join("wal");
    let seg = std::fs::read_dir(&wal)
        .expect("wal dir")
        .next()
        .expect("a segment")
        .expect("entry")
        .path();
    let line = restart_after_corrupting(&c, &seg);
    assert!(
        line.contains("corrupted") && line.contains(".wal") && line.contains("offset"),
        "{line}"
    );
}

/// A damaged newest snapshot falls back to the previous one plus the log,
/// with every key; with no usable fallback, the node refuses to start with a
/// clear error.
#[test]
fn a_corrupted_snapshot_falls_back_to_the_previous_one_or_is_refused() {
    let mut c = Cluster::start_with(1, &["--snapshot-every", "100"]);
    let mut client = c.client();
    for i in 0..300 {
        client
            .set(format!("k{i}").as_bytes(), b"value")
            .expect("write");
    }
    let raft = c.data_dir(1).join("raft");
    let (snap, prev) = (raft.join("snapshot"), raft.join("snapshot.prev"));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !prev.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "no second snapshot taken"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(c.sigterm(1).code(), Some(0));
    flip_middle_byte(&snap);
    c.start_node(1);
    let mut client = c.client();
    for i in 0..300 {
        assert_eq!(
            client.get(format!("k{i}").as_bytes()).expect("read"),
            Some(b"value".to_vec()),
            "k{i} after the fallback"
        );
    }
    assert!(
        c.logs().contains("falling back to snapshot.prev"),
        "the fallback is logged"
    );
    assert!(raft.join("snapshot.damaged").exists());
    assert_eq!(c.sigterm(1).code(), Some(0));
    if prev.exists() {
        flip_middle_byte(&prev);
    }
    let line = restart_after_corrupting(&c, &snap);
    assert!(
        line.contains("corrupted") && line.contains("snapshot"),
        "{line}"
    );
}

/// Flips a byte in the middle of what was written (a WAL segment is
/// preallocated: its reserved rest reads as zeros).
fn flip_middle_byte(path: &std::path::Path) {
    let mut bytes = std::fs::read(path).expect("read");
    let written = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let mid = written / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(path, &bytes).expect("write");
}

#[test]
fn a_second_node_on_a_data_dir_in_use_is_refused_naming_the_holder() {
    let c = Cluster::start(1);
    let holder = c.procs[0].as_ref().expect("node 1 runs").id();
    let (peer, client) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let out = run_single_node(&c.data_dir(1), &peer, &client);
    assert!(!out.status.success());
    let lines = error_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("in use by process") && lines[0].contains(&holder.to_string()),
        "{}",
        lines[0]
    );
    assert_eq!(
        c.info(1, "role").as_deref(),
        Some("leader"),
        "the first node is untouched"
    );
}

#[test]
fn a_bad_config_file_names_the_file_the_line_and_the_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("node.toml");
    std::fs::write(&file, "data-dir = \"/tmp/n1\"\nid = \"one\"\n").expect("write");
    let out = run_cli(&["node", "--config", file.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(1));
    let lines = error_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let expected = format!(
        "invalid --config {}: line 2 (id = \"one\"): invalid type: string \"one\", expected u64",
        file.display()
    );
    assert!(lines[0].ends_with(&expected), "{}", lines[0]);
}

#[test]
fn restoring_a_file_that_is_not_a_backup_names_it_and_says_what_restore_takes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("notes.txt");
    std::fs::write(&file, "not a backup").expect("write");
    let data = dir.path().join("n1");
    let out = run_cli(&[
        "restore",
        file.to_str().expect("utf-8 path"),
        "--data-dir",
        data.to_str().expect("utf-8 path"),
        "--id",
        "1",
        "--initial-cluster",
        "1=127.0.0.1:7001",
    ]);
    assert!(!out.status.success());
    let lines = error_lines(&out);
    assert_eq!(
        lines,
        [format!(
            "raft-cli: error: {}: not a valid backup: no RAFTKVB1 header; \
             restore takes a file written by `raft-cli backup`",
            file.display()
        )]
    );
    assert!(!data.exists(), "nothing was written");
}

#[test]
fn a_client_command_with_no_reachable_endpoint_says_what_to_check() {
    let nobody = format!("127.0.0.1:{}", free_port());
    for args in [
        &[
            "member",
            "add",
            "4",
            "127.0.0.1:7004",
            "--endpoints",
            &nobody,
        ][..],
        &["backup", "/dev/null", "--endpoints", &nobody],
        &["--endpoints", &nobody, "get", "k"],
    ] {
        let out = run_cli(args);
        assert!(!out.status.success(), "{args:?}");
        let lines = error_lines(&out);
        assert_eq!(lines.len(), 1, "{args:?}: {lines:?}");
        assert!(
            lines[0].contains(&nobody)
                && lines[0].ends_with(
                    "is the cluster running? --endpoints (default \
                     127.0.0.1:6001,6002,6003) must list its client addresses"
                ),
            "{args:?}: {}",
            lines[0]
        );
    }
}
