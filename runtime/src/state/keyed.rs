use hashbrown::HashTable;

use crate::dataflow::KeyGroupRange;

/// A key as stored in state: the key columns in Arrow's row format (byte-comparable, canonical).
pub type StateKey = Box<[u8]>;

struct Entry<V> {
    hash: u64,
    key: StateKey,
    value: V,
}

/// Per-key values of one operator subtask, bucketed by key group.
///
/// Every keyed operator keeps its state here, so snapshots can be written per key group and
/// a restore at another parallelism picks up exactly the groups each new subtask owns.
pub struct KeyedState<V> {
    range: KeyGroupRange,
    groups: Vec<HashTable<Entry<V>>>,
    len: usize,
}

impl<V> KeyedState<V> {
    /// Empty state for the key groups in `range`.
    pub fn new(range: KeyGroupRange) -> Self {
        KeyedState {
            range,
            groups: (0..range.len()).map(|_| HashTable::new()).collect(),
            len: 0,
        }
    }

    /// The key groups this state covers.
    pub fn key_groups(&self) -> KeyGroupRange {
        self.range
    }

    /// Number of keys held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn group(&mut self, kg: u32) -> &mut HashTable<Entry<V>> {
        assert!(
            self.range.contains(kg),
            "key group {kg} routed to a subtask owning {:?}",
            self.range
        );
        &mut self.groups[(kg - self.range.start) as usize]
    }

    /// The value of `key`, if any.
    pub fn get_mut(&mut self, kg: u32, hash: u64, key: &[u8]) -> Option<&mut V> {
        self.group(kg)
            .find_mut(hash, |e| &*e.key == key)
            .map(|e| &mut e.value)
    }

    /// The value of `key`, inserting `init()` when absent; also says whether it was absent.
    pub fn get_or_insert_with(
        &mut self,
        kg: u32,
        hash: u64,
        key: &[u8],
        init: impl FnOnce() -> V,
    ) -> (&mut V, bool) {
        let table = &mut self.groups[(kg - self.range.start) as usize];
        let mut inserted = false;
        let entry = table.entry(hash, |e| &*e.key == key, |e| e.hash);
        let occupied = match entry {
            hashbrown::hash_table::Entry::Occupied(o) => o,
            hashbrown::hash_table::Entry::Vacant(v) => {
                inserted = true;
                v.insert(Entry {
                    hash,
                    key: key.into(),
                    value: init(),
                })
            }
        };
        if inserted {
            self.len += 1;
        }
        (&mut occupied.into_mut().value, inserted)
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, kg: u32, hash: u64, key: &[u8]) -> Option<V> {
        let table = self.group(kg);
        match table.find_entry(hash, |e| &*e.key == key) {
            Ok(o) => {
                let (e, _) = o.remove();
                self.len -= 1;
                Some(e.value)
            }
            Err(_) => None,
        }
    }

    /// The (hash, key, value) entries of key group `kg`.
    pub(crate) fn group_entries(&self, kg: u32) -> Vec<(u64, &[u8], &V)> {
        self.groups[(kg - self.range.start) as usize]
            .iter()
            .map(|e| (e.hash, &*e.key, &e.value))
            .collect()
    }

    /// Sets the value of `key`, replacing any earlier one (restore).
    pub(crate) fn insert(&mut self, kg: u32, hash: u64, key: &[u8], value: V) {
        let mut value = Some(value);
        let (slot, inserted) =
            self.get_or_insert_with(kg, hash, key, || value.take().expect("taken once"));
        if !inserted {
            *slot = value.take().expect("not taken by the insert");
        }
    }

    /// Every (key, value), group by group.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &V)> {
        self.groups
            .iter()
            .flat_map(|g| g.iter().map(|e| (&*e.key, &e.value)))
    }

    /// Keeps only the entries for which `f` returns true.
    pub fn retain(&mut self, mut f: impl FnMut(&[u8], &mut V) -> bool) {
        let mut removed = 0;
        for g in &mut self.groups {
            g.retain(|e| {
                let keep = f(&e.key, &mut e.value);
                if !keep {
                    removed += 1;
                }
                keep
            });
        }
        self.len -= removed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_live_in_their_group() {
        let mut s: KeyedState<u64> = KeyedState::new(KeyGroupRange { start: 4, end: 7 });
        let (v, new) = s.get_or_insert_with(5, 42, b"k1", || 0);
        assert!(new);
        *v += 3;
        let (v, new) = s.get_or_insert_with(5, 42, b"k1", || 0);
        assert!(!new);
        assert_eq!(*v, 3);
        assert_eq!(s.len(), 1);
        assert_eq!(s.remove(5, 42, b"k1"), Some(3));
        assert!(s.is_empty());
    }
}
