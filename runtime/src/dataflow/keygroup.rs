//! Keys map to key groups, and key groups to subtasks, with Flink's arithmetic, so keyed
//! state can be split and re-joined when parallelism changes.

/// An inclusive range of key groups owned by one subtask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyGroupRange {
    /// First key group of the range.
    pub start: u32,
    /// Last key group of the range (inclusive).
    pub end: u32,
}

impl KeyGroupRange {
    /// Number of key groups in the range.
    pub fn len(&self) -> usize {
        (self.end + 1 - self.start) as usize
    }

    /// Whether the range holds no key group (never for ranges built here).
    pub fn is_empty(&self) -> bool {
        self.end < self.start
    }

    /// Whether `kg` is in the range.
    pub fn contains(&self, kg: u32) -> bool {
        kg >= self.start && kg <= self.end
    }

    /// The key groups of the range, in order.
    pub fn iter(&self) -> std::ops::RangeInclusive<u32> {
        self.start..=self.end
    }
}

/// The key group of a key hash (murmur-mixed as Flink does, so skewed hashes still spread).
pub fn assign_key_group(hash: u64, max_parallelism: u32) -> u32 {
    (murmur_mix(hash) % max_parallelism as u64) as u32
}

/// The subtask that owns key group `kg`.
pub fn subtask_for_key_group(kg: u32, max_parallelism: u32, parallelism: u32) -> u32 {
    ((kg as u64 * parallelism as u64) / max_parallelism as u64) as u32
}

/// The key groups subtask `index` of `parallelism` owns.
pub fn key_group_range_for_subtask(
    max_parallelism: u32,
    parallelism: u32,
    index: u32,
) -> KeyGroupRange {
    let mp = max_parallelism as u64;
    let p = parallelism as u64;
    let i = index as u64;
    let start = (i * mp).div_ceil(p);
    let end = ((i + 1) * mp).div_ceil(p) - 1;
    KeyGroupRange {
        start: start as u32,
        end: end as u32,
    }
}

fn murmur_mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_partition_the_key_groups() {
        for p in 1..=16u32 {
            let mut next = 0;
            for i in 0..p {
                let r = key_group_range_for_subtask(128, p, i);
                assert_eq!(r.start, next);
                for kg in r.start..=r.end {
                    assert_eq!(subtask_for_key_group(kg, 128, p), i);
                }
                next = r.end + 1;
            }
            assert_eq!(next, 128);
        }
    }
}
