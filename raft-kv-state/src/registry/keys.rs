//! Where a command's keys are: Redis 7's key specs, read from the command
//! tables, and the search Redis runs over them (`getKeysUsingKeySpecs`),
//! for `COMMAND GETKEYS`, `WATCH`, and the key-size limit every request is
//! checked against.

use super::tree::{TableError, Tree};

/// Where the search for a spec's keys begins.
#[derive(Clone, Debug, PartialEq)]
enum BeginSearch {
    /// At this argument.
    Index(usize),
    /// After this keyword, looked for from `startfrom` (negative: from the
    /// end, backwards).
    Keyword { keyword: String, startfrom: i64 },
    /// Only a command's own parse knows.
    Unknown,
}

/// Which arguments from the beginning are keys.
#[derive(Clone, Debug, PartialEq)]
enum FindKeys {
    /// `lastkey` (relative to the first key; negative from the end), every
    /// `keystep`-th; with `limit`, a 1/limit share of what is left.
    Range {
        lastkey: i64,
        keystep: usize,
        limit: i64,
    },
    /// A count at `keynumidx` (relative), the keys from `firstkey` (relative).
    Keynum {
        keynumidx: usize,
        firstkey: usize,
        keystep: usize,
    },
    /// Only a command's own parse knows.
    Unknown,
}

/// One key spec.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct KeySpec {
    /// Its flags (`RW`, `access`, ...), as `COMMAND GETKEYSANDFLAGS` shows them.
    flags: Vec<String>,
    begin: BeginSearch,
    find: FindKeys,
    /// The spec names arguments that are not keys (a channel, say).
    not_key: bool,
    /// It may not find every key (the command's own parse does).
    incomplete: bool,
}

fn usize_of(t: Option<&Tree>, what: &'static str) -> Result<usize, TableError> {
    t.and_then(Tree::int)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or(TableError::KeySpec(what))
}

