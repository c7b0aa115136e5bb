//! `backup FILE` and `restore FILE`.

use crate::client_cmds::Target;
use crate::error::CliError;
use clap::Args;
use raft_kv::{NodeConfig, Reply, backup, parse_initial_cluster};
use std::path::PathBuf;

/// Flags of `raft-cli restore`.
#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// The backup file (from `raft-cli backup`).
    file: PathBuf,
    /// The new member's data dir (must not exist yet, or be empty).
    #[arg(long)]
    data_dir: PathBuf,
    /// The new member's id.
    #[arg(long)]
    id: u64,
    /// Every member of the NEW cluster as ID=PEER_ADDR (self included); the
    /// same on every member restored from this file.
    #[arg(long)]
    initial_cluster: String,
    /// Mixed into the new cluster's id (give every member the same).
    #[arg(long)]
    initial_cluster_token: Option<String>,
}

/// Saves a consistent copy of the whole state (linearizable: it holds every
/// write acknowledged before it started) to `file`.
pub fn backup(t: &Target, file: &std::path::Path) -> Result<(), CliError> {
    let mut c = t.client()?;
    let state = match c.call(&[b"RAFT.BACKUP"], true)? {
        Reply::Bulk(Some(state)) => state,
        Reply::Error(e) => return Err(CliError::Refused(e)),
        reply => {
            return Err(CliError::UnexpectedReply {
                command: "RAFT.BACKUP",
                reply,
            });
        }
    };
    let (bytes, summary) = backup::encode(&state)?;
    let tmp = file.with_extension("partial");
    std::fs::write(&tmp, &bytes)
        .and_then(|()| std::fs::rename(&tmp, file))
        .map_err(CliError::io(format!("write {}", file.display())))?;
    say!(
        "backup at index {}: {} keys, {} bytes, crc32c {:08x} -> {}",
        summary.index,
        summary.keys,
        summary.bytes,
        summary.crc,
        file.display()
    );
    Ok(())
}

/// Builds a fresh data dir for one member of a new cluster from a backup.
pub fn restore(args: RestoreArgs) -> Result<(), CliError> {
    let bytes =
        std::fs::read(&args.file).map_err(CliError::io(format!("read {}", args.file.display())))?;
    let (state, summary) = backup::decode(&bytes).map_err(|source| CliError::NotABackup {
        path: args.file.clone(),
        source,
    })?;
    let members = parse_initial_cluster(&args.initial_cluster)?;
    let own = members
        .get(&args.id)
        .cloned()
        .ok_or(CliError::NotInInitialCluster(args.id))?;
    let mut cfg = NodeConfig::new(args.id, &args.data_dir, own, "unused:0");
    cfg.initial_cluster = members;
    cfg.initial_cluster_token = args.initial_cluster_token;
    backup::restore(&cfg, state, &summary)?;
    say!(
        "restored index {} ({} keys) into {} as member {} of a new cluster; start it with the same --initial-cluster",
        summary.index,
        summary.keys,
        args.data_dir.display(),
        args.id
    );
    Ok(())
}
