//! Receiving a streamed `InstallSnapshot`.
//!
//! The leader's sender splits a large snapshot into `SnapshotChunk` frames. This
//! module owns the other end: chunks are appended, in order, to a spool file in
//! the transport's spool directory (or to memory when it has none), the CRC32C of
//! the whole is checked on the bytes read back from the spool, and only then is
//! the complete message handed to the node. A transfer that breaks off (chunk out
//! of order, a new snapshot, the connection closing, an I/O error) deletes its
//! spool file; the leader starts the snapshot again from its first chunk.

use crate::frame::SnapshotChunk as Chunk;
use raft_core::{Message, MessageBody, NodeId};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Largest snapshot a node accepts (bytes).
pub(crate) const MAX_SNAPSHOT_BYTES: u64 = 64 << 30;

/// Suffix of spool files; files with it left by a crash are removed at start.
const SPOOL_SUFFIX: &str = ".part";

/// Removes spool files a previous run left behind; creates the directory.
pub(crate) fn prepare_spool_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.to_string_lossy().ends_with(SPOOL_SUFFIX) {
            log::info!(
                "removing an interrupted snapshot transfer {}",
                path.display()
            );
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

/// Where received chunks go until the snapshot is complete.
enum Sink {
    Memory(Vec<u8>),
    File { path: PathBuf, out: BufWriter<File> },
}

impl Sink {
    fn open(spool_dir: Option<&Path>, from: NodeId, id: u64, total: u64) -> std::io::Result<Sink> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let Some(dir) = spool_dir else {
            return Ok(Sink::Memory(
                Vec::with_capacity(total.min(1 << 30) as usize),
            ));
        };
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("snapshot-{id}-from-{from}-{seq}{SPOOL_SUFFIX}"));
        let out = BufWriter::with_capacity(1 << 20, File::create(&path)?);
        Ok(Sink::File { path, out })
    }

    fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Memory(buf) => {
                buf.extend_from_slice(data);
                Ok(())
            }
            Sink::File { out, .. } => out.write_all(data),
        }
    }

    /// The bytes received, read back from the spool file if there is one.
    fn finish(&mut self) -> std::io::Result<Vec<u8>> {
        match self {
            Sink::Memory(buf) => Ok(std::mem::take(buf)),
            Sink::File { path, out } => {
                out.flush()?;
                std::fs::read(path)
            }
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Sink::File { path, .. } = self
            && let Err(e) = std::fs::remove_file(path.as_path())
        {
            log::warn!("cannot remove snapshot spool file {}: {e}", path.display());
        }
    }
}

/// A snapshot being received.
struct Transfer {
    header: Message,
    id: u64,
    total: u64,
    received: u64,
    crc: u32,
    sink: Sink,
}

/// Reassembles the snapshot streams of one peer connection.
pub(crate) struct SnapshotReceiver {
    spool_dir: Option<PathBuf>,
    from: NodeId,
    current: Option<Transfer>,
}

impl SnapshotReceiver {
    /// A receiver for chunks from node `from`, spooling to `spool_dir` if given.
    pub(crate) fn new(spool_dir: Option<PathBuf>, from: NodeId) -> SnapshotReceiver {
        SnapshotReceiver {
            spool_dir,
            from,
            current: None,
        }
    }

    /// Takes one chunk; returns the complete `InstallSnapshot` message once its
    /// last chunk arrived and the whole passed its checksum.
    pub(crate) fn chunk(&mut self, c: Chunk) -> Option<Message> {
        use log::Level::{Error, Warn};
        if c.total > MAX_SNAPSHOT_BYTES {
            let why = format!("{} bytes, over the limit of {MAX_SNAPSHOT_BYTES}", c.total);
            return self.abandon(Error, c.id, &why);
        }
        if c.offset == 0 {
            self.current = None; // a new stream replaces (and deletes) an old one
            let header = c.header?;
            match Sink::open(self.spool_dir.as_deref(), self.from, c.id, c.total) {
                Ok(sink) => {
                    self.current = Some(Transfer {
                        header,
                        id: c.id,
                        total: c.total,
                        received: 0,
                        crc: c.crc,
                        sink,
                    })
                }
                Err(e) => return self.abandon(Error, c.id, &format!("cannot spool it: {e}")),
            }
        }
        let t = self.current.as_mut()?;
        if t.id != c.id || t.received != c.offset || t.total != c.total || t.crc != c.crc {
            let why = format!("chunk out of order (offset {})", c.offset);
            return self.abandon(Warn, c.id, &why);
        }
        if t.received + c.data.len() as u64 > t.total {
            return self.abandon(Warn, c.id, "chunks overrun its length");
        }
        if let Err(e) = t.sink.write(&c.data) {
            return self.abandon(Error, c.id, &format!("cannot spool it: {e}"));
        }
        t.received += c.data.len() as u64;
        if t.received < t.total {
            return None;
        }
        let mut t = self.current.take()?;
        self.complete(&mut t)
    }

    /// Drops the transfer in progress (deleting its spool file) and logs why;
    /// the leader sends the snapshot again from its first chunk.
    fn abandon(&mut self, level: log::Level, id: u64, why: &str) -> Option<Message> {
        log::log!(
            level,
            "snapshot {id} from node {}: {why}; transfer abandoned",
            self.from
        );
        self.current = None;
        None
    }

