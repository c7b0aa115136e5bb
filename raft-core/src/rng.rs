//! A small deterministic random generator (xorshift64*), seeded by the caller, so
//! that the core never draws ambient randomness and every run can be replayed.

/// Deterministic pseudo-random numbers from a seed.
#[derive(Clone, Debug)]
pub struct DetRng(u64);

impl DetRng {
    /// A generator from `seed` (any value, 0 included).
    pub fn new(seed: u64) -> Self {
        // splitmix64 scrambles the seed so that nearby seeds diverge at once.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
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
