//! `raft-cli status`: the whole cluster from any one endpoint. The first
//! endpoint that answers tells the membership and every member's client
//! address (`member_clients:` in its INFO); each member is then asked itself.

use crate::client_cmds::{Target, info_field};
use crate::error::CliError;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Flags of `raft-cli status`.
#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// Print JSON (one object: `members`, `voters`, `learners`, `joint`).
    #[arg(long)]
    json: bool,
    /// Refresh every SECS seconds (default 1) until interrupted.
    #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "1")]
    watch: Option<u64>,
}

/// One member as it reports itself.
#[derive(Serialize, Debug)]
pub(crate) struct Row {
    pub(crate) id: u64,
    /// `voter` or `learner`.
    pub(crate) kind: &'static str,
    /// Its client address, if it advertised one.
    pub(crate) address: Option<String>,
    pub(crate) role: Option<String>,
    pub(crate) term: Option<u64>,
    pub(crate) commit: Option<u64>,
    pub(crate) applied: Option<u64>,
    /// Entries the member has still to apply to reach the leader's commit.
    pub(crate) lag: Option<u64>,
    /// `ok`, or why the member could not be asked.
    pub(crate) health: String,
    /// The member's whole `INFO` text, when it answered as itself.
    #[serde(skip)]
    pub(crate) info: Option<String>,
}

/// The membership as one endpoint tells it, and each member as it tells itself.
#[derive(Serialize, Debug)]
pub(crate) struct ClusterView {
    pub(crate) members: Vec<Row>,
    voters: String,
    learners: String,
    joint: String,
    /// The endpoint the membership came from.
    pub(crate) asked: String,
    /// That endpoint's own `membership:` (`member`, `joining`, `removed`).
    pub(crate) asked_membership: String,
}

fn parse_map(text: &str) -> BTreeMap<u64, String> {
    text.split(',')
        .filter_map(|p| p.split_once('='))
        .filter_map(|(id, a)| Some((id.parse().ok()?, a.to_string())))
        .collect()
}

fn parse_ids(text: &str) -> BTreeSet<u64> {
    text.split(',')
        .filter_map(|id| id.trim().parse().ok())
        .collect()
}

pub(crate) fn number(info: &str, key: &str) -> Option<u64> {
    info_field(info, key).parse().ok()
}

/// The membership from the first endpoint that answers, then each member.
pub(crate) fn gather(t: &Target) -> Result<ClusterView, CliError> {
    // A joining or removed node knows no membership: ask on until a member
    // answers, and fall back to what the first endpoint said.
    let mut answers = t
        .endpoints
        .iter()
        .filter_map(|ep| Some((ep.clone(), t.client_at(ep).ok()?.info().ok()?)));
    let first = answers.next().ok_or(CliError::NoEndpointAnswered)?;
    let (asked, info) = if is_member(&first.1) {
        first
    } else {
        answers.find(|(_, info)| is_member(info)).unwrap_or(first)
    };
    let asked_membership = membership_of(&info).to_string();
    let voters = parse_ids(info_field(&info, "voters"));
    let learners = parse_ids(info_field(&info, "learners"));
    let joint = info_field(&info, "joint").to_string();
    let outgoing = joint
        .strip_prefix("yes outgoing=")
        .map(parse_ids)
        .unwrap_or_default();
    let mut clients = parse_map(info_field(&info, "member_clients"));
    if let Ok(own) = info_field(&info, "node_id").parse::<u64>() {
        clients.entry(own).or_insert_with(|| asked.clone());
    }
    let ids: BTreeSet<u64> = voters
        .iter()
        .chain(&learners)
        .chain(&outgoing)
        .copied()
        .collect();
    let mut rows: Vec<Row> = ids
        .into_iter()
        .map(|id| ask_member(t, id, learners.contains(&id), clients.get(&id)))
        .collect();
    let leader_commit = rows
        .iter()
        .find(|r| r.role.as_deref() == Some("leader"))
        .and_then(|r| r.commit);
    for r in &mut rows {
        r.lag = leader_commit
            .zip(r.applied)
            .map(|(c, a)| c.saturating_sub(a));
    }
    Ok(ClusterView {
        members: rows,
        voters: info_field(&info, "voters").to_string(),
        learners: info_field(&info, "learners").to_string(),
        joint,
        asked,
        asked_membership,
    })
}

