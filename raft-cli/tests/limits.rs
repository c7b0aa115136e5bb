//! Resource limits refuse clients instead of failing the node.

mod common;

use common::{BIN, Reaped, connect, free_port, wait_until};
use raft_kv::Reply;
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

fn ask(s: &mut TcpStream, r: &mut BufReader<TcpStream>, cmd: &[u8]) -> Option<Reply> {
    s.write_all(cmd).ok()?;
    raft_kv_server::client::read_reply(r).ok()
}

#[test]
fn clients_beyond_the_descriptor_budget_are_refused_and_storage_keeps_working() {
    let dir = tempfile::tempdir().expect("temp dir");
    // 400 descriptors: 256 are kept for storage and peers, 144 for clients.
    let (mut node, client) = one_node(dir.path(), Some(400), &[]);
    let mut open = Vec::new();
    let mut refused = 0;
    for _ in 0..420 {
        let mut s = TcpStream::connect(&client).expect("the listener accepts");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut r = BufReader::new(s.try_clone().expect("clone"));
        match ask(&mut s, &mut r, b"PING\r\n") {
            Some(Reply::Simple(p)) if p == "PONG" => open.push((s, r)),
            Some(Reply::Error(e)) => {
                assert_eq!(e, "ERR max number of clients reached");
                refused += 1;
            }
            other => panic!("a client gets PONG or a clear refusal, not {other:?}"),
        }
    }
    assert_eq!(open.len(), 144, "every client within the budget is served");
    assert_eq!(
        refused, 276,
        "more clients than descriptors: the rest are told why"
    );
    // With every client slot taken, the storage still gets its descriptors.
    let (s, r) = open.last_mut().expect("a served client");
    assert_eq!(ask(s, r, b"SET k v\r\n"), Some(Reply::Simple("OK".into())));
    assert_eq!(
        ask(s, r, b"RAFT.SNAPSHOT\r\n"),
        Some(Reply::Simple("OK".into()))
    );
    assert_eq!(ask(s, r, b"SET k w\r\n"), Some(Reply::Simple("OK".into())));
    assert!(
        node.0.try_wait().expect("wait").is_none(),
        "the node still runs"
    );
    // A freed slot is served again.
    open.truncate(100);
    wait_until("a freed slot to be served", Duration::from_secs(5), || {
        let Ok(mut s) = TcpStream::connect(&client) else {
            return false;
        };
        let mut r = BufReader::new(s.try_clone().expect("clone"));
        ask(&mut s, &mut r, b"PING\r\n") == Some(Reply::Simple("PONG".into()))
    });
}

/// Starts a one-node cluster with `extra` flags, under `ulimit -n` if given;
/// returns the node and its client address once it leads.
fn one_node(dir: &std::path::Path, fd_limit: Option<u32>, extra: &[&str]) -> (Reaped, String) {
    let (peer, client) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let mut cmd = match fd_limit {
        Some(n) => {
            let mut c = Command::new("sh");
            c.args(["-c", &format!("ulimit -n {n} && exec \"$0\" \"$@\""), BIN]);
            c
        }
        None => Command::new(BIN),
    };
    cmd.args(["node", "--id", "1", "--data-dir"])
        .arg(dir)
        .args(["--listen-peer", &peer, "--listen-client", &client])
        .args([
            "--initial-cluster",
            &format!("1={peer}"),
            "--initial-cluster-token",
            "t",
        ])
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let node = Reaped(cmd.spawn().expect("spawn node"));
    wait_until("the node leads", Duration::from_secs(10), || {
        raft_kv_server::Client::new(vec![client.clone()])
            .and_then(|mut c| c.info())
            .is_ok_and(|i| i.contains("role:leader"))
    });
    (node, client)
}

#[test]
fn a_half_sent_request_is_cut_off_with_an_error_and_an_idle_client_is_closed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_node, client) = one_node(
        dir.path(),
        None,
        &[
            "--request-read-timeout-ms",
            "400",
            "--client-idle-timeout-ms",
            "600",
        ],
    );
    let (mut s, mut r) = connect(&client);
    s.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhal")
        .expect("send");
    let t0 = std::time::Instant::now();
    let reply = raft_kv_server::client::read_reply(&mut r).expect("an error, then the close");
    assert!(
        matches!(&reply, Reply::Error(e) if e.line().contains("not completed within")),
        "{reply:?}"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "cut off near its deadline"
    );
    assert!(
        raft_kv_server::client::read_reply(&mut r).is_err(),
        "closed"
    );
    // A client that keeps sending whole requests is never cut off.
    let (mut s, mut r) = connect(&client);
    for _ in 0..8 {
        assert_eq!(
            ask(&mut s, &mut r, b"PING\r\n"),
            Some(Reply::Simple("PONG".into()))
        );
        std::thread::sleep(Duration::from_millis(150));
    }
    // An idle one is closed after the idle timeout.
    std::thread::sleep(Duration::from_millis(1200));
    assert!(
        ask(&mut s, &mut r, b"PING\r\n").is_none(),
        "idle connection closed"
    );
    let mut c = raft_kv_server::Client::new(vec![client]).expect("endpoint");
    assert!(
        c.get(b"k").expect("the node serves").is_none(),
        "nothing half-sent was applied"
    );
}

