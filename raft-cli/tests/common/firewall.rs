//! Network partitions between test nodes with iptables rules on their loopback
//! peer addresses (see `peer_ip`). Every rule carries a comment naming this test
//! process, and dropping the `Firewall` removes them all.

use std::process::Command;

/// Set to `1` (as `.ci/run` does) to make partition tests fail, rather than be
/// skipped, where iptables cannot be used (not root, or no NET_ADMIN).
pub const REQUIRE_ENV: &str = "RAFT_TEST_REQUIRE_IPTABLES";

/// Drops packets between chosen nodes' peer addresses.
pub struct Firewall {
    tag: String,
    rules: Vec<(usize, usize)>,
}

fn iptables(args: &[&str]) -> Result<(), String> {
    let out = Command::new("iptables")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run iptables: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "iptables {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Firewall {
    /// A firewall if iptables works here. Otherwise `None` with the reason
    /// printed, or a panic when `RAFT_TEST_REQUIRE_IPTABLES=1`.
    pub fn open() -> Option<Firewall> {
        match iptables(&["-w", "-L", "INPUT", "-n"]) {
            Ok(()) => Some(Firewall {
                tag: format!("raft-kv-test-{}", std::process::id()),
                rules: Vec::new(),
            }),
            Err(e) if std::env::var(REQUIRE_ENV).as_deref() == Ok("1") => {
                panic!("{REQUIRE_ENV}=1 but iptables is unusable: {e}")
            }
            Err(e) => {
                eprintln!("SKIPPED: partition test needs iptables (root): {e}");
                None
            }
        }
    }

    fn rule(&self, op: &str, from: usize, to: usize) -> Result<(), String> {
        let (src, dst) = (super::peer_ip(from), super::peer_ip(to));
        iptables(&[
            "-w",
            op,
            "INPUT",
            "-s",
            &src,
            "-d",
            &dst,
            "-m",
            "comment",
            "--comment",
            &self.tag,
            "-j",
            "DROP",
        ])
    }

    /// Drops every packet from node `from` to node `to` (TCP then fails both
    /// ways on their connections; the link is cut).
    pub fn drop_link(&mut self, from: usize, to: usize) {
        if self.rules.contains(&(from, to)) {
            return;
        }
        self.rule("-I", from, to).expect("add a firewall rule");
        self.rules.push((from, to));
    }

    /// Cuts every link between a node of `a` and a node of `b`.
    pub fn split(&mut self, a: &[usize], b: &[usize]) {
        for &x in a {
            for &y in b {
                self.drop_link(x, y);
                self.drop_link(y, x);
            }
        }
    }

    /// Removes every rule this firewall added.
    pub fn heal(&mut self) {
        for (from, to) in std::mem::take(&mut self.rules) {
            if let Err(e) = self.rule("-D", from, to) {
                eprintln!("cannot remove a firewall rule: {e}");
            }
        }
    }
}

impl Drop for Firewall {
    fn drop(&mut self) {
        self.heal();
    }
}
