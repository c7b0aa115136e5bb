//! `raft-cli local`: a whole cluster on this machine, one child process per
//! node. A child that dies is reported and the others keep serving (so that
//! kill -9 of one node shows the cluster surviving it); with
//! `--restart-crashed` it is started again. The children die with `local`,
//! however it ends (they ask the kernel for SIGTERM when their parent goes).

use crate::error::CliError;
use clap::Args;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The environment variable that tells a `raft-cli node` started by `local`
/// its parent's pid: the node then asks to be sent SIGTERM when that parent
/// dies, and stops at once if it is already gone.
pub const PARENT_ENV: &str = "RAFT_CLI_LOCAL_PARENT";

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
    /// Serve metrics: node i on this port + i - 1.
    #[arg(long)]
    metrics_port: Option<u16>,
    /// Passed to every node (snapshot every this many entries).
    #[arg(long)]
    snapshot_every: Option<u64>,
    /// Start a node again a second after it dies (otherwise it stays down
    /// and the others keep serving).
    #[arg(long)]
    restart_crashed: bool,
    /// Any other `raft-cli node` flags, after `--`, passed to every node.
    #[arg(last = true)]
    node_args: Vec<String>,
}

/// How to start each node.
struct Plan {
    exe: PathBuf,
    args: LocalArgs,
    cluster: String,
    token: String,
}

impl Plan {
    fn port(base: u16, i: u64) -> u64 {
        u64::from(base) + i - 1
    }

    fn peer(&self, i: u64) -> String {
        format!("{}:{}", self.args.host, Self::port(self.args.peer_port, i))
    }

    fn client(&self, i: u64) -> String {
        format!(
            "{}:{}",
            self.args.host,
            Self::port(self.args.client_port, i)
        )
    }

    fn spawn(&self, i: u64) -> Result<Child, CliError> {
        let a = &self.args;
        let mut cmd = Command::new(&self.exe);
        cmd.args(["node", "--id", &i.to_string()])
            .arg("--data-dir")
            .arg(a.data_dir.join(format!("n{i}")))
            .args([
                "--listen-peer",
                &self.peer(i),
                "--listen-client",
                &self.client(i),
            ])
            .args(["--initial-cluster", &self.cluster])
            .args(["--initial-cluster-token", &self.token])
            .env(PARENT_ENV, std::process::id().to_string());
        // A group of its own: Ctrl-C reaches `local` alone, which stops the
        // nodes in order (followers, then the leader).
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        if let Some(port) = a.metrics_port {
            cmd.args(["--metrics", &format!("{}:{}", a.host, Self::port(port, i))]);
        }
        if let Some(n) = a.snapshot_every {
            cmd.args(["--snapshot-every", &n.to_string()]);
        }
        cmd.args(&a.node_args);
        cmd.spawn().map_err(CliError::io(format!("start node {i}")))
    }
}

/// Stops every node: the followers first, then (once they are gone and no
/// longer answer its heartbeats) the leader, which then stops without trying
/// to hand leadership to a member that is itself stopping.
fn stop_all(plan: &Plan, children: &mut [(u64, Option<Child>)]) {
    let leader = children
        .iter()
        .filter(|(_, c)| c.is_some())
        .map(|(id, _)| *id)
        .find(|&id| leads(&plan.client(id)));
    let (last, first): (Vec<_>, Vec<_>) =
        children.iter_mut().partition(|(id, _)| Some(*id) == leader);
    stop_and_wait(first);
    if !last.is_empty() {
        std::thread::sleep(FOLLOWERS_SILENT_FOR);
        stop_and_wait(last);
    }
}

/// How long the leader goes unanswered before it is stopped: longer than
/// the silence after which a stopping leader counts no voter as reachable
/// (three heartbeats, 150 ms with the default tick).
const FOLLOWERS_SILENT_FOR: Duration = Duration::from_millis(400);

/// True if the node at `addr` answers `INFO raft` with `role:leader`.
fn leads(addr: &str) -> bool {
    let Ok(mut client) = raft_kv_server::Client::new(vec![addr.to_string()]) else {
        return false;
    };
    match client.call_here(&[b"INFO", b"raft"]) {
        Ok(raft_kv::Reply::Bulk(Some(text))) => String::from_utf8_lossy(&text)
            .lines()
            .any(|l| l.trim_end() == "role:leader"),
        _ => false,
    }
}

