//! TLS end to end with real processes: members talk mutual TLS on the peer
//! port, `redis-cli --tls` and `raft-cli --tls` work on the client port, a
//! plaintext client is refused there, client certificates are enforced with
//! `--client-ca`, and bad certificates stop a node at start with one line.

mod common;

use common::{Cluster, run_cli};
use raft_testkit::certs::{Issued, TestCa, Validity};
use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;

fn port(addr: &str) -> &str {
    addr.rsplit(':').next().expect("host:port")
}

/// `redis-cli --tls --cacert CA` with `extra` flags; (success, stdout+stderr).
fn redis_cli_tls(ca: &TestCa, addr: &str, extra: &[&str], args: &[&str]) -> (bool, String) {
    let out = Command::new("redis-cli")
        .args(["-p", port(addr), "--tls", "--cacert"])
        .arg(&ca.ca_file)
        .args(extra)
        .args(args)
        .output()
        .expect("redis-cli is installed (.ci/run installs redis-tools)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text.trim_end().to_string())
}

/// `--cert FILE --key FILE` for redis-cli.
fn with(id: &Issued) -> Vec<&str> {
    vec!["--cert", path(&id.cert), "--key", path(&id.key)]
}

fn as_strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn path(p: &std::path::Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// The flags of a node with TLS on both ports, all issued by `ca`.
fn tls_flags<'a>(ca: &'a TestCa, node: &'a Issued) -> Vec<&'a str> {
    vec![
        "--peer-cert",
        path(&node.cert),
        "--peer-key",
        path(&node.key),
        "--peer-ca",
        path(&ca.ca_file),
        "--client-cert",
        path(&node.cert),
        "--client-key",
        path(&node.key),
    ]
}

#[test]
fn a_tls_cluster_serves_tls_clients_and_refuses_plaintext_ones() {
    let pki = tempfile::tempdir().expect("temp dir");
    let ca = TestCa::new(pki.path(), "cluster");
    let node = ca.issue("node", Validity::Current);
    let client_tls = raft_kv::ClientTls::load(&ca.ca_file, None).expect("the CA loads for clients");
    let c = Cluster::start_with_tls(3, &tls_flags(&ca, &node), Some(client_tls));
    // A leader was elected: the members reached each other over mutual TLS.
    let (ok, out) = redis_cli_tls(&ca, &c.client[0], &[], &["SET", "greeting", "hello"]);
    assert!(ok && out == "OK", "{out}");
    let (ok, out) = redis_cli_tls(&ca, &c.client[2], &[], &["GET", "greeting"]);
    assert!(ok && out == "hello", "replicated and read over TLS: {out}");
    let cacert = path(&ca.ca_file).to_string();
    let endpoints = c.client.join(",");
    let out = run_cli(&[
        "--endpoints",
        &endpoints,
        "--tls",
        "--cacert",
        &cacert,
        "get",
        "greeting",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hello");
    // Plaintext RESP on the TLS port: no reply, the connection is closed.
    let mut s = std::net::TcpStream::connect(&c.client[0]).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(b"*1\r\n$4\r\nPING\r\n").expect("write");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    assert!(
        !String::from_utf8_lossy(&buf).contains("PONG"),
        "a plaintext client is not served: {buf:?}"
    );
    let out = Command::new("redis-cli")
        .args(["-p", port(&c.client[0]), "PING"])
        .output()
        .expect("redis-cli");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("PONG"));
    // The node still serves TLS clients after the plaintext ones.
    let (ok, out) = redis_cli_tls(&ca, &c.client[0], &[], &["GET", "greeting"]);
    assert!(ok && out == "hello", "{out}");
    // A client that does not trust the cluster's CA refuses the server.
    let other = TestCa::new(pki.path(), "other");
    let (_, out) = redis_cli_tls(&other, &c.client[0], &[], &["PING"]);
    assert!(!out.contains("PONG"), "{out}");
}

#[test]
fn with_a_client_ca_only_clients_with_a_certificate_from_it_are_served() {
    let pki = tempfile::tempdir().expect("temp dir");
    let ca = TestCa::new(pki.path(), "cluster");
    let node = ca.issue("node", Validity::Current);
    let user = ca.issue("user", Validity::Current);
    let stranger = TestCa::new(pki.path(), "stranger").issue("user", Validity::Current);
    let mut flags = tls_flags(&ca, &node);
    flags.extend(["--client-ca", path(&ca.ca_file)]);
    let client_tls = raft_kv::ClientTls::load(&ca.ca_file, Some((&user.cert, &user.key)))
        .expect("the client identity loads");
    let c = Cluster::start_with_tls(1, &flags, Some(client_tls));
    let (ok, out) = redis_cli_tls(&ca, &c.client[0], &with(&user), &["SET", "k", "v"]);
    assert!(ok && out == "OK", "{out}");
    let (_, out) = redis_cli_tls(&ca, &c.client[0], &[], &["GET", "k"]);
    assert_ne!(out, "v", "served without a client certificate");
    let (_, out) = redis_cli_tls(&ca, &c.client[0], &with(&stranger), &["GET", "k"]);
    assert_ne!(out, "v", "served with a certificate from another CA");
    let (ok, out) = redis_cli_tls(&ca, &c.client[0], &with(&user), &["GET", "k"]);
    assert!(ok && out == "v", "still serving its clients: {out}");
}

/// Starts one node with `flags` and expects it to exit at once with an error
/// containing every one of `expect`.
fn refused_at_start(flags: &[&str], expect: &[&str]) {
    let dir = tempfile::tempdir().expect("temp dir");
    let peer = format!("127.0.0.1:{}", common::free_port());
    let client = format!("127.0.0.1:{}", common::free_port());
    let out = Command::new(common::BIN)
        .args(["node", "--id", "1", "--data-dir"])
        .arg(dir.path().join("n1"))
        .args(["--listen-peer", &peer, "--listen-client", &client])
        .args(["--initial-cluster", &format!("1={peer}")])
        .args(flags)
        .output()
        .expect("run raft-cli node");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "must not start: {err}");
    for e in expect {
        assert!(err.contains(e), "expected {e:?} in: {err}");
    }
}

#[test]
fn bad_certificates_and_incomplete_flags_stop_a_node_at_start() {
    let pki = tempfile::tempdir().expect("temp dir");
    let ca = TestCa::new(pki.path(), "cluster");
    let expired = ca.issue("old", Validity::Expired);
    let foreign = TestCa::new(pki.path(), "foreign").issue("node", Validity::Current);
    let good = ca.issue("node", Validity::Current);
    let peer_flags = |id: &Issued| {
        vec![
            "--peer-cert".to_string(),
            path(&id.cert).to_string(),
            "--peer-key".to_string(),
            path(&id.key).to_string(),
            "--peer-ca".to_string(),
            path(&ca.ca_file).to_string(),
        ]
    };
    let expired_flags = peer_flags(&expired);
    refused_at_start(
        &as_strs(&expired_flags),
        &["--peer-cert", "expired", path(&expired.cert)],
    );
    let foreign_flags = peer_flags(&foreign);
    refused_at_start(
        &as_strs(&foreign_flags),
        &["--peer-cert", "not acceptable to the CA"],
    );
    refused_at_start(
        &[
            "--peer-cert",
            path(&good.cert),
            "--peer-key",
            path(&good.key),
        ],
        &["--peer-ca"],
    );
    refused_at_start(&["--client-cert", path(&good.cert)], &["--client-key"]);
    let missing = pki.path().join("missing.pem");
    refused_at_start(
        &[
            "--client-cert",
            path(&missing),
            "--client-key",
            path(&good.key),
        ],
        &["missing.pem"],
    );
}
