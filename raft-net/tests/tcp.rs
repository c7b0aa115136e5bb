//! The TCP transport end to end on loopback.

use crossbeam_channel::{Receiver, unbounded};
use raft_core::{Message, MessageBody};
use raft_net::frame::{Frame, SnapshotChunk, read_frame, write_frame};
use raft_net::{Inbox, TcpTransport, TcpTransportConfig, Transport};
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

/// Opens a raw connection to transport `t` and sends a `Hello` from node
/// `from` of cluster 7 to node `to`; the caller reads the answer.
fn say_hello(t: &TcpTransport, from: u64, to: u64) -> TcpStream {
    let mut s = TcpStream::connect(t.local_addr()).expect("connect");
    let hello = Frame::Hello {
        version: raft_net::frame::PROTOCOL_VERSION,
        cluster_id: 7,
        from,
        to,
        addr: "127.0.0.1:9".into(),
    };
    write_frame(&mut s, &hello).expect("hello");
    s
}

fn msg(from: u64, to: u64, term: u64) -> Message {
    Message {
        from,
        to,
        term,
        body: MessageBody::Heartbeat {
            commit: term,
            read_round: 0,
        },
    }
}

fn start(id: u64, cluster: u64, peers: HashMap<u64, String>) -> (TcpTransport, Receiver<Message>) {
    let (ib, rx) = inbox();
    let t = TcpTransport::start(
        TcpTransportConfig::new(id, cluster, "127.0.0.1:0"),
        peers,
        ib,
    )
    .expect("bind");
    (t, rx)
}

#[test]
fn messages_flow_both_ways_in_order() {
    let (a, a_rx) = start(1, 7, HashMap::new());
    let (b, b_rx) = start(2, 7, HashMap::from([(1, a.local_addr().to_string())]));
    a.set_peer(2, b.local_addr().to_string());
    for term in 1..=500 {
        a.send(msg(1, 2, term));
    }
    for term in 1..=500 {
        let m = b_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("delivered");
        assert_eq!(m.term, term, "in order");
    }
    b.send(msg(2, 1, 9));
    assert_eq!(
        a_rx.recv_timeout(Duration::from_secs(5))
            .expect("delivered")
            .term,
        9
    );
    assert_eq!(a.stats().sent, 500);
}

#[test]
fn a_peer_from_another_cluster_is_refused() {
    let (a, a_rx) = start(1, 7, HashMap::from([(2, "127.0.0.1:1".to_string())]));
    let (b, _b_rx) = start(2, 8, HashMap::from([(1, a.local_addr().to_string())]));
    b.send(msg(2, 1, 1));
    assert!(
        a_rx.recv_timeout(Duration::from_millis(500)).is_err(),
        "nothing delivered"
    );
    assert_eq!(a.stats().refused, 1);
}

