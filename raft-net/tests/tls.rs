//! Mutual TLS between peers: members of one CA talk, strangers (another CA, no
//! TLS at all, a forged frame in plaintext) are refused, and bad material is a
//! clear error at load time.

use crossbeam_channel::{Receiver, unbounded};
use raft_core::{Message, MessageBody};
use raft_net::frame::{Frame, write_frame};
use raft_net::{Inbox, PeerTls, TcpTransport, TcpTransportConfig, TlsError, TlsFiles, Transport};
use raft_testkit::certs::{Issued, TestCa, Validity};
use std::collections::HashMap;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

fn inbox() -> (Inbox, Receiver<Message>) {
    let (tx, rx) = unbounded();
    (
        Arc::new(move |m| {
            let _ = tx.send(m);
        }),
        rx,
    )
}

fn files(issued: &Issued, ca: &TestCa) -> TlsFiles {
    TlsFiles {
        cert: issued.cert.clone(),
        key: issued.key.clone(),
        ca: Some(ca.ca_file.clone()),
    }
}

fn start(id: u64, tls: Option<PeerTls>) -> (TcpTransport, Receiver<Message>) {
    let (ib, rx) = inbox();
    let mut cfg = TcpTransportConfig::new(id, 7, "127.0.0.1:0");
    cfg.tls = tls;
    cfg.min_backoff = Duration::from_millis(10);
    cfg.max_backoff = Duration::from_millis(50);
    let t = TcpTransport::start(cfg, HashMap::new(), ib).expect("bind");
    (t, rx)
}

/// Links `a` (node 1) and `b` (node 2) as peers of each other.
fn link(a: &TcpTransport, b: &TcpTransport) {
    a.set_peer(2, b.local_addr().to_string());
    b.set_peer(1, a.local_addr().to_string());
}

fn timeout_now(from: u64, to: u64) -> Message {
    Message {
        from,
        to,
        term: 99,
        body: MessageBody::TimeoutNow,
    }
}

fn heartbeat(from: u64, to: u64, term: u64) -> Message {
    Message {
        from,
        to,
        term,
        body: MessageBody::Heartbeat {
            commit: 0,
            read_round: 0,
        },
    }
}

/// Sends heartbeats from `from` until one arrives at `rx` or 2 s pass.
fn delivered(from: &TcpTransport, from_id: u64, to_id: u64, rx: &Receiver<Message>) -> bool {
    for term in 1..=40 {
        from.send(heartbeat(from_id, to_id, term));
        if rx.recv_timeout(Duration::from_millis(50)).is_ok() {
            return true;
        }
    }
    false
}

#[test]
fn members_of_one_ca_exchange_messages_both_ways() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = TestCa::new(dir.path(), "cluster");
    let (n1, n2) = (
        ca.issue("n1", Validity::Current),
        ca.issue("n2", Validity::Current),
    );
    let (a, a_rx) = start(1, Some(PeerTls::load(&files(&n1, &ca)).expect("n1 loads")));
    let (b, b_rx) = start(2, Some(PeerTls::load(&files(&n2, &ca)).expect("n2 loads")));
    link(&a, &b);
    assert!(delivered(&a, 1, 2, &b_rx), "1 -> 2 over TLS");
    assert!(delivered(&b, 2, 1, &a_rx), "2 -> 1 over TLS");
    assert_eq!(a.stats().refused + b.stats().refused, 0);
}

#[test]
fn a_peer_with_a_certificate_from_another_ca_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = TestCa::new(dir.path(), "cluster");
    let stranger_ca = TestCa::new(dir.path(), "stranger");
    let n1 = ca.issue("n1", Validity::Current);
    let fake = stranger_ca.issue("n2", Validity::Current);
    let (a, a_rx) = start(1, Some(PeerTls::load(&files(&n1, &ca)).expect("n1 loads")));
    // The stranger trusts our CA (it may have copied the CA certificate) but
    // holds no certificate our CA issued.
    let stranger_files = TlsFiles {
        ca: Some(ca.ca_file.clone()),
        ..files(&fake, &stranger_ca)
    };
    let err = PeerTls::load(&stranger_files).expect_err("its own check refuses it too");
    assert!(matches!(err, TlsError::Untrusted { .. }), "{err}");
    let (b, _b_rx) = start(
        2,
        Some(PeerTls::load(&files(&fake, &stranger_ca)).expect("valid for its own CA")),
    );
    link(&a, &b);
    b.send(timeout_now(2, 1));
    assert!(
        !delivered(&b, 2, 1, &a_rx),
        "nothing from the stranger arrives"
    );
    assert!(a.stats().refused > 0, "the handshake was refused");
}

#[test]
fn a_plaintext_peer_and_a_forged_frame_are_refused_by_a_tls_node() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = TestCa::new(dir.path(), "cluster");
    let n1 = ca.issue("n1", Validity::Current);
    let (a, a_rx) = start(1, Some(PeerTls::load(&files(&n1, &ca)).expect("n1 loads")));
    let (b, _b_rx) = start(2, None);
    link(&a, &b);
    assert!(
        !delivered(&b, 2, 1, &a_rx),
        "a plaintext peer gets nothing through"
    );
    // The attack from the hardening issue: a Hello with the right cluster id,
    // then a forged TimeoutNow, sent in plaintext.
    let mut s = TcpStream::connect(a.local_addr()).expect("connect");
    let hello = Frame::Hello {
        version: raft_net::frame::PROTOCOL_VERSION,
        cluster_id: 7,
        from: 2,
        to: 1,
        addr: "127.0.0.1:9".into(),
    };
    let _ = write_frame(&mut s, &hello);
    let _ = write_frame(&mut s, &Frame::Raft(timeout_now(2, 1)));
    assert!(
        a_rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "the forged TimeoutNow is never delivered"
    );
    assert!(a.stats().refused >= 2);
}

#[test]
fn an_expired_certificate_is_refused_at_load_time() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = TestCa::new(dir.path(), "cluster");
    let old = ca.issue("n1", Validity::Expired);
    let err = PeerTls::load(&files(&old, &ca)).expect_err("expired");
    let text = err.to_string();
    assert!(matches!(err, TlsError::Untrusted { .. }), "{text}");
    assert!(text.to_lowercase().contains("expired"), "{text}");
    assert!(
        text.contains(&old.cert.display().to_string()),
        "names the file: {text}"
    );
}

#[test]
fn a_key_that_is_not_the_certificates_and_missing_files_are_clear_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = TestCa::new(dir.path(), "cluster");
    let (n1, n2) = (
        ca.issue("n1", Validity::Current),
        ca.issue("n2", Validity::Current),
    );
    let mixed = TlsFiles {
        key: n2.key.clone(),
        ..files(&n1, &ca)
    };
    let err = PeerTls::load(&mixed).expect_err("mismatched key");
    assert!(matches!(err, TlsError::Config { .. }), "{err}");
    let missing = TlsFiles {
        cert: dir.path().join("nope.pem"),
        ..files(&n1, &ca)
    };
    let err = PeerTls::load(&missing).expect_err("missing file");
    assert!(err.to_string().contains("nope.pem"), "{err}");
    let no_ca = TlsFiles {
        ca: None,
        ..files(&n1, &ca)
    };
    assert!(PeerTls::load(&no_ca).is_err(), "peer TLS needs the CA");
}
