//! Small files replaced atomically: write a temp file, fsync it, rename it over
//! the old one, fsync the directory. A reader sees the old or the new content,
//! never a mix; the content is one checksummed record.

use crate::StoreError;
use crate::record;
use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

/// Writes `payload` to `path` atomically and durably.
pub fn write(path: &Path, payload: &[u8]) -> Result<(), StoreError> {
    write_parts(path, &[payload])
}

/// A large file is flushed to disk every this many bytes while it is written,
/// so that its final fsync does not push one long burst ahead of the WAL's.
const SYNC_EVERY_BYTES: usize = 8 << 20;

/// Like [`write`], with the payload given as pieces to be concatenated: a large
/// payload (a snapshot) is written from where it lies, never copied into one
/// buffer.
pub fn write_parts(path: &Path, parts: &[&[u8]]) -> Result<(), StoreError> {
    let dir = path
        .parent()
        .ok_or_else(|| StoreError::io(path, "path has no parent directory"))?;
    let total: usize = parts.iter().map(|p| p.len()).sum();
    if total > record::MAX_RECORD_LEN {
        return Err(StoreError::Invalid(format!(
            "{} would hold {total} bytes, more than one record can ({})",
            path.display(),
            record::MAX_RECORD_LEN
        )));
    }
    let tmp = path.with_extension("tmp");
    let header = record::header_for(parts);
    let mut f = File::create(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
    f.write_all(&header).map_err(|e| StoreError::io(&tmp, e))?;
    let mut unsynced = 0;
    for piece in parts.iter().flat_map(|p| p.chunks(SYNC_EVERY_BYTES)) {
        f.write_all(piece).map_err(|e| StoreError::io(&tmp, e))?;
        unsynced += piece.len();
        if unsynced >= SYNC_EVERY_BYTES {
            f.sync_data().map_err(|e| StoreError::io(&tmp, e))?;
            unsynced = 0;
        }
    }
    f.sync_all().map_err(|e| StoreError::io(&tmp, e))?;
    drop(f);
    fs::rename(&tmp, path).map_err(|e| StoreError::io(path, e))?;
    sync_dir(dir)
}

/// Reads the payload written by [`write`]; `None` if the file does not exist.
pub fn read(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    let buf = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io(path, e)),
    };
    let (records, end) = record::scan(&buf);
    match (records.as_slice(), end) {
        ([(_, payload)], record::ScanEnd::Clean) => Ok(Some(payload.to_vec())),
        (_, record::ScanEnd::Corrupt { offset, reason }) => Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            offset: offset as u64,
            reason: reason.to_string(),
        }),
        _ => Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            offset: 0,
            reason: "file does not hold exactly one complete record".into(),
        }),
    }
}

/// Fsyncs a directory so that renames and deletions in it are durable.
pub fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_larger_than_the_sync_interval_reads_back_whole() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("big");
        let big: Vec<u8> = (0..SYNC_EVERY_BYTES * 2 + 123)
            .map(|i| (i % 251) as u8)
            .collect();
        write_parts(&path, &[b"head", &big]).expect("write");
        let back = read(&path).expect("read").expect("present");
        assert_eq!(back.len(), 4 + big.len());
        assert!(back[..4] == b"head"[..] && back[4..] == big[..]);
        assert!(!path.with_extension("tmp").exists());
    }
}
