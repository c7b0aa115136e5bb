//! The settings of `raft-cli node`: one struct that is both the command-line
//! flags (clap) and the `--config` TOML file (serde, the same names in
//! kebab-case: `listen-peer = "127.0.0.1:7001"`). Flags win over the file
//! through one generic overlay. Unknown keys are refused by name, so a typo
//! never passes silently.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Flags of `raft-cli node`. Every flag may also come from `--config`.
#[derive(clap::Args, Deserialize, Serialize, Debug, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NodeSettings {
    /// This node's id (a positive integer, unique in the cluster).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// Directory for the WAL, state and snapshots (created if missing).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on for peers, e.g. 127.0.0.1:7001.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen_peer: Option<String>,
    /// Address to listen on for RESP clients, e.g. 127.0.0.1:6001.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen_client: Option<String>,
    /// Every initial voter as ID=PEER_ADDR, comma-separated, self included. Used
    /// only when the data dir holds no state yet.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_cluster: Option<String>,
    /// Mixed into the cluster id at bootstrap, so that two clusters started
    /// with the same --initial-cluster never accept each other's members or
    /// data dirs. Give every initial member the same token (`local` does).
    /// Ignored once the data dir holds state.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_cluster_token: Option<String>,
    /// Address for GET /metrics and GET /health.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<String>,
    /// Start empty and wait to be added to an existing cluster (`member add`);
    /// an --initial-cluster given with it only tells where the members are.
    #[arg(long, num_args = 0, default_missing_value = "true")]
    pub join: Option<bool>,
    /// A TOML file with any of these settings (kebab-case keys); flags win.
    #[arg(long)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Print the settings in force (the file and the flags merged) as TOML,
    /// then exit without starting.
    #[arg(long)]
    #[serde(skip)]
    pub print_config: bool,
    /// Raft tick in milliseconds (default 50).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tick_ms: Option<u64>,
    /// Election timeout in ticks (default 10; randomized up to twice this).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub election_ticks: Option<u64>,
    /// Client request timeout in milliseconds (default 5000).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_timeout_ms: Option<u64>,
    /// Snapshot and compact the log once this many entries (default 10000;
    /// 0 disables automatic snapshots) and at least as many bytes as the last
    /// snapshot's size were applied since the last one.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_every: Option<u64>,
    /// A leader makes its new log entries durable on a writer thread while
    /// it goes on replicating, and counts itself once they are (default
    /// true); false: it waits for each of its own fdatasyncs.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader_log_writer: Option<bool>,
    /// Send peer frames of at least this many KiB (large append batches,
    /// snapshot chunks) LZ4-compressed to peers that read LZ4 (default 256:
    /// bulk transfers only; 0 sends every frame plain).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_compress_from_kib: Option<u64>,
    /// Close client connections idle this many milliseconds (default 0: never).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_idle_timeout_ms: Option<u64>,
    /// Close a connection whose request is not completely sent within this
    /// many milliseconds (default 10000).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_read_timeout_ms: Option<u64>,
    /// MiB of unfinished requests buffered across all clients; beyond it a
    /// request is refused and its connection closed (default 256).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_buffer_limit_mb: Option<u64>,
    /// Clients must `AUTH` with this password before any other command (see
    /// also --requirepass-file, which keeps it out of the process list).
    #[arg(long, conflicts_with = "requirepass_file")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requirepass: Option<String>,
    /// A file whose first line is the client password.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requirepass_file: Option<PathBuf>,
    /// PEM certificate (chain) this node presents to its peers; with
    /// --peer-key and --peer-ca, members talk mutual TLS (all or none do).
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_cert: Option<PathBuf>,
    /// PEM private key of --peer-cert.
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_key: Option<PathBuf>,
    /// PEM cluster CA: peers must present a certificate it issued.
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_ca: Option<PathBuf>,
    /// PEM certificate (chain) of the client port; with --client-key, clients
    /// connect with TLS (`redis-cli --tls --cacert CA`).
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<PathBuf>,
    /// PEM private key of --client-cert.
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_key: Option<PathBuf>,
    /// PEM CA for client certificates: with it, clients must present one.
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_ca: Option<PathBuf>,
}

