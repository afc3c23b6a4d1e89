//! Labelled random streams and our own samplers.
//!
//! Every random choice in a run comes from a `Stream` derived from `(seed, label)`, where the
//! label names what the stream is for (`node.app[3]`, `net.loss[0,1]`, `fault.crash`). Two
//! streams with different labels are independent, so enabling a fault family, adding a node or
//! drawing one more value for one purpose never shifts the draws of another purpose. That is
//! what makes a failing seed stable under unrelated changes, and shrinking possible.
//!
//! The generator is PCG (`rand_pcg::Pcg64`, pinned to an exact version) and every sampler is
//! written here, not taken from `rand`, so that a dependency update can never change a run.
//! Transcendental functions come from the pinned, pure-Rust `libm`, so results do not depend
//! on the platform's C library either.

use rand_core::RngCore;
use rand_pcg::Pcg64;

/// One labelled, seeded stream of random numbers.
#[derive(Clone, Debug)]
pub struct Stream {
    pcg: Pcg64,
}

impl Stream {
    /// The stream for `label` in the run with `seed`.
    pub fn new(seed: u64, label: &str) -> Stream {
        Stream::with_parts(seed, label, &[])
    }

    /// The stream for an indexed label, e.g. `("net.latency", &[from, to])`, written
    /// `net.latency[0,1]` in traces. Equivalent to hashing that text, without formatting it.
    pub fn with_parts(seed: u64, label: &str, parts: &[u64]) -> Stream {
        let label_hash = label_hash(label, parts);
        // Two independent 64-bit mixes of (seed, label) fill PCG's 128-bit state; the label
        // alone picks the increment, so equal seeds with different labels never coincide.
        let state_high = splitmix64(seed ^ splitmix64(label_hash));
        let state_low = splitmix64(state_high ^ label_hash.rotate_left(32));
        let increment = u128::from(splitmix64(label_hash ^ 0x5851_f42d_4c95_7f2d)) << 64
            | u128::from(label_hash);
        Stream { pcg: Pcg64::new(u128::from(state_high) << 64 | u128::from(state_low), increment) }
    }

