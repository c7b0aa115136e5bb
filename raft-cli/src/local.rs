//! `raft-cli local`: a whole cluster on this machine, one child process per node.

use clap::Args;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Flags of `raft-cli local`.
#[derive(Args, Debug)]
pub struct LocalArgs {
    /// Number of nodes.
    #[arg(long, default_value_t = 3)]
    nodes: u64,
    /// Parent directory of the nodes' data dirs (n1, n2, ...).
    #[arg(long, default_value = "./data")]
    data_dir: PathBuf,
    /// Host to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Peer port of node 1; node i uses this + i - 1.
    #[arg(long, default_value_t = 7001)]
    peer_port: u16,
    /// Client (RESP) port of node 1; node i uses this + i - 1.
    #[arg(long, default_value_t = 6001)]
    client_port: u16,
}

fn stop_all(children: &mut [(u64, Child)]) {
    for (_, child) in children.iter() {
        if let Ok(pid) = i32::try_from(child.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    for (id, child) in children.iter_mut() {
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    eprintln!("node {id} did not stop in time; killing it");
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
            }
        }
    }
}

/// Starts the nodes, prints their client addresses and waits for Ctrl-C.
pub fn run(args: LocalArgs) -> Result<(), String> {
    if args.nodes == 0 || args.nodes > 9 {
        return Err("--nodes must be between 1 and 9".into());
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let peer = |i: u64| format!("{}:{}", args.host, args.peer_port as u64 + i - 1);
    let client = |i: u64| format!("{}:{}", args.host, args.client_port as u64 + i - 1);
    let cluster: Vec<String> = (1..=args.nodes)
        .map(|i| format!("{i}={}", peer(i)))
        .collect();
    let cluster = cluster.join(",");
    // One fresh token for every member: a new cluster's id differs from every
    // other cluster's, even one started with the same flags (an existing data
    // dir ignores it and keeps its id).
    let token = format!("local-{:016x}", raft_kv::runtime::random_u64());
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone())
            .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    }
    let mut children = Vec::new();
    for i in 1..=args.nodes {
        let dir = args.data_dir.join(format!("n{i}"));
        let child = Command::new(&exe)
            .args(["node", "--id", &i.to_string()])
            .arg("--data-dir")
            .arg(&dir)
            .args([
                "--listen-peer",
                &peer(i),
                "--listen-client",
                &client(i),
                "--initial-cluster",
                &cluster,
                "--initial-cluster-token",
                &token,
            ])
            .spawn();
        match child {
            Ok(c) => children.push((i, c)),
            Err(e) => {
                stop_all(&mut children);
                return Err(format!("cannot start node {i}: {e}"));
            }
        }
    }
    say!(
        "local cluster of {} nodes (data in {}):",
        args.nodes,
        args.data_dir.display()
    );
    for i in 1..=args.nodes {
        say!(
            "  node {i}: client {}  peer {}   e.g. redis-cli -h {} -p {}",
            client(i),
            peer(i),
            args.host,
            args.client_port as u64 + i - 1
        );
    }
    say!("press Ctrl-C to stop");
    let mut failure = None;
    while !stop.load(Ordering::SeqCst) {
        for (id, child) in children.iter_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                failure = Some(format!("node {id} exited ({status}); stopping the cluster"));
            }
        }
        if failure.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    stop_all(&mut children);
    match failure {
        Some(f) => Err(f),
        None => {
            say!("cluster stopped");
            Ok(())
        }
    }
}
