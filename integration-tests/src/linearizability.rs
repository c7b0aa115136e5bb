//! A linearizability checker for a history of register operations on one key
//! (Wing & Gong's search with Lowe's memoization of (linearized set, state)).
//!
//! Writes whose outcome is unknown have no return time: they may take effect at
//! any point after their call, or never. A write of a unique value that no read
//! observed is dropped first: placing it last is always possible and changes no
//! read, so it cannot make a history (non-)linearizable.

use std::collections::HashSet;

/// What an operation did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpKind {
    /// Wrote the value.
    Write(u64),
    /// Read the value (None: the key was absent).
    Read(Option<u64>),
}

/// One client operation on one key, with logical call and return times.
#[derive(Clone, Debug)]
pub struct Op {
    /// The client that issued it.
    pub client: u64,
    /// What it did.
    pub kind: OpKind,
    /// When it was invoked.
    pub call: u64,
    /// When it returned; None if its outcome is unknown (writes only).
    pub ret: Option<u64>,
}

/// Checks that `ops` (all on one key, starting absent) is linearizable. Returns a
/// description of the problem if not. `budget` bounds the search steps.
pub fn check_register(ops: &[Op], budget: u64) -> Result<(), String> {
    let ops = relevant(ops);
    if ops.is_empty() {
        return Ok(());
    }
    Search { ops: &ops }.run(budget)
}

/// The operations that constrain the order: every read, and the writes that
/// returned or whose value was read (a write that never returned and was never
/// seen may be left out).
fn relevant(ops: &[Op]) -> Vec<&Op> {
    let read_values: HashSet<u64> = ops
        .iter()
        .filter_map(|o| match o.kind {
            OpKind::Read(Some(v)) => Some(v),
            _ => None,
        })
        .collect();
    ops.iter()
        .filter(|o| match o.kind {
            OpKind::Write(v) => o.ret.is_some() || read_values.contains(&v),
            OpKind::Read(_) => true,
        })
        .collect()
}

/// One frame of the iterative depth-first search: the linearized set (a bit
/// per operation), the register value, and the candidates still to try.
struct Frame {
    done: Vec<u64>,
    state: Option<u64>,
    candidates: Vec<usize>,
}

/// Wing-Gong/Lowe search for a linearization of `ops`.
struct Search<'a> {
    ops: &'a [&'a Op],
}

impl Search<'_> {
    fn ret(&self, i: usize) -> u64 {
        self.ops[i].ret.unwrap_or(u64::MAX)
    }

    fn is_done(done: &[u64], i: usize) -> bool {
        done[i / 64] >> (i % 64) & 1 == 1
    }

    /// The operations that may come next: not done, and called before every
    /// pending operation returned.
    fn candidates_of(&self, done: &[u64]) -> Vec<usize> {
        let n = self.ops.len();
        let min_ret = (0..n)
            .filter(|&i| !Self::is_done(done, i))
            .map(|i| self.ret(i))
            .min()
            .unwrap_or(u64::MAX);
        (0..n)
            .filter(|&i| !Self::is_done(done, i) && self.ops[i].call < min_ret)
            .collect()
    }

    fn run(&self, budget: u64) -> Result<(), String> {
        let n = self.ops.len();
        let mut seen: HashSet<(Vec<u64>, Option<u64>)> = HashSet::new();
        let root = vec![0u64; n.div_ceil(64)];
        let mut stack = vec![Frame {
            candidates: self.candidates_of(&root),
            done: root,
            state: None,
        }];
        let mut steps = 0u64;
        let mut deepest = 0usize;
        while let Some(frame) = stack.last_mut() {
            steps += 1;
            if steps > budget {
                return Err(format!(
                    "search budget of {budget} steps exhausted ({n} ops)"
                ));
            }
            let Some(i) = frame.candidates.pop() else {
                stack.pop();
                continue;
            };
            let next_state = match self.ops[i].kind {
                OpKind::Write(v) => Some(v),
                OpKind::Read(v) if v == frame.state => frame.state,
                OpKind::Read(_) => continue,
            };
            let mut done = frame.done.clone();
            done[i / 64] |= 1 << (i % 64);
            let count = done.iter().map(|w| w.count_ones()).sum::<u32>() as usize;
            if count == n {
                return Ok(());
            }
            deepest = deepest.max(count);
            if seen.insert((done.clone(), next_state)) {
                let candidates = self.candidates_of(&done);
                stack.push(Frame {
                    candidates,
                    done,
                    state: next_state,
                });
            }
        }
        Err(format!(
            "not linearizable: no order of {n} ops fits (deepest prefix {deepest}): {:?}",
            self.ops
                .iter()
                .map(|o| (o.client, &o.kind, o.call, o.ret))
                .collect::<Vec<_>>()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(v: u64, call: u64, ret: Option<u64>) -> Op {
        Op {
            client: v,
            kind: OpKind::Write(v),
            call,
            ret,
        }
    }
    fn r(v: Option<u64>, call: u64, ret: u64) -> Op {
        Op {
            client: 100,
            kind: OpKind::Read(v),
            call,
            ret: Some(ret),
        }
    }

    #[test]
    fn sequential_history_is_linearizable() {
        let h = vec![
            w(1, 0, Some(1)),
            r(Some(1), 2, 3),
            w(2, 4, Some(5)),
            r(Some(2), 6, 7),
        ];
        assert!(check_register(&h, 10_000).is_ok());
    }

    #[test]
    fn stale_read_is_caught() {
        let h = vec![w(1, 0, Some(1)), w(2, 2, Some(3)), r(Some(1), 4, 5)];
        assert!(check_register(&h, 10_000).is_err());
    }

    #[test]
    fn concurrent_ops_may_order_either_way() {
        let h = vec![w(1, 0, Some(10)), w(2, 1, Some(9)), r(Some(1), 11, 12)];
        assert!(check_register(&h, 10_000).is_ok());
    }

    #[test]
    fn unknown_write_may_take_effect_late() {
        let h = vec![w(1, 0, None), r(None, 1, 2), r(Some(1), 50, 51)];
        assert!(check_register(&h, 10_000).is_ok());
    }

    #[test]
    fn read_of_never_written_value_is_caught() {
        let h = vec![w(1, 0, Some(1)), r(Some(7), 2, 3)];
        assert!(check_register(&h, 10_000).is_err());
    }

    #[test]
    fn value_cannot_come_back_after_being_overwritten() {
        let h = vec![
            w(1, 0, Some(1)),
            w(2, 2, Some(3)),
            r(Some(2), 4, 5),
            r(Some(1), 6, 7),
        ];
        assert!(check_register(&h, 10_000).is_err());
    }
}
