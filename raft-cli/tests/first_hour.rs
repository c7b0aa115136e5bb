//! What a new user meets in the first hour: a node started with `--join`
//! that nobody added answers at once and says why, a read that never found a
//! leader says `-NOLEADER` (not served, safe to retry) rather than
//! `-TIMEOUT`, and `raft-cli node --help` lists only the node's own flags.

mod common;

use common::{BIN, Cluster, free_port, run_cli, wait_until};
use raft_kv::Reply;
use raft_kv_server::Client;
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn call(addr: &str, args: &[&str]) -> Reply {
    let mut c = Client::new(vec![addr.to_string()]).expect("endpoint");
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    c.call_here(&args).expect("a reply")
}

fn error_text(reply: Reply) -> String {
    match reply {
        Reply::Error(e) => e.line(),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn a_node_nobody_added_answers_at_once_and_says_how_to_add_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (peer, client) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let _node = common::Reaped(
        Command::new(BIN)
            .args(["node", "--id", "4", "--join", "--data-dir"])
            .arg(dir.path().join("n4"))
            .args(["--listen-peer", &peer, "--listen-client", &client])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn a joining node"),
    );
    wait_until("the client port", Duration::from_secs(10), || {
        TcpStream::connect(&client).is_ok()
    });
    let not_added = "NOLEADER this node has not been added to a cluster yet \
                     (started with --join): add it with raft-cli member add";
    for command in [&["SET", "k", "v"][..], &["GET", "k"], &["INCR", "n"]] {
        let started = Instant::now();
        let reply = error_text(call(&client, command));
        assert_eq!(reply, not_added, "{command:?}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{command:?} answered at once, not after the request timeout ({:?})",
            started.elapsed()
        );
    }
    let info = Client::new(vec![client.clone()])
        .expect("endpoint")
        .info()
        .expect("INFO answers");
    assert!(
        info.lines().any(|l| l.trim_end() == "membership:joining"),
        "INFO says the node is joining:\n{info}"
    );
    let out = run_cli(&["status", "--endpoints", &client]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("{client} is joining")),
        "status says so: {text}"
    );
}

#[test]
fn a_read_that_never_found_a_leader_is_not_served_not_timed_out() {
    let mut c = Cluster::start_with(3, &["--request-timeout-ms", "1500"]);
    assert_eq!(c.info(1, "membership").as_deref(), Some("member"));
    let leader = c.wait_for_leader(Duration::from_secs(10));
    let survivor = (1..=3).find(|&i| i != leader).expect("a follower");
    for i in (1..=3).filter(|&i| i != survivor) {
        c.kill9(i);
    }
    wait_until(
        "the survivor to know no leader",
        Duration::from_secs(10),
        || c.info(survivor, "leader_id").as_deref() == Some("0"),
    );
    let addr = c.client[survivor - 1].clone();
    let read = error_text(call(&addr, &["GET", "k"]));
    assert!(
        read.starts_with("NOLEADER "),
        "a read no leader ever took was not served: {read}"
    );
    let write = error_text(call(&addr, &["SET", "k", "v"]));
    assert!(write.starts_with("NOLEADER "), "nor was the write: {write}");
}

#[test]
fn node_help_lists_the_nodes_flags_and_client_commands_list_client_options() {
    let help = |args: &[&str]| {
        let out = run_cli(args);
        assert!(out.status.success(), "{args:?} --help exits 0");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // The option names a help text defines (its lines that start with one).
    let defined = |text: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.trim_start().strip_prefix("--"))
            .map(|rest| {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect();
                format!("--{name}")
            })
            .collect()
    };
    let client_flags = [
        "--endpoints",
        "--password",
        "--tls",
        "--cacert",
        "--cert",
        "--key",
    ];
    let node = defined(&help(&["node", "--help"]));
    assert!(node.contains(&"--data-dir".to_string()), "{node:?}");
    for flag in client_flags {
        assert!(
            !node.contains(&flag.to_string()),
            "`node --help` shows no client option {flag}: {node:?}"
        );
    }
    for command in [
        &["get", "--help"][..],
        &["status", "--help"],
        &["member", "add", "--help"],
    ] {
        let text = defined(&help(command));
        for flag in client_flags {
            assert!(
                text.contains(&flag.to_string()),
                "{command:?} shows {flag}: {text:?}"
            );
        }
    }
    let local = defined(&help(&["local", "--help"]));
    assert!(
        !local.contains(&"--endpoints".to_string()),
        "nor does `local --help`"
    );
    let refused = run_cli(&["--endpoints", "127.0.0.1:1", "node", "--id", "1"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("`raft-cli node` does not take them"),
        "a client option given to `node` is refused, not ignored"
    );
}
