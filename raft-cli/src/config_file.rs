//! The `--config` file of `raft-cli node`: TOML with the same settings as the
//! flags, spelled in kebab-case (`listen-peer = "127.0.0.1:7001"`). Unknown
//! keys are refused by name, so a typo never passes silently.

use serde::Deserialize;
use std::path::PathBuf;

/// The settings a `--config` file may hold; each is the flag of the same name.
#[derive(Deserialize, Debug, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NodeFile {
    /// `--id`.
    pub id: Option<u64>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--listen-peer`.
    pub listen_peer: Option<String>,
    /// `--listen-client`.
    pub listen_client: Option<String>,
    /// `--initial-cluster`.
    pub initial_cluster: Option<String>,
    /// `--initial-cluster-token`.
    pub initial_cluster_token: Option<String>,
    /// `--metrics`.
    pub metrics: Option<String>,
    /// `--join`.
    pub join: Option<bool>,
    /// `--tick-ms`.
    pub tick_ms: Option<u64>,
    /// `--election-ticks`.
    pub election_ticks: Option<u64>,
    /// `--request-timeout-ms`.
    pub request_timeout_ms: Option<u64>,
    /// `--snapshot-every`.
    pub snapshot_every: Option<u64>,
    /// `--requirepass`.
    pub requirepass: Option<String>,
    /// `--requirepass-file`.
    pub requirepass_file: Option<PathBuf>,
    /// `--client-idle-timeout-ms`.
    pub client_idle_timeout_ms: Option<u64>,
    /// `--request-read-timeout-ms`.
    pub request_read_timeout_ms: Option<u64>,
    /// `--client-buffer-limit-mb`.
    pub client_buffer_limit_mb: Option<u64>,
    /// `--peer-cert`.
    pub peer_cert: Option<PathBuf>,
    /// `--peer-key`.
    pub peer_key: Option<PathBuf>,
    /// `--peer-ca`.
    pub peer_ca: Option<PathBuf>,
    /// `--client-cert`.
    pub client_cert: Option<PathBuf>,
    /// `--client-key`.
    pub client_key: Option<PathBuf>,
    /// `--client-ca`.
    pub client_ca: Option<PathBuf>,
}

impl NodeFile {
    /// Parses a TOML text; the error names the key or the line at fault.
    pub fn parse(text: &str) -> Result<NodeFile, String> {
        toml::from_str(text).map_err(|e| e.message().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::NodeFile;

    #[test]
    fn keys_are_the_flags_in_kebab_case() {
        let f = NodeFile::parse("id = 3\nlisten-peer = \"127.0.0.1:7003\"\npeer-ca = \"ca.pem\"\n")
            .expect("valid");
        assert_eq!(f.id, Some(3));
        assert_eq!(f.listen_peer.as_deref(), Some("127.0.0.1:7003"));
        assert_eq!(f.peer_ca, Some("ca.pem".into()));
    }
}