#[test]
fn unfinished_requests_beyond_the_shared_buffer_limit_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_node, client) = one_node(dir.path(), None, &["--client-buffer-limit-mb", "4"]);
    // Two clients each start a 3 MB value: the second one crosses 4 MB.
    let value = vec![b'x'; 3 << 20];
    let header = format!("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n${}\r\n", value.len() + 1);
    let mut held = Vec::new();
    for _ in 0..2 {
        let (mut s, r) = connect(&client);
        let _ = s
            .write_all(header.as_bytes())
            .and_then(|()| s.write_all(&value));
        std::thread::sleep(Duration::from_millis(300)); // the node buffers it
        held.push((s, r));
    }
    let mut outcomes = Vec::new();
    for (_, r) in &mut held {
        r.get_ref()
            .set_read_timeout(Some(Duration::from_millis(500)))
            .expect("timeout");
        outcomes.push(raft_kv_server::client::read_reply(r));
    }
    assert!(
        outcomes[0].is_err(),
        "the first request waits for its last byte: {outcomes:?}"
    );
    assert!(
        matches!(&outcomes[1], Ok(Reply::Error(e)) if e.line().contains("request buffers are full")),
        "the second is refused, and the client reads why: {outcomes:?}"
    );
    drop(held);
    // Once they are gone the budget is free again.
    let mut c = raft_kv_server::Client::new(vec![client]).expect("endpoint");
    c.set(b"after", &vec![b'y'; 3 << 20])
        .expect("a 3 MB value fits again");
}

/// A field of `/proc/PID/status` (`Threads`, `VmRSS` in KiB).
fn proc_status(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

#[test]
fn idle_clients_cost_no_thread_and_little_memory() {
    const CLIENTS: usize = 2000;
    let dir = tempfile::tempdir().expect("temp dir");
    let (node, client) = one_node(dir.path(), Some(4096), &[]);
    let pid = node.0.id();
    let (threads_before, rss_before) = (proc_status(pid, "Threads"), proc_status(pid, "VmRSS"));
    let mut open = Vec::new();
    for _ in 0..CLIENTS {
        let mut s = TcpStream::connect(&client).expect("the listener accepts");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut r = BufReader::new(s.try_clone().expect("clone"));
        assert_eq!(
            ask(&mut s, &mut r, b"PING\r\n"),
            Some(Reply::Simple("PONG".into()))
        );
        open.push((s, r));
    }
    let threads = proc_status(pid, "Threads");
    let rss_kib = proc_status(pid, "VmRSS").saturating_sub(rss_before);
    assert!(
        threads <= threads_before + 2,
        "{CLIENTS} clients are served by the I/O threads, not a thread each ({threads_before} -> {threads} threads)"
    );
    assert!(
        rss_kib < (CLIENTS as u64) * 8,
        "an idle client costs a few KiB at most ({rss_kib} KiB for {CLIENTS})"
    );
    // Every one of them is still served, in its own program order.
    for (i, (s, r)) in open.iter_mut().enumerate().step_by(97) {
        let key = format!("k{i}");
        let cmds = format!(
            "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n$1\r\n1\r\n*2\r\n$4\r\nINCR\r\n${}\r\n{key}\r\n*2\r\n$3\r\nGET\r\n${}\r\n{key}\r\n",
            key.len(),
            key.len(),
            key.len()
        );
        s.write_all(cmds.as_bytes()).expect("send");
        let replies: Vec<Option<Reply>> = (0..3)
            .map(|_| raft_kv_server::client::read_reply(r).ok())
            .collect();
        assert_eq!(
            replies,
            [
                Some(Reply::Simple("OK".into())),
                Some(Reply::Int(2)),
                Some(Reply::Bulk(Some(b"2".to_vec())))
            ],
            "a pipelined read sees the writes sent before it"
        );
    }
}