/// Why a `--config` file or the settings as TOML failed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// The file is not TOML of these settings; the message names the key or
    /// the line at fault (`line 3 (id = "x"): invalid type ...`).
    #[error("{}{}", .at.as_ref().map(|(n, l)| format!("line {n} ({l}): ")).unwrap_or_default(), .source.message())]
    Parse {
        /// The line number and text at fault, when known.
        at: Option<(usize, String)>,
        /// What the TOML parser said.
        source: Box<toml::de::Error>,
    },
    /// The settings could not be written as TOML.
    #[error("cannot write the settings as TOML: {0}")]
    Write(#[from] toml::ser::Error),
}

impl NodeSettings {
    /// Parses a TOML text; the error names the key or the line at fault.
    pub fn parse(text: &str) -> Result<NodeSettings, ConfigFileError> {
        toml::from_str(text).map_err(|source| {
            let at = source.span().map(|span| {
                let start = span.start.min(text.len());
                let number = text[..start].matches('\n').count() + 1;
                let line = text
                    .lines()
                    .nth(number - 1)
                    .unwrap_or("")
                    .trim()
                    .to_string();
                (number, line)
            });
            ConfigFileError::Parse {
                at,
                source: Box::new(source),
            }
        })
    }

    /// These settings with every one that `flags` sets taken from `flags`:
    /// one generic overlay through TOML tables, no field merged by hand.
    pub fn overlaid_with(self, flags: &NodeSettings) -> Result<NodeSettings, ConfigFileError> {
        let mut merged = toml::Table::try_from(&self)?;
        merged.extend(toml::Table::try_from(flags)?);
        let mut out: NodeSettings = merged.try_into().map_err(|source| ConfigFileError::Parse {
            at: None,
            source: Box::new(source),
        })?;
        out.config = flags.config.clone();
        out.print_config = flags.print_config;
        Ok(out)
    }

    /// The settings as a TOML document (for `--print-config`).
    pub fn to_toml(&self) -> Result<String, ConfigFileError> {
        Ok(toml::to_string(self)?)
    }
}

#[cfg(test)]
mod tests {
    use super::NodeSettings;

    #[test]
    fn keys_are_the_flags_in_kebab_case() {
        let f =
            NodeSettings::parse("id = 3\nlisten-peer = \"127.0.0.1:7003\"\npeer-ca = \"ca.pem\"\n")
                .expect("valid");
        assert_eq!(f.id, Some(3));
        assert_eq!(f.listen_peer.as_deref(), Some("127.0.0.1:7003"));
        assert_eq!(f.peer_ca, Some("ca.pem".into()));
    }

    #[test]
    fn the_flags_win_and_the_file_fills_in_the_rest() {
        let file = NodeSettings::parse("id = 3\njoin = true\ntick-ms = 20\nmetrics = \"a:1\"\n")
            .expect("valid");
        let flags = NodeSettings {
            tick_ms: Some(50),
            print_config: true,
            ..NodeSettings::default()
        };
        let merged = file.overlaid_with(&flags).expect("merges");
        assert_eq!(merged.id, Some(3));
        assert_eq!(merged.join, Some(true));
        assert_eq!(merged.tick_ms, Some(50));
        assert_eq!(merged.metrics.as_deref(), Some("a:1"));
        assert!(merged.print_config);
    }

    #[test]
    fn the_example_file_parses_and_prints_back_the_same() {
        let example = NodeSettings::parse(include_str!("../../examples/node.toml"))
            .expect("examples/node.toml is valid");
        assert_eq!(example.id, Some(1));
        assert!(example.peer_ca.is_some() && example.requirepass_file.is_some());
        let printed = example.to_toml().expect("prints");
        assert_eq!(NodeSettings::parse(&printed).expect("reparses"), example);
    }
}
