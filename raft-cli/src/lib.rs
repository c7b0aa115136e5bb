//! The library half of `raft-cli`: what its binary parses that is worth
//! testing and fuzzing on its own (the `--config` file).

pub mod config_file;