/// The `membership:` a node's INFO states (`member` for nodes that predate it).
fn membership_of(info: &str) -> &str {
    match info_field(info, "membership") {
        "" => "member",
        m => m,
    }
}

fn is_member(info: &str) -> bool {
    membership_of(info) == "member"
}

/// Every member's id and client address (None: not advertised yet), from the
/// first endpoint that answers.
pub fn member_endpoints(t: &Target) -> Result<Vec<(u64, Option<String>)>, CliError> {
    Ok(gather(t)?
        .members
        .into_iter()
        .map(|r| (r.id, r.address))
        .collect())
}

fn ask_member(t: &Target, id: u64, learner: bool, address: Option<&String>) -> Row {
    let mut row = Row {
        id,
        kind: if learner { "learner" } else { "voter" },
        address: address.cloned(),
        role: None,
        term: None,
        commit: None,
        applied: None,
        lag: None,
        health: String::new(),
        info: None,
    };
    let Some(addr) = address else {
        row.health = "no client address advertised yet".into();
        return row;
    };
    match t.client_at(addr).and_then(|mut c| c.info()) {
        Ok(info) if number(&info, "node_id") == Some(id) => {
            row.role = Some(info_field(&info, "role").to_string());
            row.term = number(&info, "term");
            row.commit = number(&info, "commit_index");
            row.applied = number(&info, "applied_index");
            row.health = "ok".into();
            row.info = Some(info);
        }
        Ok(info) => {
            row.health = format!("answers as node {}", info_field(&info, "node_id"));
        }
        Err(e) => row.health = format!("unreachable: {e}"),
    }
    row
}

fn show(v: Option<impl ToString>) -> String {
    v.map_or_else(|| "-".to_string(), |x| x.to_string())
}

fn print_table(view: &ClusterView) {
    match view.asked_membership.as_str() {
        "member" => {}
        "joining" => say!(
            "{} is joining: it has not been added to a cluster yet \
             (add it with raft-cli member add, through a member)",
            view.asked
        ),
        other => say!("{} is {other}: no member answered", view.asked),
    }
    say!(
        "{:>4} {:<8} {:<22} {:<10} {:>6} {:>10} {:>10} {:>6}  HEALTH",
        "ID",
        "TYPE",
        "ADDRESS",
        "ROLE",
        "TERM",
        "COMMIT",
        "APPLIED",
        "LAG"
    );
    for r in &view.members {
        say!(
            "{:>4} {:<8} {:<22} {:<10} {:>6} {:>10} {:>10} {:>6}  {}",
            r.id,
            r.kind,
            r.address.as_deref().unwrap_or("?"),
            r.role.as_deref().unwrap_or("-"),
            show(r.term),
            show(r.commit),
            show(r.applied),
            show(r.lag),
            r.health
        );
    }
    say!(
        "voters: {}  learners: {}  joint: {}  (membership from {})",
        view.voters,
        view.learners,
        view.joint,
        view.asked
    );
}

/// Runs `raft-cli status`.
pub fn run(t: &Target, args: &StatusArgs) -> Result<(), CliError> {
    loop {
        let view = gather(t)?;
        if args.watch.is_some() && !args.json {
            say!("\x1b[H\x1b[2J"); // clear the screen, cursor home
        }
        if args.json {
            let text = serde_json::to_string(&view)?;
            say!("{text}");
        } else {
            print_table(&view);
        }
        match args.watch {
            Some(secs) => std::thread::sleep(Duration::from_secs(secs.max(1))),
            None => return Ok(()),
        }
    }
}