    /// A uniformly distributed `u64`.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.pcg.next_u64()
    }

    /// Uniform in `0..bound` (`bound > 0`), without modulo bias (Lemire's method).
    #[inline]
    pub fn below(&mut self, bound: u64) -> u64 {
        assert!(bound > 0, "Stream::below(0) has no values to choose from");
        let mut product = u128::from(self.next_u64()) * u128::from(bound);
        let mut low = product as u64;
        if low < bound {
            let threshold = bound.wrapping_neg() % bound;
            while low < threshold {
                product = u128::from(self.next_u64()) * u128::from(bound);
                low = product as u64;
            }
        }
        (product >> 64) as u64
    }

    /// Uniform in `low..=high` (`low <= high`).
    #[inline]
    pub fn uniform_u64(&mut self, low: u64, high: u64) -> u64 {
        assert!(low <= high, "empty range {low}..={high}");
        match (high - low).checked_add(1) {
            Some(width) => low + self.below(width),
            None => self.next_u64(),
        }
    }

    /// Uniform in `[0, 1)` with 53 bits of precision.
    #[inline]
    pub fn unit_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[low, high)`.
    pub fn uniform_f64(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.unit_f64()
    }

    /// True with probability `probability` (clamped to [0, 1]). Always draws exactly one
    /// value, so the stream's position does not depend on the probability; callers whose
    /// feature is off must not call it at all ("a disabled fault draws nothing").
    #[inline]
    pub fn bernoulli(&mut self, probability: f64) -> bool {
        let draw = self.next_u64();
        if probability >= 1.0 {
            return true;
        }
        if probability.is_nan() || probability <= 0.0 {
            return false;
        }
        draw < (probability * 18_446_744_073_709_551_616.0) as u64
    }

    /// Exponentially distributed with the given mean (inverse transform, one draw).
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * libm::log(1.0 - self.unit_f64())
    }

    /// Normally distributed (Box–Muller, two draws, one value used).
    pub fn normal(&mut self, mean: f64, standard_deviation: f64) -> f64 {
        let radius_source = 1.0 - self.unit_f64(); // in (0, 1]: log is finite
        let angle = 2.0 * std::f64::consts::PI * self.unit_f64();
        mean + standard_deviation * libm::sqrt(-2.0 * libm::log(radius_source)) * libm::cos(angle)
    }

    /// A long-tail / bimodal draw: with probability `slow_probability` uniform in the slow
    /// range, otherwise uniform in the fast range (both inclusive). Always draws twice, so
    /// the outcome of the coin never shifts later draws.
    pub fn bimodal_u64(
        &mut self,
        slow_probability: f64,
        fast: (u64, u64),
        slow: (u64, u64),
    ) -> u64 {
        let is_slow = self.bernoulli(slow_probability);
        let (low, high) = if is_slow { slow } else { fast };
        self.uniform_u64(low, high)
    }

    /// One element chosen uniformly, or `None` for an empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            return None;
        }
        let index = self.below(items.len() as u64) as usize;
        items.get(index)
    }

    /// Fisher–Yates shuffle in place.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

/// FNV-1a over the label text, then over each part's little-endian bytes.
pub fn label_hash(label: &str, parts: &[u64]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    let mut eat = |byte: u8| {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    };
    label.bytes().for_each(&mut eat);
    for part in parts {
        eat(0xff); // separator: "a" + [1] never equals "a\x01"
        part.to_le_bytes().into_iter().for_each(&mut eat);
    }
    hash
}

/// The SplitMix64 finaliser: a bijective 64-bit mix.
#[inline]
pub fn splitmix64(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Formats a label with its parts the way traces show it: `net.latency[0,1]`.
pub fn label_text(label: &str, parts: &[u64]) -> String {
    if parts.is_empty() {
        return label.to_string();
    }
    let parts: Vec<String> = parts.iter().map(u64::to_string).collect();
    format!("{label}[{}]", parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Pins the first values of labelled streams: if these change, every recorded seed in every
    // user's bug report would replay differently, so a change here must be deliberate.
    #[test]
    fn golden_values_of_labelled_streams() {
        let mut app = Stream::with_parts(42, "node.app", &[0]);
        let firsts: Vec<u64> = (0..3).map(|_| app.next_u64()).collect();
        assert_eq!(firsts, GOLDEN_NODE_APP_42);
        let mut loss = Stream::new(7, "net.loss");
        assert_eq!(loss.below(1000), GOLDEN_NET_LOSS_7_BELOW_1000);
        let mut latency = Stream::new(7, "net.latency");
        let draws: Vec<u64> = (0..4).map(|_| latency.uniform_u64(1_000_000, 10_000_000)).collect();
        assert_eq!(draws, GOLDEN_LATENCY_7);
        let mut floats = Stream::new(1, "samplers");
        let exponential = floats.exponential(5.0);
        let normal = floats.normal(0.0, 1.0);
        assert_eq!((exponential.to_bits(), normal.to_bits()), GOLDEN_FLOAT_BITS_1);
    }

    const GOLDEN_NODE_APP_42: [u64; 3] =
        [7864300255533070541, 3886733776282465009, 10681037505090714952];
    const GOLDEN_NET_LOSS_7_BELOW_1000: u64 = 57;
    const GOLDEN_LATENCY_7: [u64; 4] = [8752835, 4196548, 1446282, 5801023];
    const GOLDEN_FLOAT_BITS_1: (u64, u64) = (4608845385081061860, 13833468821662204325);

    // Proves labels separate streams: same seed, different label, different values; and the
    // same (seed, label) always gives the same values.
    #[test]
    fn labels_and_seeds_separate_streams() {
        let first = |seed, label: &str| Stream::new(seed, label).next_u64();
        assert_eq!(first(1, "a"), first(1, "a"));
        assert_ne!(first(1, "a"), first(1, "b"));
        assert_ne!(first(1, "a"), first(2, "a"));
        let parts = |p: &[u64]| Stream::with_parts(1, "x", p).next_u64();
        assert_ne!(parts(&[0, 1]), parts(&[1, 0]));
        assert_ne!(parts(&[]), parts(&[0]));
        assert_eq!(label_text("net.latency", &[0, 1]), "net.latency[0,1]");
    }

    // Proves the integer samplers stay in range and are unbiased enough to trust.
    #[test]
    fn uniform_integers_cover_their_range_evenly() {
        let mut stream = Stream::new(3, "uniform");
        let mut counts = [0u32; 10];
        for _ in 0..100_000 {
            let value = stream.uniform_u64(10, 19);
            assert!((10..=19).contains(&value));
            counts[(value - 10) as usize] += 1;
        }
        for count in counts {
            assert!((9_500..10_500).contains(&count), "{counts:?}");
        }
        assert_eq!(stream.uniform_u64(5, 5), 5);
        let _ = stream.uniform_u64(0, u64::MAX); // full range must not overflow
    }

    // Proves bernoulli, exponential and normal have the configured moments.
    #[test]
    fn float_samplers_have_expected_moments() {
        let mut stream = Stream::new(4, "moments");
        let n = 200_000;
        let hits = (0..n).filter(|_| stream.bernoulli(0.2)).count() as f64 / n as f64;
        assert!((hits - 0.2).abs() < 0.005, "{hits}");
        let mean = (0..n).map(|_| stream.exponential(5.0)).sum::<f64>() / n as f64;
        assert!((mean - 5.0).abs() < 0.1, "{mean}");
        let samples: Vec<f64> = (0..n).map(|_| stream.normal(10.0, 2.0)).collect();
        let mean = samples.iter().sum::<f64>() / n as f64;
        let variance = samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!((mean - 10.0).abs() < 0.05 && (variance.sqrt() - 2.0).abs() < 0.05);
        assert!((0..1000).all(|_| !stream.bernoulli(0.0)));
        assert!((0..1000).all(|_| stream.bernoulli(1.0)));
    }

    // Proves the long-tail sampler draws the slow range at the configured rate.
    #[test]
    fn bimodal_draws_slow_values_at_the_configured_rate() {
        let mut stream = Stream::new(5, "bimodal");
        let n = 100_000;
        let slow =
            (0..n).filter(|_| stream.bimodal_u64(0.01, (1, 10), (1000, 2000)) >= 1000).count();
        assert!((800..1200).contains(&slow), "{slow}");
    }

    // Proves shuffle is a permutation and pick covers every element.
    #[test]
    fn shuffle_permutes_and_pick_covers() {
        let mut stream = Stream::new(6, "shuffle");
        let mut items: Vec<u32> = (0..50).collect();
        stream.shuffle(&mut items);
        assert_ne!(items, (0..50).collect::<Vec<_>>());
        items.sort_unstable();
        assert_eq!(items, (0..50).collect::<Vec<_>>());
        let mut seen = [false; 5];
        for _ in 0..200 {
            seen[*stream.pick(&[0usize, 1, 2, 3, 4]).unwrap_or(&0)] = true;
        }
        assert!(seen.iter().all(|s| *s));
        assert_eq!(stream.pick::<u8>(&[]), None);
    }
}
