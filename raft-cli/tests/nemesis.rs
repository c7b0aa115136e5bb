//! Jepsen-style runs on real processes: clients read and write registers on
//! every node while a nemesis kills nodes with -9 (restarting them with the same
//! command line), pauses them with SIGSTOP, or cuts the network between them
//! (iptables); afterwards the history, closed by a read of every key on every
//! node, must be linearizable, so no acknowledged write is lost.

mod common;

use common::Cluster;
use common::firewall::Firewall;
use common::wait_until;
use integration_tests::linearizability::{Op, OpKind, check_register};
use raft_kv_server::Client;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const KEYS: u64 = 3;

struct Recorder {
    start: Instant,
    ops: Mutex<Vec<(u64, Op)>>,
}

impl Recorder {
    fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }
}

fn client_loop(id: u64, endpoint: String, rec: Arc<Recorder>, stop: Arc<AtomicBool>) {
    let mut client = Client::new(vec![endpoint]).expect("endpoint");
    let mut rng = raft_core::DetRng::new(id * 7919);
    let mut n = 0u64;
    while !stop.load(Ordering::SeqCst) {
        let x = rng.next_u64();
        let key = x % KEYS;
        let k = format!("reg{key}");
        let call = rec.now();
        let op = if x.is_multiple_of(2) {
            n += 1;
            let value = id * 1_000_000 + n;
            match client.set(k.as_bytes(), value.to_string().as_bytes()) {
                Ok(()) => Some(Op {
                    client: id,
                    kind: OpKind::Write(value),
                    call,
                    ret: Some(rec.now()),
                }),
                Err(e) if e.outcome_unknown() => Some(Op {
                    client: id,
                    kind: OpKind::Write(value),
                    call,
                    ret: None,
                }),
                Err(_) => None, // refused before being proposed: not part of the history
            }
        } else {
            match client.get(k.as_bytes()) {
                Ok(v) => {
                    let v = v.map(|b| {
                        String::from_utf8_lossy(&b)
                            .parse::<u64>()
                            .expect("values are numbers")
                    });
                    Some(Op {
                        client: id,
                        kind: OpKind::Read(v),
                        call,
                        ret: Some(rec.now()),
                    })
                }
                Err(_) => None,
            }
        };
        match op {
            Some(op) => rec.ops.lock().expect("no poisoning").push((key, op)),
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Clients running against a cluster, recording their history.
struct Workload {
    rec: Arc<Recorder>,
    stop: Arc<AtomicBool>,
    clients: Vec<std::thread::JoinHandle<()>>,
}

impl Workload {
    /// Starts `n` clients spread over the cluster's nodes.
    fn start(c: &Cluster, n: u64) -> Workload {
        let rec = Arc::new(Recorder {
            start: Instant::now(),
            ops: Mutex::new(Vec::new()),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let nodes = c.client.len() as u64;
        let clients = (0..n)
            .map(|id| {
                let ep = c.client[(id % nodes) as usize].clone();
                let (rec, stop) = (rec.clone(), stop.clone());
                std::thread::spawn(move || client_loop(id, ep, rec, stop))
            })
            .collect();
        Workload { rec, stop, clients }
    }

    /// Stops the clients, reads every key through every node (linearizable
    /// reads, part of the history), and checks the history; returns the number
    /// of acknowledged operations.
    fn finish_and_check(mut self, c: &Cluster) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        for t in std::mem::take(&mut self.clients) {
            t.join().expect("client thread");
        }
        for node in 1..=c.client.len() {
            for key in 0..KEYS {
                self.final_read(c, node, key);
            }
        }
        let ops = self.rec.ops.lock().expect("no poisoning").clone();
        let acknowledged = ops.iter().filter(|(_, o)| o.ret.is_some()).count();
        assert!(
            acknowledged > 100,
            "only {acknowledged} operations completed"
        );
        let mut per_key: BTreeMap<u64, Vec<Op>> = BTreeMap::new();
        for (k, op) in ops {
            per_key.entry(k).or_default().push(op);
        }
        for (k, history) in &per_key {
            if let Err(e) = check_register(history, 5_000_000) {
                panic!("key reg{k}: {e}");
            }
        }
        acknowledged
    }

    fn final_read(&self, c: &Cluster, node: usize, key: u64) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut client = c.client_of(node);
        loop {
            let call = self.rec.now();
            if let Ok(v) = client.get(format!("reg{key}").as_bytes()) {
                let v = v.map(|b| {
                    String::from_utf8_lossy(&b)
                        .parse::<u64>()
                        .expect("a number")
                });
                let op = Op {
                    client: 1000 + node as u64,
                    kind: OpKind::Read(v),
                    call,
                    ret: Some(self.rec.now()),
                };
                self.rec.ops.lock().expect("no poisoning").push((key, op));
                return;
            }
            assert!(
                Instant::now() < deadline,
                "node {node} serves no read after healing"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// True if node `i` reports itself leader.
fn is_leader(c: &Cluster, i: usize) -> bool {
    c.info(i, "role").as_deref() == Some("leader")
}

#[test]
fn history_stays_linearizable_under_kill_9_and_sigstop() {
    let mut c = Cluster::start_with(
        3,
        &["--request-timeout-ms", "1500", "--snapshot-every", "1000"],
    );
    let work = Workload::start(&c, 6);
    // The nemesis: alternate kill -9 + restart and SIGSTOP + SIGCONT, on rotating nodes.
    for round in 0..6usize {
        std::thread::sleep(Duration::from_millis(700));
        let victim = c.leader().unwrap_or(1 + round % 3);
        if round % 2 == 0 {
            c.kill9(victim);
            std::thread::sleep(Duration::from_millis(1200));
            c.start_node(victim);
        } else {
            c.signal(victim, "STOP");
            std::thread::sleep(Duration::from_millis(1500));
            c.signal(victim, "CONT");
        }
    }
    std::thread::sleep(Duration::from_millis(1500));
    let acknowledged = work.finish_and_check(&c);
    let logs: String = (1..=3)
        .map(|i| std::fs::read_to_string(c.log_path(i)).unwrap_or_default())
        .collect();
    let taken = logs.matches("took a snapshot").count();
    let installed = logs.matches("installed the leader's snapshot").count();
    assert!(taken > 0, "the run compacted the log at least once");
    eprintln!(
        "nemesis: {acknowledged} acknowledged ops over {KEYS} keys, linearizable; {taken} snapshots taken, {installed} installed from the leader"
    );
}

#[test]
fn history_stays_linearizable_under_network_partitions() {
    let Some(mut fw) = Firewall::open() else {
        return;
    };
    let c = Cluster::start_with(
        5,
        &["--request-timeout-ms", "1500", "--snapshot-every", "1000"],
    );
    let all: Vec<usize> = (1..=5).collect();
    let others =
        |x: &[usize]| -> Vec<usize> { all.iter().copied().filter(|i| !x.contains(i)).collect() };
    let work = Workload::start(&c, 10);
    for round in 0..2 {
        // The leader alone: the majority elects a new one, and CheckQuorum
        // deposes the old one.
        let old = c.wait_for_leader(Duration::from_secs(15));
        fw.split(&[old], &others(&[old]));
        wait_until("a leader in the majority", Duration::from_secs(10), || {
            others(&[old]).iter().any(|&i| is_leader(&c, i))
        });
        wait_until(
            "the isolated leader to step down",
            Duration::from_secs(10),
            || !is_leader(&c, old),
        );
        std::thread::sleep(Duration::from_millis(500));
        fw.heal();
        std::thread::sleep(Duration::from_millis(700));

        // Two against three, the leader on the minority side.
        let leader = c.wait_for_leader(Duration::from_secs(15));
        let buddy = 1 + (leader + round) % 5;
        let minority = [leader, buddy];
        fw.split(&minority, &others(&minority));
        wait_until("a leader in the three", Duration::from_secs(10), || {
            others(&minority).iter().any(|&i| is_leader(&c, i))
        });
        std::thread::sleep(Duration::from_millis(1000));
        fw.heal();
        std::thread::sleep(Duration::from_millis(700));

        // A bridge: {a, b} | bridge | {d, e}, only the bridge sees everyone.
        let leader = c.wait_for_leader(Duration::from_secs(15));
        let rest = others(&[leader]);
        fw.split(&[leader, rest[0]], &rest[2..]);
        std::thread::sleep(Duration::from_millis(2000));
        fw.heal();
        std::thread::sleep(Duration::from_millis(700));

        // A follower alone, with its clients: PreVote keeps it from raising
        // the term, so it does not depose the leader when it comes back.
        let leader = c.wait_for_leader(Duration::from_secs(15));
        let term = c.info(leader, "term");
        let loner = 1 + leader % 5;
        fw.split(&[loner], &others(&[loner]));
        std::thread::sleep(Duration::from_millis(2500));
        fw.heal();
        std::thread::sleep(Duration::from_millis(1000));
        if c.info(leader, "term") == term {
            assert!(
                is_leader(&c, leader),
                "a rejoining follower deposed the leader"
            );
        }
    }
    std::thread::sleep(Duration::from_millis(1000));
    let acknowledged = work.finish_and_check(&c);
    eprintln!("partitions: {acknowledged} acknowledged ops over {KEYS} keys, linearizable");
}
