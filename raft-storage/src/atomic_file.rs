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
    let dir = path
        .parent()
        .ok_or_else(|| StoreError::io(path, "path has no parent directory"))?;
    if payload.len() > record::MAX_RECORD_LEN {
        return Err(StoreError::Invalid(format!(
            "{} would hold {} bytes, more than one record can ({})",
            path.display(),
            payload.len(),
            record::MAX_RECORD_LEN
        )));
    }
    let tmp = path.with_extension("tmp");
    let mut buf = Vec::with_capacity(payload.len() + record::HEADER_LEN);
    record::encode_into(&mut buf, payload);
    let mut f = File::create(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
    f.write_all(&buf).map_err(|e| StoreError::io(&tmp, e))?;
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
