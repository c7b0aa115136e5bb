//! The limits a client request is held to, which travel in script entries
//! (a script's commands are held to its proposer's limits on every replica).

/// Limits on client requests (from the contract: key 64 KiB, value 8 MiB,
/// request 16 MiB).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// Largest key in bytes.
    pub max_key: usize,
    /// Largest value in bytes.
    pub max_value: usize,
    /// Largest request (all arguments) in bytes.
    pub max_request: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_key: 64 << 10,
            max_value: 8 << 20,
            max_request: 16 << 20,
        }
    }
}
