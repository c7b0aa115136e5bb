//! What `top` shows per member, computed from two readings of its `INFO`:
//! proposals per second and the WAL fsync p99 over the interval between them.

use crate::client_cmds::info_field;
use crate::status_cmd::{ClusterView, Row, number};
use std::collections::BTreeMap;
use std::time::Instant;

/// One member's line of the view.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct MemberLine {
    pub(super) id: u64,
    pub(super) address: String,
    pub(super) role: String,
    pub(super) term: Option<u64>,
    pub(super) commit: Option<u64>,
    pub(super) applied: Option<u64>,
    pub(super) lag: Option<u64>,
    /// Proposals through this member per second since the last refresh.
    pub(super) proposals_per_sec: Option<f64>,
    /// WAL append+fsync p99 in seconds over the interval (since start on the
    /// first refresh); None without fsyncs.
    pub(super) fsync_p99: Option<f64>,
    pub(super) leader_changes: Option<u64>,
    pub(super) health: String,
}

/// The counters of one member at one moment.
struct Reading {
    at: Instant,
    proposals: u64,
    buckets: Vec<(f64, u64)>,
}

/// Remembers each member's last reading to turn counters into rates.
#[derive(Default)]
pub(super) struct Tracker {
    last: BTreeMap<u64, Reading>,
}

impl Tracker {
    /// The lines of `view`, read at `now`.
    pub(super) fn lines(&mut self, view: &ClusterView, now: Instant) -> Vec<MemberLine> {
        view.members.iter().map(|r| self.line(r, now)).collect()
    }

    fn line(&mut self, r: &Row, now: Instant) -> MemberLine {
        let mut line = MemberLine {
            id: r.id,
            address: r.address.clone().unwrap_or_else(|| "?".into()),
            role: r.role.clone().unwrap_or_else(|| "-".into()),
            term: r.term,
            commit: r.commit,
            applied: r.applied,
            lag: r.lag,
            proposals_per_sec: None,
            fsync_p99: None,
            leader_changes: None,
            health: r.health.clone(),
        };
        let Some(info) = &r.info else {
            self.last.remove(&r.id);
            return line;
        };
        line.leader_changes = number(info, "leader_changes");
        let reading = Reading {
            at: now,
            proposals: number(info, "proposals").unwrap_or(0),
            buckets: parse_buckets(info_field(info, "wal_fsync_buckets")),
        };
        let previous = self.last.insert(r.id, reading);
        let current = &self.last[&r.id];
        let before = previous.as_ref().map_or(&[][..], |p| &p.buckets[..]);
        line.fsync_p99 = quantile(0.99, &delta(&current.buckets, before));
        if let Some(p) = previous {
            let secs = current.at.duration_since(p.at).as_secs_f64();
            if secs > 0.0 {
                let done = current.proposals.saturating_sub(p.proposals);
                line.proposals_per_sec = Some(done as f64 / secs);
            }
        }
        line
    }
}

/// `le=count,...` from `INFO` (the last bound `+Inf`).
pub(super) fn parse_buckets(text: &str) -> Vec<(f64, u64)> {
    text.split(',')
        .filter_map(|pair| {
            let (le, n) = pair.split_once('=')?;
            let le = match le {
                "+Inf" => f64::INFINITY,
                b => b.parse().ok()?,
            };
            Some((le, n.parse().ok()?))
        })
        .collect()
}

/// Cumulative counts of `now` minus those of `before` (empty: since start).
/// A member that restarted has lower counts than before: its counts since the
/// restart are used.
fn delta(now: &[(f64, u64)], before: &[(f64, u64)]) -> Vec<(f64, u64)> {
    let restarted = now.len() != before.len() || now.iter().zip(before).any(|(n, b)| n.1 < b.1);
    if before.is_empty() || restarted {
        return now.to_vec();
    }
    now.iter()
        .zip(before)
        .map(|(&(le, n), &(_, b))| (le, n - b))
        .collect()
}

/// The `q` quantile of cumulative bucket counts, interpolated linearly inside
/// the bucket it falls in, as Prometheus's `histogram_quantile` does; a
/// quantile in the `+Inf` bucket is the highest finite bound.
pub(super) fn quantile(q: f64, cumulative: &[(f64, u64)]) -> Option<f64> {
    let total = cumulative.last()?.1;
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let (mut lower, mut below) = (0.0, 0u64);
    for &(upper, count) in cumulative {
        if count as f64 >= rank {
            if upper.is_infinite() {
                return Some(lower);
            }
            let inside = (count - below) as f64;
            let fraction = if inside > 0.0 {
                (rank - below as f64) / inside
            } else {
                1.0
            };
            return Some(lower + (upper - lower) * fraction);
        }
        (lower, below) = (upper, count);
    }
    Some(lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_p99_interpolates_inside_its_bucket_like_histogram_quantile() {
        // 100 observations: 98 at or below 1 ms, 2 between 1 and 2 ms.
        let b = [(0.001, 98), (0.002, 100), (f64::INFINITY, 100)];
        let p99 = quantile(0.99, &b).expect("observations");
        assert!((p99 - 0.0015).abs() < 1e-9, "{p99}");
        assert_eq!(quantile(0.5, &b).map(|v| (v * 1e6).round()), Some(510.0));
        assert_eq!(quantile(0.99, &[(0.001, 0), (f64::INFINITY, 0)]), None);
        assert_eq!(
            quantile(0.99, &[(0.001, 1), (f64::INFINITY, 9)]),
            Some(0.001)
        );
    }

    #[test]
    fn an_interval_counts_only_its_own_observations_and_survives_a_restart() {
        let before = [(0.001, 50), (f64::INFINITY, 60)];
        let now = [(0.001, 50), (f64::INFINITY, 70)];
        assert_eq!(delta(&now, &before), vec![(0.001, 0), (f64::INFINITY, 10)]);
        let restarted = [(0.001, 3), (f64::INFINITY, 3)];
        assert_eq!(delta(&restarted, &before), restarted.to_vec());
        assert_eq!(
            parse_buckets("0.0001=1,0.001=4,+Inf=5"),
            vec![(0.0001, 1), (0.001, 4), (f64::INFINITY, 5)]
        );
    }
}
