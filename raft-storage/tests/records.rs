//! Properties of the checksummed record framing every file on disk uses:
//! records read back as written, any cut of the file reads as a prefix with a
//! torn tail, and arbitrary bytes never panic the scanner.

use proptest::prelude::*;
use raft_storage::record::{ScanEnd, encode_into, scan};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn records_read_back_and_any_cut_is_a_prefix(
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..50), 0..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut file = Vec::new();
        for p in &payloads {
            encode_into(&mut file, p);
        }
        let (records, end) = scan(&file);
        prop_assert_eq!(end, ScanEnd::Clean);
        let read: Vec<&[u8]> = records.iter().map(|(_, p)| *p).collect();
        prop_assert_eq!(read, payloads.iter().map(Vec::as_slice).collect::<Vec<_>>());
        let cut = cut.index(file.len() + 1);
        let (records, end) = scan(&file[..cut]);
        prop_assert!(records.len() <= payloads.len());
        for ((_, got), want) in records.iter().zip(&payloads) {
            prop_assert_eq!(*got, &want[..]);
        }
        prop_assert!(matches!(end, ScanEnd::Clean | ScanEnd::TornTail { .. }), "{:?}", end);
    }

    /// A preallocated file reads as zeros past what was written, so a crash
    /// mid-write leaves a prefix followed by zeros: never corruption.
    #[test]
    fn any_cut_followed_by_zeros_is_a_prefix_with_a_torn_tail(
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..50), 1..8),
        cut in any::<prop::sample::Index>(),
        zeros in 1usize..300,
    ) {
        let mut file = Vec::new();
        for p in &payloads {
            encode_into(&mut file, p);
        }
        let cut = cut.index(file.len() + 1);
        let mut preallocated = file[..cut].to_vec();
        preallocated.resize(cut + zeros, 0);
        let (records, end) = scan(&preallocated);
        let valid = match end {
            ScanEnd::TornTail { valid_len } => valid_len,
            // The zeros completed a record whose last bytes are zeros.
            ScanEnd::Clean => preallocated.len(),
            other => return Err(TestCaseError::fail(format!("{other:?} at cut {cut}"))),
        };
        prop_assert!(valid <= preallocated.len());
        prop_assert!(records.len() <= payloads.len());
        for ((_, got), want) in records.iter().zip(&payloads) {
            prop_assert_eq!(*got, &want[..]);
        }
    }

    #[test]
    fn any_bytes_scan_without_panic(buf in prop::collection::vec(any::<u8>(), 0..400)) {
        let (records, end) = scan(&buf);
        let valid = match end {
            ScanEnd::Clean => buf.len(),
            ScanEnd::TornTail { valid_len } => valid_len,
            ScanEnd::Corrupt { offset, .. } => offset,
        };
        prop_assert!(valid <= buf.len());
        prop_assert!(records.iter().all(|(off, p)| off + 12 + p.len() <= valid));
    }
}
