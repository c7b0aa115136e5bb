//! The workspace's deterministic random numbers, seeded by the caller, so
//! that nothing computed from them depends on ambient randomness and every
//! run can be replayed:
//! - [`DetRng`] (xorshift64*): the core's election jitter and the simulator;
//! - [`SplitMix64`]: the state machine's draws (SPOP, a script's
//!   `math.random`) from the seed a log entry carries. Its sequence is part
//!   of what a logged entry means, so it never changes.
//!
//! Both start from the splitmix64 mixing function ([`mix`]).

/// The splitmix64 output function: scrambles `z` so that nearby inputs give
/// unrelated outputs.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The golden-ratio increment of splitmix64.
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// Deterministic pseudo-random numbers from a seed.
#[derive(Clone, Debug)]
pub struct DetRng(u64);

impl DetRng {
    /// A generator from `seed` (any value, 0 included).
    pub fn new(seed: u64) -> Self {
        // splitmix64 scrambles the seed so that nearby seeds diverge at once.
        let z = mix(seed.wrapping_add(GAMMA));
        DetRng(if z == 0 { 0x2545_F491_4F6C_DD1D } else { z })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `[low, high)`; `low` if the range is empty.
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        if high <= low {
            return low;
        }
        low + self.next_u64() % (high - low)
    }
}

/// splitmix64: the state machine's generator (see the module docs).
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// The sequence of `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// A sequence from a random seed (the standard library's per-process
    /// hash keys): for what changes no replicated state (a read's random
    /// pick) and for drawing the seeds that entries carry.
    pub fn from_entropy() -> Self {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0);
        SplitMix64(h.finish())
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GAMMA);
        mix(self.0)
    }

    /// A number below `n` (`n` > 0; 0 for `n` = 0).
    pub fn below(&mut self, n: usize) -> usize {
        debug_assert!(n > 0, "below(0) has no answer");
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_machine_sequence_is_fixed() {
        // Logged entries depend on these numbers: they must never change.
        let mut r = SplitMix64::new(0x5eed);
        let first: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        let mut again = SplitMix64::new(0x5eed);
        assert_eq!(first, (0..3).map(|_| again.next_u64()).collect::<Vec<_>>());
        assert_eq!(SplitMix64::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
    }
}