/// Sends SIGTERM to each child, then waits (15 s at most, then kills).
fn stop_and_wait(mut children: Vec<&mut (u64, Option<Child>)>) {
    for (_, slot) in children.iter() {
        if let Some(pid) = slot.as_ref().and_then(|c| i32::try_from(c.id()).ok()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    for (id, slot) in children.iter_mut() {
        let Some(child) = slot.as_mut() else { continue };
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

/// Refuses a data dir that holds a cluster of another size: its extra or
/// missing members would bootstrap a second cluster beside the first.
fn check_member_count(dir: &Path, nodes: u64) -> Result<(), CliError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(()); // a new data dir
    };
    let mut found: Vec<u64> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().join("raft").is_dir())
        .filter_map(|e| e.file_name().to_str()?.strip_prefix('n')?.parse().ok())
        .collect();
    found.sort_unstable();
    if found.is_empty() || found == (1..=nodes).collect::<Vec<_>>() {
        return Ok(());
    }
    Err(CliError::OtherClusterSize {
        dir: dir.to_path_buf(),
        found,
        nodes,
    })
}

/// Starts the nodes, prints their client addresses and waits for Ctrl-C.
pub fn run(args: LocalArgs) -> Result<(), CliError> {
    if args.nodes == 0 || args.nodes > 9 {
        return Err(CliError::OutOfRange(
            "--nodes must be between 1 and 9".into(),
        ));
    }
    check_member_count(&args.data_dir, args.nodes)?;
    let exe = std::env::current_exe().map_err(CliError::io("find this program"))?;
    let cluster = (1..=args.nodes)
        .map(|i| {
            let port = Plan::port(args.peer_port, i);
            format!("{i}={}:{port}", args.host)
        })
        .collect::<Vec<_>>()
        .join(",");
    // One fresh token for every member: a new cluster's id differs from every
    // other cluster's, even one started with the same flags (an existing data
    // dir ignores it and keeps its id).
    let token = format!("local-{:016x}", raft_kv::runtime::random_u64());
    let plan = Plan {
        exe,
        args,
        cluster,
        token,
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone())
            .map_err(CliError::io("install signal handlers"))?;
    }
    let mut children: Vec<(u64, Option<Child>)> = Vec::new();
    for i in 1..=plan.args.nodes {
        match plan.spawn(i) {
            Ok(c) => children.push((i, Some(c))),
            Err(e) => {
                stop_all(&plan, &mut children);
                return Err(e);
            }
        }
    }
    banner(&plan);
    let outcome = supervise(&plan, &mut children, &stop);
    stop_all(&plan, &mut children);
    outcome.map(|()| say!("cluster stopped"))
}

fn banner(plan: &Plan) {
    let a = &plan.args;
    say!(
        "local cluster of {} nodes (data in {}):",
        a.nodes,
        a.data_dir.display()
    );
    for i in 1..=a.nodes {
        say!(
            "  node {i}: client {}  peer {}   e.g. redis-cli -h {} -p {}",
            plan.client(i),
            plan.peer(i),
            a.host,
            Plan::port(a.client_port, i)
        );
    }
    let restart = if a.restart_crashed {
        "a node that dies is restarted"
    } else {
        "a node that dies stays down (--restart-crashed restarts it)"
    };
    say!("{restart}; press Ctrl-C to stop");
}

/// Watches the children until a signal: reports each that dies, restarts it
/// a second later with `--restart-crashed`, and gives up once all are down.
fn supervise(
    plan: &Plan,
    children: &mut [(u64, Option<Child>)],
    stop: &AtomicBool,
) -> Result<(), CliError> {
    let mut restart_at: Vec<(u64, Instant)> = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        for (id, slot) in children.iter_mut() {
            let exited = slot.as_mut().and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                *slot = None;
                eprintln!("node {id} exited ({status}); the other nodes keep serving");
                if plan.args.restart_crashed {
                    restart_at.push((*id, Instant::now() + Duration::from_secs(1)));
                }
            }
        }
        let now = Instant::now();
        for (id, _) in restart_at.extract_if(.., |(_, at)| *at <= now) {
            let slot = &mut children[(id - 1) as usize].1;
            *slot = Some(plan.spawn(id)?);
            eprintln!("node {id} restarted");
        }
        if children.iter().all(|(_, c)| c.is_none()) && restart_at.is_empty() {
            return Err(CliError::EveryNodeExited);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}
