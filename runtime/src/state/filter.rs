//! A Bloom filter over the keys a state has written to its on-disk store, so that looking up
//! a key the store has never seen (every new key: each window of a windowed aggregation, each
//! first row of a group) does not read from disk.

/// Bits per key: about 1% false positives with [`PROBES`] probes.
const BITS_PER_KEY: usize = 10;
const PROBES: u32 = 7;
/// The smallest number of keys a filter is sized for.
const MIN_KEYS: usize = 1 << 16;

/// Keys (by their 64-bit hash) that may be in the store.
pub(super) struct KeyFilter {
    bits: Vec<u64>,
    /// Keys added since the filter was built.
    added: usize,
    /// Keys it was sized for; past that it is rebuilt from the store's keys.
    capacity: usize,
}

impl KeyFilter {
    /// An empty filter for about `keys` keys.
    pub(super) fn with_capacity(keys: usize) -> Self {
        let capacity = keys.max(MIN_KEYS);
        let words = (capacity * BITS_PER_KEY).div_ceil(64).next_power_of_two();
        KeyFilter {
            bits: vec![0; words],
            added: 0,
            capacity,
        }
    }

    /// A filter for a store whose keys are not known yet (a database taken from a
    /// checkpoint): every key may be there, and it asks to be rebuilt.
    pub(super) fn unknown() -> Self {
        KeyFilter {
            bits: vec![u64::MAX],
            added: 1,
            capacity: 0,
        }
    }

    fn probes(&self, hash: u64) -> impl Iterator<Item = (usize, u64)> + use<> {
        let mask = self.bits.len() * 64 - 1;
        let h2 = hash.rotate_left(32) | 1;
        (0..PROBES).map(move |i| {
            let bit = hash.wrapping_add(h2.wrapping_mul(u64::from(i))) as usize & mask;
            (bit / 64, 1u64 << (bit % 64))
        })
    }

    /// Notes a key written to the store.
    pub(super) fn add(&mut self, hash: u64) {
        for (word, bit) in self.probes(hash) {
            self.bits[word] |= bit;
        }
        self.added += 1;
    }

    /// False when the key was certainly never written.
    pub(super) fn may_contain(&self, hash: u64) -> bool {
        self.probes(hash)
            .all(|(word, bit)| self.bits[word] & bit != 0)
    }

    /// Whether more keys were added than it was sized for (it should be rebuilt from the
    /// store's keys, which also forgets deleted ones).
    pub(super) fn is_full(&self) -> bool {
        self.added > self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_keys_are_found_and_few_others() {
        let mut f = KeyFilter::with_capacity(10_000);
        let hash = |i: u64| i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        for i in 0..10_000 {
            f.add(hash(i));
        }
        assert!((0..10_000).all(|i| f.may_contain(hash(i))));
        let false_positives = (10_000..110_000)
            .filter(|&i| f.may_contain(hash(i)))
            .count();
        assert!(false_positives < 1_000, "{false_positives} false positives");
        assert!(!f.is_full());
    }
}