#[test]
fn an_unknown_node_is_refused_with_a_reason() {
    let (a, _rx) = start(1, 7, HashMap::new());
    let mut s = say_hello(&a, 9, 1);
    let ack = read_frame(&mut s, 1 << 16, &mut Vec::new()).expect("ack");
    match ack {
        Some(Frame::HelloAck(Some(reason))) => assert!(reason.contains("not a member"), "{reason}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn an_oversized_frame_closes_the_connection() {
    let (a, rx) = start(1, 7, HashMap::from([(2, "127.0.0.1:1".to_string())]));
    let mut s = say_hello(&a, 2, 1);
    assert_eq!(
        read_frame(&mut s, 1 << 16, &mut Vec::new()).expect("ack"),
        Some(Frame::HelloAck(None))
    );
    use std::io::{Read, Write};
    s.write_all(&u32::MAX.to_le_bytes()).expect("write");
    let mut byte = [0u8; 1];
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    assert_eq!(
        s.read(&mut byte).expect("closed"),
        0,
        "the node closes the connection"
    );
    assert!(rx.try_recv().is_err());
}

#[test]
fn sending_to_a_dead_peer_never_blocks() {
    let (a, _rx) = start(1, 7, HashMap::from([(2, "127.0.0.1:1".to_string())]));
    let t0 = std::time::Instant::now();
    for term in 0..100_000 {
        a.send(msg(1, 2, term));
    }
    assert!(t0.elapsed() < Duration::from_secs(5), "send only queues");
    std::thread::sleep(Duration::from_millis(100));
    assert!(a.stats().dropped > 0);
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let (a, _rx) = start(1, 7, HashMap::new());
    let (ib, _rx2) = inbox();
    let err = TcpTransport::start(
        TcpTransportConfig::new(2, 7, a.local_addr().to_string()),
        HashMap::new(),
        ib,
    )
    .err()
    .expect("address in use");
    assert!(err.to_string().contains("cannot listen on"), "{err}");
}

#[test]
fn a_large_snapshot_is_streamed_in_chunks_between_heartbeats() {
    let (a, _a_rx) = start(1, 7, HashMap::new());
    let (b, b_rx) = start(2, 7, HashMap::from([(1, a.local_addr().to_string())]));
    a.set_peer(2, b.local_addr().to_string());
    let data: Vec<u8> = (0..(5 << 20) as u32).map(|i| (i % 251) as u8).collect();
    let mut snapshot = raft_core::Snapshot::default();
    snapshot.meta.index = 77;
    snapshot.data = data.clone();
    a.send(Message {
        from: 1,
        to: 2,
        term: 3,
        body: MessageBody::InstallSnapshot { snapshot },
    });
    for term in 1..=3 {
        a.send(msg(1, 2, term));
    }
    let mut heartbeats_before_snapshot = 0;
    loop {
        let m = b_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("delivered");
        match m.body {
            MessageBody::InstallSnapshot { snapshot } => {
                assert_eq!(snapshot.meta.index, 77);
                assert!(snapshot.data == data, "reassembled intact");
                break;
            }
            _ => heartbeats_before_snapshot += 1,
        }
    }
    assert!(
        heartbeats_before_snapshot >= 1,
        "heartbeats are not stuck behind the snapshot"
    );
}

fn append_of(from: u64, to: u64, bytes: usize) -> Message {
    Message {
        from,
        to,
        term: 2,
        body: MessageBody::Append {
            prev_index: 0,
            prev_term: 0,
            entries: vec![raft_core::Entry {
                index: 1,
                term: 2,
                payload: raft_core::EntryPayload::Normal(b"value-".repeat(bytes / 6)),
            }],
            commit: 0,
        },
    }
}

#[test]
fn large_frames_cross_compressed_to_a_peer_that_reads_lz4() {
    let (a, _a_rx) = start(1, 7, HashMap::new());
    let (b, b_rx) = start(2, 7, HashMap::from([(1, a.local_addr().to_string())]));
    a.set_peer(2, b.local_addr().to_string());
    let big = append_of(1, 2, 512 << 10);
    a.send(big.clone());
    a.send(msg(1, 2, 5));
    let got = b_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("delivered");
    assert_eq!(got, big, "decompressed intact");
    assert_eq!(
        b_rx.recv_timeout(Duration::from_secs(10))
            .expect("delivered"),
        msg(1, 2, 5)
    );
    let stats = a.stats();
    assert_eq!(
        stats.compressed_frames, 1,
        "only the large frame: {stats:?}"
    );
    assert!(stats.compression_saved_bytes > 400 << 10, "{stats:?}");
    let wire = stats
        .peers
        .iter()
        .find(|p| p.id == 2)
        .expect("peer 2")
        .sent_bytes;
    assert!(
        wire < 32 << 10,
        "{wire} bytes on the wire for a 512 KiB append"
    );
}

#[test]
fn a_peer_whose_ack_offers_nothing_gets_plain_frames() {
    // An acceptor from before compression: its HelloAck carries no extras.
    let old = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let (a, _a_rx) = start(
        1,
        7,
        HashMap::from([(2, old.local_addr().expect("addr").to_string())]),
    );
    a.send(append_of(1, 2, 512 << 10));
    let (mut s, _) = old.accept().expect("a connects");
    let hello = read_frame(&mut s, 1 << 16, &mut Vec::new()).expect("hello");
    assert!(matches!(hello, Some(Frame::Hello { .. })), "{hello:?}");
    write_frame(&mut s, &Frame::HelloAck(None)).expect("ack");
    a.send(append_of(1, 2, 512 << 10));
    use std::io::Read;
    let mut len = [0u8; 4];
    s.read_exact(&mut len).expect("a frame");
    let mut body = vec![0u8; u32::from_le_bytes(len) as usize];
    s.read_exact(&mut body).expect("its body");
    let frame: Frame = postcard::from_bytes(&body).expect("decodes");
    assert!(
        matches!(frame, Frame::Raft(_)),
        "sent plain, not {:?}",
        std::mem::discriminant(&frame)
    );
    assert_eq!(a.stats().compressed_frames, 0);
}

/// Opens a raw connection to `to` as node 1 of cluster 7, accepted.
fn raw_peer(to: &TcpTransport) -> TcpStream {
    let mut s = say_hello(to, 1, 2);
    match read_frame(&mut s, 1 << 16, &mut Vec::new()).expect("ack") {
        Some(Frame::HelloAck(None)) => s,
        other => panic!("handshake refused: {other:?}"),
    }
}

fn snapshot_chunks(index: u64, data: &[u8], size: usize) -> Vec<Frame> {
    let crc = crc32c::crc32c(data);
    let mut snapshot = raft_core::Snapshot::default();
    snapshot.meta.index = index;
    let header = Message {
        from: 1,
        to: 2,
        term: 3,
        body: MessageBody::InstallSnapshot { snapshot },
    };
    data.chunks(size)
        .enumerate()
        .map(|(i, piece)| {
            Frame::SnapshotChunk(SnapshotChunk {
                id: index,
                offset: (i * size) as u64,
                total: data.len() as u64,
                crc,
                header: (i == 0).then(|| header.clone()),
                data: piece.to_vec(),
            })
        })
        .collect()
}

fn files_in(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).expect("spool dir").count()
}

#[test]
fn an_interrupted_snapshot_stream_leaves_nothing_and_the_next_one_arrives() {
    let spool = tempfile::tempdir().expect("temp dir");
    let (ib, rx) = inbox();
    let mut cfg = TcpTransportConfig::new(2, 7, "127.0.0.1:0");
    cfg.spool_dir = Some(spool.path().to_path_buf());
    let b = TcpTransport::start(cfg, HashMap::from([(1, "127.0.0.1:9".to_string())]), ib)
        .expect("bind");
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();

    let mut first = raw_peer(&b);
    for frame in snapshot_chunks(5, &data, 64 << 10).into_iter().take(2) {
        write_frame(&mut first, &frame).expect("chunk");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while files_in(spool.path()) == 0 {
        assert!(std::time::Instant::now() < deadline, "no spool file");
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(first);
    while files_in(spool.path()) != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "partial transfer kept"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        rx.try_recv().is_err(),
        "nothing delivered from a partial stream"
    );

    let mut second = raw_peer(&b);
    for frame in snapshot_chunks(5, &data, 64 << 10) {
        write_frame(&mut second, &frame).expect("chunk");
    }
    let m = rx.recv_timeout(Duration::from_secs(5)).expect("delivered");
    match m.body {
        MessageBody::InstallSnapshot { snapshot } => assert!(snapshot.data == data, "intact"),
        other => panic!("expected the snapshot, got {other:?}"),
    }
    assert_eq!(
        files_in(spool.path()),
        0,
        "the spool file is removed after delivery"
    );
}

#[test]
fn peer_connections_start_from_the_listen_address() {
    let (ib, _rx) = inbox();
    let peer = std::net::TcpListener::bind("127.0.0.3:0").expect("bind the peer");
    let a = TcpTransport::start(
        TcpTransportConfig::new(1, 7, "127.0.0.2:0"),
        HashMap::from([(2, peer.local_addr().expect("addr").to_string())]),
        ib,
    )
    .expect("bind");
    a.send(msg(1, 2, 1));
    let (_conn, from) = peer.accept().expect("a connection from node 1");
    assert_eq!(from.ip().to_string(), "127.0.0.2");
}
