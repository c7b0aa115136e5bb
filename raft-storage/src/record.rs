//! Checksummed record framing shared by the WAL and the small state files.
//!
//! A record is a 12-byte header and a payload:
//! `len: u32 LE | header_crc: u32 LE (CRC32C of len) | payload_crc: u32 LE | payload`.
//! The header checksum lets recovery trust `len` before reading the payload, so a
//! corrupted length is reported as corruption rather than mistaken for a torn tail.
//!
//! Scanning a file classifies its end the way fjall's journal does: a record cut
//! short by the end of the file, a zero-filled remainder, or a last record whose
//! checksum fails with nothing but zeros after it is a *torn tail* (a crash
//! mid-write: in a preallocated file the unwritten rest reads as zeros) and is
//! cut off; any other mismatch is *corruption*, reported with the offset.

/// Bytes of a record header.
pub const HEADER_LEN: usize = 12;
/// Upper bound on one record's payload (a limit on everything read from disk;
/// the length field is 32 bits).
pub const MAX_RECORD_LEN: usize = u32::MAX as usize;

/// Appends one framed record holding `payload` to `out`. Callers keep payloads
/// within [`MAX_RECORD_LEN`] (WAL entries are bounded by the request limit,
/// snapshot records by their batch size, whole files are checked first).
pub fn encode_into(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(&header_for(&[payload]));
    out.extend_from_slice(payload);
}

/// The header of a record whose payload is the concatenation of `parts`, so
/// that a large payload can be written from its pieces without joining them.
/// Callers keep the total within [`MAX_RECORD_LEN`].
pub fn header_for(parts: &[&[u8]]) -> [u8; HEADER_LEN] {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    assert!(
        total <= MAX_RECORD_LEN,
        "record of {total} bytes exceeds the limit"
    );
    let len = (total as u32).to_le_bytes();
    let payload_crc = parts
        .iter()
        .fold(0, |crc, part| crc32c::crc32c_append(crc, part));
    let mut header = [0u8; HEADER_LEN];
    header[0..4].copy_from_slice(&len);
    header[4..8].copy_from_slice(&crc32c::crc32c(&len).to_le_bytes());
    header[8..12].copy_from_slice(&payload_crc.to_le_bytes());
    header
}

/// How a scan of a byte buffer ended.
#[derive(Debug, PartialEq, Eq)]
pub enum ScanEnd {
    /// Every byte belonged to a valid record.
    Clean,
    /// The records end at `valid_len`; the bytes after it are a torn write.
    TornTail {
        /// Length of the valid prefix.
        valid_len: usize,
    },
    /// A record at `offset` is damaged and valid data may follow it.
    Corrupt {
        /// Offset of the damaged record.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Splits `buf` into record payloads `(offset, payload)` and says how it ended.
pub fn scan(buf: &[u8]) -> (Vec<(usize, &[u8])>, ScanEnd) {
    let mut records = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let rest = &buf[pos..];
        if all_zero(rest) {
            return (records, ScanEnd::TornTail { valid_len: pos });
        }
        if rest.len() < HEADER_LEN {
            return (records, ScanEnd::TornTail { valid_len: pos });
        }
        let len_bytes: [u8; 4] = rest[0..4].try_into().expect("slice of 4 bytes");
        let header_crc = u32::from_le_bytes(rest[4..8].try_into().expect("slice of 4 bytes"));
        if crc32c::crc32c(&len_bytes) != header_crc {
            if all_zero(&rest[HEADER_LEN..]) {
                // A header only partly written, and nothing after it.
                return (records, ScanEnd::TornTail { valid_len: pos });
            }
            let reason = "record header checksum mismatch";
            return (
                records,
                ScanEnd::Corrupt {
                    offset: pos,
                    reason,
                },
            );
        }
        let len = u32::from_le_bytes(len_bytes) as usize;
        if len > MAX_RECORD_LEN {
            let reason = "record length exceeds the limit";
            return (
                records,
                ScanEnd::Corrupt {
                    offset: pos,
                    reason,
                },
            );
        }
        if rest.len() < HEADER_LEN + len {
            return (records, ScanEnd::TornTail { valid_len: pos });
        }
        let payload_crc = u32::from_le_bytes(rest[8..12].try_into().expect("slice of 4 bytes"));
        let payload = &rest[HEADER_LEN..HEADER_LEN + len];
        if crc32c::crc32c(payload) != payload_crc {
            if all_zero(&rest[HEADER_LEN + len..]) {
                // The last record written: its payload was only partly written.
                return (records, ScanEnd::TornTail { valid_len: pos });
            }
            let reason = "record payload checksum mismatch";
            return (
                records,
                ScanEnd::Corrupt {
                    offset: pos,
                    reason,
                },
            );
        }
        records.push((pos, payload));
        pos += HEADER_LEN + len;
    }
    (records, ScanEnd::Clean)
}

fn all_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three_records() -> Vec<u8> {
        let mut buf = Vec::new();
        for p in [&b"alpha"[..], b"beta", b"gamma-gamma"] {
            encode_into(&mut buf, p);
        }
        buf
    }

