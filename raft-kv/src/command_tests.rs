//! Log compatibility of the command encoding.

use super::*;

/// The command layout before bulk byte serialization: plain derives.
#[derive(Serialize)]
enum LegacyCommand {
    Set {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Del {
        keys: Vec<Vec<u8>>,
    },
    MSet {
        pairs: Vec<(Vec<u8>, Vec<u8>)>,
    },
    IncrBy {
        key: Vec<u8>,
        delta: i64,
    },
    Cas {
        key: Vec<u8>,
        expected: Vec<u8>,
        new: Vec<u8>,
    },
}

#[test]
fn commands_keep_their_bytes_so_old_logs_replay() {
    let (k, v) = (b"key".to_vec(), vec![0u8, 1, 255]);
    let cases = [
        (
            LegacyCommand::Set {
                key: k.clone(),
                value: v.clone(),
            },
            Command::Set {
                key: k.clone(),
                value: v.clone(),
            },
        ),
        (
            LegacyCommand::Del {
                keys: vec![k.clone(), vec![]],
            },
            Command::Del {
                keys: vec![k.clone(), vec![]],
            },
        ),
        (
            LegacyCommand::MSet {
                pairs: vec![(k.clone(), v.clone())],
            },
            Command::MSet {
                pairs: vec![(k.clone(), v.clone())],
            },
        ),
        (
            LegacyCommand::IncrBy {
                key: k.clone(),
                delta: -3,
            },
            Command::IncrBy {
                key: k.clone(),
                delta: -3,
            },
        ),
        (
            LegacyCommand::Cas {
                key: k.clone(),
                expected: v.clone(),
                new: vec![],
            },
            Command::Cas {
                key: k.clone(),
                expected: v.clone(),
                new: vec![],
            },
        ),
    ];
    for (old, new) in cases {
        let old = postcard::to_stdvec(&old).expect("encodes");
        assert_eq!(old, postcard::to_stdvec(&new).expect("encodes"), "{new:?}");
        assert_eq!(postcard::from_bytes::<Command>(&old).expect("decodes"), new);
    }
}
