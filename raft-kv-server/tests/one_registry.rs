//! Every fact about a command lives in its registry entry: no list of
//! command names stands anywhere else in the server side of the store (the
//! state machine, the runtime, the RESP port). This test reads their sources
//! and fails on a string literal that names a command outside the
//! registry's own places:
//! - a family (`store/*.rs`, `commands/*.rs`, `registry/introspect.rs`) is
//!   the registry's: its registrations name their commands in the
//!   registry's lower case (`read("get", ...)`), and its byte strings
//!   (`b"GET"`) are its options' words, which Redis spells like commands at
//!   times (`SET ... GET`, `SCAN ... TYPE`). An upper-case string naming a
//!   command in a family is a list of names, and fails;
//! - the first entry format's reader (`entry/legacy.rs`) maps each command
//!   that format logged to its words: a frozen table of the log format.
//!
//! Words of other vocabularies that are spelled as commands are listed in
//! [`OTHER_VOCABULARIES`], each with what it is. Clients (`client.rs`,
//! `raft-cli`) name the commands they send and are not read; neither are
//! tests.

use raft_kv_state::registry::registry;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Every command and subcommand word the registry serves, lower case.
fn names() -> HashSet<String> {
    let mut names = HashSet::new();
    for c in registry().all() {
        match c.split_once('|') {
            Some((container, sub)) => {
                names.insert(container.to_string());
                names.insert(sub.to_string());
            }
            None => {
                names.insert(c.clone());
            }
        }
    }
    // Subcommand words that are ordinary words too; a literal of one of
    // these names no command by itself.
    for common in [
        "id", "list", "info", "help", "count", "get", "set", "usage", "load", "flush",
    ] {
        names.remove(common);
    }
    // The top-level commands among them stay names.
    for c in registry().commands() {
        names.insert(c.name().to_string());
    }
    names
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("a source dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The code of a file before its test module, without comments.
fn code(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let code = match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        };
        out.push((i + 1, code.to_string()));
    }
    out
}

/// The string literals of `line`: (is a byte string, content).
fn literals(line: &str) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'"' {
            let byte_string = i > 0 && bytes[i - 1] == b'b';
            let mut j = i + 1;
            let mut text = String::new();
            while j < bytes.len() && bytes[j] != b'"' {
                if bytes[j] == b'\\' {
                    j += 1;
                }
                if j < bytes.len() {
                    text.push(bytes[j] as char);
                }
                j += 1;
            }
            out.push((byte_string, text));
            i = j + 1;
        } else {
            i += 1;
        }
    }
    out
}

/// Words that are spelled as commands but name something else, by the file
/// that uses them.
const OTHER_VOCABULARIES: &[(&str, &str, &str)] = &[
    (
        "raft-kv-state/src/errors/mod.rs",
        "SHUTDOWN",
        "an error code word",
    ),
    (
        "raft-kv-state/src/registry/flags.rs",
        "readonly",
        "a command flag",
    ),
    (
        "raft-kv-state/src/registry/tree.rs",
        "set",
        "a field of the tables",
    ),
    (
        "raft-kv-state/src/registry/metadata.rs",
        "keys",
        "a field of the tables",
    ),
    (
        "raft-kv-state/src/registry/metadata.rs",
        "docs",
        "a field of the tables",
    ),
    (
        "raft-kv-state/src/registry/keys.rs",
        "type",
        "a field of a key spec",
    ),
    (
        "raft-kv-state/src/store/value.rs",
        "set",
        "a value type's name",
    ),
    (
        "raft-kv-state/src/script/lua.rs",
        "KEYS",
        "a script's global",
    ),
    (
        "raft-kv-server/src/server/config.rs",
        "save",
        "a CONFIG parameter",
    ),
    (
        "raft-kv-server/src/info/mod.rs",
        "memory",
        "an INFO section",
    ),
    (
        "raft-kv-state/src/registry/flags.rs",
        "pubsub",
        "a command flag",
    ),
    ("raft-kv-server/src/info/mod.rs", "role", "an INFO field"),
    (
        "raft-kv-server/src/info/replication.rs",
        "role",
        "an INFO field",
    ),
    (
        "raft-kv-server/src/server/session.rs",
        "role",
        "a HELLO field",
    ),
    ("raft-kv/src/metrics/collector.rs", "role", "a metric label"),
    (
        "raft-kv-server/src/server/config.rs",
        "pubsub",
        "a client class of client-output-buffer-limit",
    ),
    (
        "raft-kv-server/src/info/mod.rs",
        "Memory",
        "an INFO section's title",
    ),
];

/// True for a file of tests.
fn is_test_file(p: &Path) -> bool {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    name == "tests.rs" || name.ends_with("_tests.rs") || name == "test_support.rs"
}

#[test]
fn no_command_name_stands_outside_the_registry() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let names = names();
    let mut files = Vec::new();
    for dir in ["raft-kv-state/src", "raft-kv/src", "raft-kv-server/src"] {
        rust_files(&root.join(dir), &mut files);
    }
    let family = |p: &Path| {
        let s = p.to_string_lossy();
        (s.contains("raft-kv-state/src/store/") && !s.ends_with("store/mod.rs"))
            || s.contains("raft-kv-state/src/commands/")
            || s.ends_with("registry/introspect.rs")
    };
    let mut found = Vec::new();
    for p in files {
        let s = p.to_string_lossy().to_string();
        let skipped = s.ends_with("entry/legacy.rs") || s.ends_with("raft-kv-server/src/client.rs");
        if skipped || is_test_file(&p) {
            continue;
        }
        let text = std::fs::read_to_string(&p).expect("readable");
        for (n, line) in code(&text) {
            for (byte_string, lit) in literals(&line) {
                if !names.contains(&lit.to_ascii_lowercase()) {
                    continue;
                }
                let in_family = family(&p) && (byte_string || lit == lit.to_ascii_lowercase());
                let other = OTHER_VOCABULARIES
                    .iter()
                    .any(|(file, word, _)| s.ends_with(file) && *word == lit);
                if !in_family && !other {
                    found.push(format!("{s}:{n}: \"{lit}\" in: {}", line.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "command names outside the registry (a fact about a command belongs in its entry):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_scan_finds_a_name_list_where_one_is() {
    // The check itself can fail: the old kind of list is caught.
    let planted = r#"const BLOCKING: [&str; 2] = ["BLPOP", "BRPOP"];"#;
    let names = names();
    let hits: Vec<String> = literals(planted)
        .into_iter()
        .filter(|(_, l)| names.contains(&l.to_ascii_lowercase()))
        .map(|(_, l)| l)
        .collect();
    assert_eq!(hits, ["BLPOP", "BRPOP"]);
}
