//! The deterministic xorshift64 generator every bench draws its data from, so that two runs
//! (and two servers) see the same workload. Shared by the load generators in `benches/` and the
//! criterion benches in `storage/benches` and `query/benches` (included with `#[path]`).

/// xorshift64 (13, 7, 17): small, fast, deterministic. The state must not be 0.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// The next value; advances the state.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform-ish in `[0, n)` (modulo bias is irrelevant for synthetic data).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in `[0, 1)`, from the top 53 bits.
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}
