//! Resource limits refuse clients instead of failing the node.

mod common;

use common::{BIN, Reaped, free_port, wait_until};
use raft_kv::Reply;
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

fn ask(s: &mut TcpStream, r: &mut BufReader<TcpStream>, cmd: &[u8]) -> Option<Reply> {
    s.write_all(cmd).ok()?;
    raft_kv::client::read_reply(r).ok()
}

#[test]
fn clients_beyond_the_descriptor_budget_are_refused_and_storage_keeps_working() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (peer, client) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    // 400 descriptors: 256 are kept for storage and peers, 144 for clients.
    let script = "ulimit -n 400 && exec \"$0\" \"$@\"";
    let mut node = Reaped(
        Command::new("sh")
            .args(["-c", script, BIN, "node", "--id", "1", "--data-dir"])
            .arg(dir.path())
            .args(["--listen-peer", &peer, "--listen-client", &client])
            .args([
                "--initial-cluster",
                &format!("1={peer}"),
                "--initial-cluster-token",
                "t",
            ])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn node"),
    );
    wait_until("the node leads", Duration::from_secs(10), || {
        raft_kv::Client::new(vec![client.clone()])
            .and_then(|mut c| c.info())
            .is_ok_and(|i| i.contains("role:leader"))
    });
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
