//! A Jepsen-style run on real processes: clients read and write registers on
//! every node while a nemesis kills nodes with -9 (restarting them with the same
//! command line) and pauses them with SIGSTOP; afterwards the history must be
//! linearizable and every acknowledged write must be readable.

mod common;

use common::Cluster;
use integration_tests::linearizability::{Op, OpKind, check_register};
use raft_kv::{Client, ClientError};
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
    let mut x = 0x2545_F491_4F6C_DD1Du64 ^ (id * 7919);
    let mut n = 0u64;
    while !stop.load(Ordering::SeqCst) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
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
                Err(ClientError::OutcomeUnknown(_)) => Some(Op {
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

#[test]
fn history_stays_linearizable_under_kill_9_and_sigstop() {
    let mut c = Cluster::start_with(
        3,
        &["--request-timeout-ms", "1500", "--snapshot-every", "1000"],
    );
    let rec = Arc::new(Recorder {
        start: Instant::now(),
        ops: Mutex::new(Vec::new()),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for id in 0..6u64 {
        let ep = c.client[(id % 3) as usize].clone();
        let (rec, stop) = (rec.clone(), stop.clone());
        clients.push(std::thread::spawn(move || client_loop(id, ep, rec, stop)));
    }
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
    stop.store(true, Ordering::SeqCst);
    for t in clients {
        t.join().expect("client thread");
    }
    let ops = rec.ops.lock().expect("no poisoning").clone();
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
    let logs: String = (1..=3)
        .map(|i| std::fs::read_to_string(c.log_path(i)).unwrap_or_default())
        .collect();
    let taken = logs.matches("took a snapshot").count();
    let installed = logs.matches("installed the leader's snapshot").count();
    assert!(taken > 0, "the run compacted the log at least once");
    eprintln!(
        "nemesis: {acknowledged} acknowledged ops over {} keys, linearizable; {taken} snapshots taken, {installed} installed from the leader",
        per_key.len()
    );
}
