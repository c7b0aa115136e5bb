//! The [`NodeOp`]s a session carries out on its node: `INFO`, `TIME`,
//! `CONFIG`, membership and snapshots (`RAFT.*`, `SAVE`, `BGSAVE`),
//! `SHUTDOWN`, and the scripting commands that consult the node's script
//! cache before a script is proposed as one entry.

use super::config::{self, LiveSettings};
use super::outcome::{Outcome, now};
use super::session::Session;
use raft_core::ConfChangeStep;
use raft_kv_state::entry::ScriptCall;
use raft_kv_state::registry::plan::{NodeOp, Script, ShutdownHow, Subscription};
use raft_kv_state::{CommandError, Op, Reply};

impl Session {
    /// Carries out `op`.
    pub(super) fn node_op(&mut self, op: NodeOp) -> Outcome {
        match op {
            NodeOp::Info(sections) => now(Reply::Bulk(Some(self.info(&sections)))),
            NodeOp::Time => now(time_reply()),
            NodeOp::Role => now(crate::info::role_reply(&self.node.status())),
            NodeOp::ConfigGet(patterns) => now(config::get(&patterns, &self.live_settings())),
            NodeOp::ConfigSet(pairs) => {
                let mut live = self.live_settings();
                let reply = config::set(&pairs, &mut live);
                self.node.set_busy_threshold_ms(live.busy_threshold_ms);
                self.node.pubsub().set_output_limit(live.pubsub_limit);
                now(reply)
            }
            NodeOp::AddNode { id, addr, learner } => {
                let step = match learner {
                    true => ConfChangeStep::AddLearner(id),
                    false => ConfChangeStep::AddVoter(id),
                };
                Outcome::Reply(self.node.conf_change(step, Some(addr)))
            }
            NodeOp::RemoveNode(id) => {
                Outcome::Reply(self.node.conf_change(ConfChangeStep::Remove(id), None))
            }
            NodeOp::Transfer(id) => {
                let node = self.node.clone();
                Outcome::Reply(
                    self.node
                        .in_background(move || node.transfer(id).map(|()| Reply::ok())),
                )
            }
            NodeOp::Snapshot => {
                let node = self.node.clone();
                Outcome::Reply(
                    self.node
                        .in_background(move || node.snapshot().map(|()| Reply::ok())),
                )
            }
            NodeOp::BackgroundSnapshot(scheduled) => self.background_snapshot(scheduled),
            NodeOp::Shutdown(ShutdownHow::Abort) => now(CommandError::NoShutdownInProgress),
            NodeOp::Shutdown(ShutdownHow::Stop) => {
                log::info!("SHUTDOWN from a client: stopping this node gracefully");
                self.node.request_stop();
                Outcome::Hangup
            }
            NodeOp::Eval(script) => self.propose_script(script),
            NodeOp::EvalSha(mut script) => match self.node.scripts().get(&script.body) {
                Some(body) => {
                    script.body = body.to_vec();
                    self.propose_script(script)
                }
                None => now(CommandError::NoScript),
            },
            NodeOp::ScriptLoad(body) => now(match raft_kv_state::script::check_syntax(&body) {
                Ok(()) => Reply::Bulk(Some(self.node.scripts().insert(&body).into_bytes())),
                Err(e) => e.into(),
            }),
            NodeOp::ScriptExists(shas) => now(Reply::Array(
                shas.iter()
                    .map(|sha| Reply::Int(i64::from(self.node.scripts().get(sha).is_some())))
                    .collect(),
            )),
            NodeOp::ScriptFlush => {
                self.node.scripts().flush();
                now(Reply::ok())
            }
            NodeOp::ScriptKill => self.script_kill(),
            NodeOp::PubSub(q) => now(super::pushes::pubsub_reply(self.node.pubsub(), q)),
        }
    }

    fn live_settings(&self) -> LiveSettings {
        LiveSettings {
            busy_threshold_ms: self.node.busy_threshold_ms(),
            pubsub_limit: self.node.pubsub().output_limit(),
        }
    }

    /// `INFO [section ...]`: Redis's sections and the node's Raft state.
    fn info(&self, sections: &[Vec<u8>]) -> Vec<u8> {
        let cfg = self.node.config();
        let (blocked_clients, blocking_keys) = self.node.blocked_clients();
        let facts = crate::info::ServerFacts {
            tcp_port: cfg
                .listen_client
                .rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or(0),
            max_clients: cfg.max_connections,
            keys: self.node.key_count() as i64,
            blocked_clients,
            blocking_keys,
            state_machine_version: self.node.state_machine_version(),
            pubsub: [
                Subscription::Channel,
                Subscription::Pattern,
                Subscription::Shard,
            ]
            .map(|kind| self.node.pubsub().count(kind)),
        };
        crate::info::render(&self.node.status(), self.node.metrics(), &facts, sections)
    }

    /// BGSAVE [SCHEDULE]: this node takes a snapshot (and compacts its log)
    /// in the background.
    fn background_snapshot(&self, scheduled: bool) -> Outcome {
        let reply = match scheduled {
            false => "Background saving started",
            true => "Background saving scheduled",
        };
        let node = self.node.clone();
        let started = std::thread::Builder::new()
            .name("raft-kv-bgsave".into())
            .spawn(move || {
                if let Err(e) = node.snapshot() {
                    log::warn!("BGSAVE: the snapshot was not taken: {e}");
                }
            });
        match started {
            Ok(_) => now(Reply::Simple(reply.into())),
            Err(e) => {
                log::error!("cannot start the snapshot thread for BGSAVE: {e}");
                now(CommandError::SnapshotNotStarted(e.to_string()))
            }
        }
    }

    /// Proposes `script` as one entry. As Redis does, a script that does not
    /// compile is answered at once (and never logged); a cached one compiled
    /// before.
    fn propose_script(&mut self, script: Script) -> Outcome {
        let sha = raft_kv_state::script::sha1_hex(&script.body);
        let known = self.node.scripts().contains_or_admit(
            sha,
            &script.body,
            raft_kv_state::script::check_syntax,
        );
        if let Err(e) = known {
            return now(e);
        }
        let call = ScriptCall {
            body: script.body,
            keys: script.keys,
            args: script.args,
            seed: self.next_seed(),
            read_only: script.read_only,
            limits: self.limits,
        };
        Outcome::Reply(self.node.write(Op::Script(Box::new(call))))
    }

    /// `SCRIPT KILL`: through the log, so that every replica kills the
    /// script at the same point.
    fn script_kill(&self) -> Outcome {
        match self.node.running_script() {
            None => now(CommandError::NotBusy),
            Some(r) if r.unkillable => now(CommandError::Unkillable),
            Some(r) => Outcome::Reply(self.node.write(Op::ScriptMarker {
                script: r.index,
                kill: true,
            })),
        }
    }
}

/// TIME: this node's clock as `[seconds, microseconds]`.
fn time_reply() -> Reply {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Reply::Array(vec![
        Reply::Bulk(Some(now.as_secs().to_string().into_bytes())),
        Reply::Bulk(Some(now.subsec_micros().to_string().into_bytes())),
    ])
}