    #[test]
    fn a_record_written_in_parts_equals_one_written_whole() {
        let parts: [&[u8]; 4] = [b"head", b"", &[7u8; 5000], b"tail"];
        let mut whole = Vec::new();
        encode_into(&mut whole, &parts.concat());
        let mut pieces = header_for(&parts).to_vec();
        for p in parts {
            pieces.extend_from_slice(p);
        }
        assert_eq!(pieces, whole);
    }

    #[test]
    fn clean_buffer_yields_every_record() {
        let buf = three_records();
        let (recs, end) = scan(&buf);
        assert_eq!(end, ScanEnd::Clean);
        let payloads: Vec<&[u8]> = recs.iter().map(|r| r.1).collect();
        assert_eq!(payloads, vec![&b"alpha"[..], b"beta", b"gamma-gamma"]);
    }

    /// Cuts the last of [`three_records`] at every byte, followed by
    /// `zeros` zero bytes (what a preallocated file reads past a write):
    /// always the first two records and a torn tail where the third starts.
    fn assert_every_cut_of_the_last_record_is_torn(zeros: usize) -> (Vec<u8>, usize) {
        let clean = three_records();
        let last_start = clean.len() - (HEADER_LEN + 11);
        for cut in last_start + 1..clean.len() {
            let mut buf = clean[..cut].to_vec();
            buf.resize(cut + zeros, 0);
            let (recs, end) = scan(&buf);
            assert_eq!(recs.len(), 2, "cut at {cut}, {zeros} zeros");
            assert_eq!(
                end,
                ScanEnd::TornTail {
                    valid_len: last_start
                },
                "cut at {cut}, {zeros} zeros"
            );
        }
        (clean, last_start)
    }

    #[test]
    fn cut_anywhere_in_last_record_is_a_torn_tail() {
        assert_every_cut_of_the_last_record_is_torn(0);
    }

    #[test]
    fn flipped_byte_in_a_middle_record_is_corruption() {
        let clean = three_records();
        let second = HEADER_LEN + 5;
        for at in second..second + HEADER_LEN + 4 {
            let mut buf = clean.clone();
            buf[at] ^= 0x40;
            let (recs, end) = scan(&buf);
            assert_eq!(recs.len(), 1);
            assert!(
                matches!(end, ScanEnd::Corrupt { offset, .. } if offset == second),
                "flip at {at}: {end:?}"
            );
        }
    }

    #[test]
    fn a_damaged_last_record_followed_by_zeros_is_a_torn_tail() {
        let (clean, last_start) = assert_every_cut_of_the_last_record_is_torn(64);
        let mut buf = clean;
        buf[last_start + HEADER_LEN] ^= 1;
        buf.extend_from_slice(&[0, 0, 1]);
        assert!(
            matches!(scan(&buf).1, ScanEnd::Corrupt { offset, .. } if offset == last_start),
            "data after the damaged record makes it corruption"
        );
    }

    #[test]
    fn zero_filled_tail_is_torn() {
        let mut buf = three_records();
        let len = buf.len();
        buf.extend_from_slice(&[0; 100]);
        assert_eq!(scan(&buf).1, ScanEnd::TornTail { valid_len: len });
    }
}
