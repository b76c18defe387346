//! A small deterministic PRNG (SplitMix64): each event seeds its own stream from its number, so
//! an event's fields do not depend on which split generates it or what came before.

const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// Separates the per-event streams from the streams that build the fixed tables.
const EVENT_SEED: u64 = 0x6E65_786D_6172_6B21;

/// SplitMix64's finaliser: a bijection that spreads nearby inputs over all 64 bits.
#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub(crate) struct Rng(u64);

impl Rng {
    /// The stream of event `event_number`; streams start at scattered points of SplitMix64's
    /// cycle, so the few dozen draws of one event never meet another event's.
    #[inline]
    pub(crate) fn for_event(event_number: u64) -> Self {
        Rng(mix(event_number ^ EVENT_SEED))
    }

    /// A stream for building fixed tables.
    pub(crate) fn seeded(seed: u64) -> Self {
        Rng(seed)
    }

    #[inline]
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GAMMA);
        mix(self.0)
    }

    /// Uniform in `0..n` (0 when `n` is 0), by multiply-shift.
    #[inline]
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `[0, 1)`.
    #[inline]
    pub(crate) fn unit_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_is_in_range_and_covers_it() {
        let mut rng = Rng::for_event(7);
        let mut seen = [0u32; 13];
        for _ in 0..13_000 {
            seen[rng.below(13) as usize] += 1;
        }
        assert!(seen.iter().all(|&n| (800..1200).contains(&n)), "{seen:?}");
        assert_eq!(rng.below(0), 0);
        let x = rng.unit_f64();
        assert!((0.0..1.0).contains(&x));
    }
}