    fn complete(&self, t: &mut Transfer) -> Option<Message> {
        let data = match t.sink.finish() {
            Ok(data) => data,
            Err(e) => {
                log::error!(
                    "cannot read back snapshot {} from node {}: {e}",
                    t.id,
                    self.from
                );
                return None;
            }
        };
        if data.len() as u64 != t.total || crc32c::crc32c(&data) != t.crc {
            log::error!(
                "snapshot {} from node {} failed its checksum; discarded",
                t.id,
                self.from
            );
            return None;
        }
        let mut m = t.header.clone();
        match &mut m.body {
            MessageBody::InstallSnapshot { snapshot } => {
                snapshot.data = data;
                Some(m)
            }
            _ => {
                log::warn!(
                    "snapshot chunks from node {} carry no InstallSnapshot",
                    self.from
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(index: u64) -> Message {
        let mut snapshot = raft_core::Snapshot::default();
        snapshot.meta.index = index;
        Message {
            from: 1,
            to: 2,
            term: 3,
            body: MessageBody::InstallSnapshot { snapshot },
        }
    }

    fn chunks(id: u64, data: &[u8], size: usize) -> Vec<Chunk> {
        let crc = crc32c::crc32c(data);
        data.chunks(size)
            .enumerate()
            .map(|(i, piece)| Chunk {
                id,
                offset: (i * size) as u64,
                total: data.len() as u64,
                crc,
                header: (i == 0).then(|| header(id)),
                data: piece.to_vec(),
            })
            .collect()
    }

    fn spool_files(dir: &Path) -> usize {
        std::fs::read_dir(dir).expect("spool dir").count()
    }

    fn deliver(rx: &mut SnapshotReceiver, chunks: Vec<Chunk>) -> Vec<Message> {
        chunks.into_iter().filter_map(|c| rx.chunk(c)).collect()
    }

    fn data_of(m: &Message) -> &[u8] {
        match &m.body {
            MessageBody::InstallSnapshot { snapshot } => &snapshot.data,
            other => panic!("not a snapshot: {other:?}"),
        }
    }

    #[test]
    fn chunks_are_spooled_then_delivered_intact_and_the_file_removed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
        let mut rx = SnapshotReceiver::new(Some(dir.path().to_path_buf()), 1);
        let mut parts = chunks(9, &data, 4096);
        let last = parts.pop().expect("several chunks");
        assert!(deliver(&mut rx, parts).is_empty());
        assert_eq!(
            spool_files(dir.path()),
            1,
            "the partial snapshot is on disk"
        );
        let m = rx.chunk(last).expect("complete");
        assert_eq!(data_of(&m), &data[..]);
        assert_eq!(spool_files(dir.path()), 0);
    }

    #[test]
    fn a_chunk_out_of_order_abandons_the_transfer_and_a_restart_succeeds() {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = vec![5u8; 10_000];
        let mut rx = SnapshotReceiver::new(Some(dir.path().to_path_buf()), 1);
        let mut parts = chunks(4, &data, 1000);
        parts.remove(3);
        assert!(deliver(&mut rx, parts).is_empty());
        assert_eq!(spool_files(dir.path()), 0, "abandoned transfer deleted");
        let got = deliver(&mut rx, chunks(4, &data, 1000));
        assert_eq!(got.len(), 1);
        assert_eq!(data_of(&got[0]), &data[..]);
    }

    #[test]
    fn a_corrupted_snapshot_is_discarded() {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = vec![1u8; 5000];
        let mut parts = chunks(4, &data, 1000);
        parts[2].data[10] ^= 0xff;
        let mut rx = SnapshotReceiver::new(Some(dir.path().to_path_buf()), 1);
        assert!(deliver(&mut rx, parts).is_empty());
        assert_eq!(spool_files(dir.path()), 0);
    }

    #[test]
    fn a_new_snapshot_replaces_one_half_received() {
        let dir = tempfile::tempdir().expect("temp dir");
        let old = vec![1u8; 5000];
        let new = vec![2u8; 3000];
        let mut rx = SnapshotReceiver::new(Some(dir.path().to_path_buf()), 1);
        let mut parts = chunks(4, &old, 1000);
        parts.truncate(2);
        parts.extend(chunks(8, &new, 1000));
        let got = deliver(&mut rx, parts);
        assert_eq!(got.len(), 1);
        assert_eq!(data_of(&got[0]), &new[..]);
        assert_eq!(spool_files(dir.path()), 0);
    }

    #[test]
    fn a_dropped_connection_deletes_its_partial_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut rx = SnapshotReceiver::new(Some(dir.path().to_path_buf()), 1);
        let mut parts = chunks(4, &[3u8; 5000], 1000);
        parts.truncate(2);
        deliver(&mut rx, parts);
        assert_eq!(spool_files(dir.path()), 1);
        drop(rx);
        assert_eq!(spool_files(dir.path()), 0);
    }

    #[test]
    fn leftovers_of_a_crash_are_removed_at_start() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("snapshot-4-from-1-0.part"), b"half").expect("write");
        std::fs::write(dir.path().join("keep.txt"), b"x").expect("write");
        prepare_spool_dir(dir.path()).expect("prepare");
        assert_eq!(spool_files(dir.path()), 1);
    }

    #[test]
    fn without_a_spool_directory_chunks_are_held_in_memory() {
        let data = vec![9u8; 2500];
        let mut rx = SnapshotReceiver::new(None, 1);
        let got = deliver(&mut rx, chunks(4, &data, 1000));
        assert_eq!(data_of(&got[0]), &data[..]);
    }
}
