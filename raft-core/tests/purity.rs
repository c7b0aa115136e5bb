//! The consensus core stays pure: no file system, network, threads, clocks or
//! ambient randomness anywhere in `raft-core/src`.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn core_sources_use_no_io_threads_clocks_or_ambient_randomness() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 5, "found the sources");
    let forbidden = [
        "std::fs",
        "std::net",
        "std::thread",
        "Instant",
        "SystemTime",
        "thread_rng",
        "rand::",
    ];
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable source");
        for word in forbidden {
            assert!(!text.contains(word), "{} uses {word}", file.display());
        }
    }
}
