//! Client libraries people already use, with their default settings, against
//! a real cluster through the leader and through a follower: redis-py
//! (`scripts/smoke/redis_py.py`; redis-py 8 opens with `HELLO 3`) and
//! node-redis (`scripts/smoke/node_redis.js`). Without the library the test
//! says SKIPPED, unless `RAFT_TEST_REQUIRE_CLIENT_LIBS` is set (`.ci/run`
//! installs both and sets it).

mod common;

use common::Cluster;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn required() -> bool {
    std::env::var_os("RAFT_TEST_REQUIRE_CLIENT_LIBS").is_some()
}

/// True if `probe` (a command that loads the library) succeeds.
fn available(what: &str, probe: &mut Command) -> bool {
    let ok = probe.output().is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            !required(),
            "{what} is required (RAFT_TEST_REQUIRE_CLIENT_LIBS) but missing"
        );
        eprintln!("SKIPPED: {what} is not installed");
    }
    ok
}

fn smoke(c: &Cluster, mut command: impl FnMut() -> Command, script: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let leader = c.wait_for_leader(Duration::from_secs(10));
    let follower = (1..=3).find(|&i| i != leader).expect("a follower");
    for (node, prefix) in [(leader, "via-leader"), (follower, "via-follower")] {
        let out = command()
            .arg(root.join(script))
            .args([&c.client[node - 1], prefix])
            .output()
            .expect("run the smoke script");
        assert!(
            out.status.success(),
            "{script} against node {node}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn redis_py_with_its_defaults_passes_the_smoke_test() {
    if !available(
        "redis-py",
        Command::new("python3").args(["-c", "import redis"]),
    ) {
        return;
    }
    let c = Cluster::start(3);
    smoke(&c, || Command::new("python3"), "scripts/smoke/redis_py.py");
}

#[test]
fn node_redis_passes_the_smoke_test() {
    let node = || {
        let mut c = Command::new("node");
        c.env("NODE_PATH", "/usr/share/nodejs");
        c
    };
    if !available("node-redis", node().args(["-e", "require('redis')"])) {
        return;
    }
    let c = Cluster::start(3);
    smoke(&c, node, "scripts/smoke/node_redis.js");
}

/// The README's retry example for redis-py: a node without a quorum answers
/// `-NOLEADER` (nothing happened), the example retries with redis-py's
/// `Retry` until the quorum is back, and never retries what is not safe to.
#[test]
fn redis_py_retries_noleader_until_a_leader_is_back() {
    if !available(
        "redis-py",
        Command::new("python3").args(["-c", "import redis"]),
    ) {
        return;
    }
    let mut c = Cluster::start_with(3, &["--request-timeout-ms", "500"]);
    let leader = c.wait_for_leader(Duration::from_secs(10));
    let survivor = (1..=3).find(|&i| i != leader).expect("a follower");
    let others: Vec<usize> = (1..=3).filter(|&i| i != survivor).collect();
    for &i in &others {
        c.kill9(i);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let script = Command::new("python3")
        .arg(root.join("scripts/smoke/redis_py_retry.py"))
        .args([&c.client[survivor - 1], "retry"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run the retry example");
    std::thread::sleep(Duration::from_secs(2));
    c.start_node(others[0]);
    let out = script.wait_with_output().expect("the example ends");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the retry example:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let retries: u32 = stdout
        .trim()
        .strip_prefix("retries=")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the example reports its retries: {stdout}"));
    assert!(retries >= 1, "the node had no quorum for 2 s: {stdout}");
}
