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