impl KeySpec {
    /// Reads one spec of a table.
    pub(crate) fn of(t: &Tree) -> Result<KeySpec, TableError> {
        let flags: Vec<String> = t
            .get("flags")
            .map(|f| {
                f.items()
                    .iter()
                    .filter_map(Tree::text)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let bs = t
            .get("begin_search")
            .ok_or(TableError::KeySpec("begin_search"))?;
        let bs_spec = bs.get("spec");
        let begin = match bs.get("type").and_then(Tree::text) {
            Some("index") => {
                BeginSearch::Index(usize_of(bs_spec.and_then(|s| s.get("index")), "index")?)
            }
            Some("keyword") => BeginSearch::Keyword {
                keyword: bs_spec
                    .and_then(|s| s.get("keyword"))
                    .and_then(Tree::text)
                    .ok_or(TableError::KeySpec("a keyword"))?
                    .to_string(),
                startfrom: bs_spec
                    .and_then(|s| s.get("startfrom"))
                    .and_then(Tree::int)
                    .ok_or(TableError::KeySpec("startfrom"))?,
            },
            _ => BeginSearch::Unknown,
        };
        let fk = t.get("find_keys").ok_or(TableError::KeySpec("find_keys"))?;
        let fk_spec = fk.get("spec");
        let field = |name: &str| fk_spec.and_then(|s| s.get(name));
        let find = match fk.get("type").and_then(Tree::text) {
            Some("range") => FindKeys::Range {
                lastkey: field("lastkey")
                    .and_then(Tree::int)
                    .ok_or(TableError::KeySpec("lastkey"))?,
                keystep: usize_of(field("keystep"), "keystep")?,
                limit: field("limit").and_then(Tree::int).unwrap_or(0),
            },
            Some("keynum") => FindKeys::Keynum {
                keynumidx: usize_of(field("keynumidx"), "keynumidx")?,
                firstkey: usize_of(field("firstkey"), "firstkey")?,
                keystep: usize_of(field("keystep"), "keystep")?,
            },
            _ => FindKeys::Unknown,
        };
        Ok(KeySpec {
            not_key: flags.iter().any(|f| f == "not_key"),
            incomplete: flags.iter().any(|f| f == "incomplete"),
            flags,
            begin,
            find,
        })
    }

    /// Appends the positions of this spec's keys in `argv` (the name first)
    /// to `out`; `Err` if the spec cannot find them all (an unknown or
    /// incomplete spec, or arguments that do not fit it).
    fn find(&self, argv: &[Vec<u8>], out: &mut Vec<usize>) -> Result<(), ()> {
        let argc = argv.len() as i64;
        let first = match &self.begin {
            BeginSearch::Index(i) => *i as i64,
            BeginSearch::Keyword { keyword, startfrom } => {
                let is_keyword =
                    |i: &i64| argv[*i as usize].eq_ignore_ascii_case(keyword.as_bytes());
                // Redis's bounds: forwards up to the last argument but one,
                // backwards down to the second.
                let found = if *startfrom > 0 {
                    (*startfrom..argc - 1).find(is_keyword)
                } else {
                    (2..=(argc + startfrom).min(argc - 1))
                        .rev()
                        .find(is_keyword)
                };
                match found {
                    Some(i) => i + 1,
                    None => return Ok(()), // the keyword is optional: no keys
                }
            }
            BeginSearch::Unknown => return Err(()),
        };
        let (first, last, step) = match self.find {
            FindKeys::Range {
                lastkey,
                keystep,
                limit,
            } => {
                let last = if lastkey >= 0 {
                    first + lastkey
                } else if limit == 0 {
                    argc + lastkey
                } else {
                    first + ((argc - first) / limit + lastkey)
                };
                (first, last, keystep)
            }
            FindKeys::Keynum {
                keynumidx,
                firstkey,
                keystep,
            } => {
                let at = first + keynumidx as i64;
                let numkeys = argv
                    .get(usize::try_from(at).map_err(|_| ())?)
                    .and_then(|w| crate::numbers::parse_redis_int(w))
                    .filter(|n| *n >= 0)
                    .ok_or(())?;
                let first = first + firstkey as i64;
                (first, first + numkeys - 1, keystep)
            }
            FindKeys::Unknown => return Err(()),
        };
        if last < first {
            return Ok(()); // no keys (numkeys 0)
        }
        if last >= argc || first >= argc {
            return Err(());
        }
        out.extend((first..=last).step_by(step.max(1)).map(|i| i as usize));
        if self.incomplete { Err(()) } else { Ok(()) }
    }
}

/// A key's position in a call's words, and the flags of the spec that
/// found it.
pub(crate) type KeyAt<'a> = (usize, &'a [String]);

/// A command's own parse of its keys (where its key specs cannot tell, as
/// SORT's `STORE`): the positions in `argv` (the name first), each with its
/// flags.
pub(crate) type KeyParse = fn(&[Vec<u8>]) -> Vec<(usize, &'static [&'static str])>;

/// How a command's keys are found.
#[derive(Clone, Copy, Debug)]
pub(crate) enum KeyFinder {
    /// By its key specs.
    Specs,
    /// By its own parse.
    Parse(KeyParse),
}

/// The keys of `argv` (the name first) by `specs`, as Redis finds them;
/// `None` if the specs cannot tell.
pub(crate) fn positions<'s>(specs: &'s [KeySpec], argv: &[Vec<u8>]) -> Option<Vec<KeyAt<'s>>> {
    let mut out = Vec::new();
    for spec in specs.iter().filter(|s| !s.not_key) {
        let mut found = Vec::new();
        spec.find(argv, &mut found).ok()?;
        out.extend(found.into_iter().map(|p| (p, spec.flags.as_slice())));
    }
    Some(out)
}

/// True if `specs` name any key.
pub(crate) fn has_keys(specs: &[KeySpec]) -> bool {
    specs.iter().any(|s| !s.not_key)
}
