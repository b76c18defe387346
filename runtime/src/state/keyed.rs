use std::sync::OnceLock;
use std::time::{Duration, Instant};

use hashbrown::HashTable;

use crate::dataflow::KeyGroupRange;

/// Milliseconds since the first call in this process: the clock of state TTL.
fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// A key as stored in state: the key columns in Arrow's row format (byte-comparable, canonical).
pub type StateKey = Box<[u8]>;

struct Entry<V> {
    hash: u64,
    key: StateKey,
    value: V,
    /// Last write, for state TTL ([`now_ms`]).
    touched: u64,
}

/// Per-key values of one operator subtask, bucketed by key group.
///
/// Every keyed operator keeps its state here, so snapshots can be written per key group and
/// a restore at another parallelism picks up exactly the groups each new subtask owns.
pub struct KeyedState<V> {
    range: KeyGroupRange,
    groups: Vec<HashTable<Entry<V>>>,
    len: usize,
    /// Entries not written for this long are dropped (Flink's `table.exec.state.ttl`,
    /// processing time, updated on create and write, never returning expired values).
    ttl: Option<u64>,
    last_sweep: u64,
}

impl<V> KeyedState<V> {
    /// Empty state for the key groups in `range`.
    pub fn new(range: KeyGroupRange) -> Self {
        KeyedState {
            range,
            groups: (0..range.len()).map(|_| HashTable::new()).collect(),
            len: 0,
            ttl: None,
            last_sweep: 0,
        }
    }

    /// Gives entries a time to live; `None` keeps them until removed.
    pub fn with_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.ttl = ttl.map(|d| d.as_millis().max(1) as u64);
        self
    }

    /// Drops every expired entry, at most twice per TTL period (cheap to call per batch).
    pub fn expire_idle(&mut self) {
        let Some(ttl) = self.ttl else {
            return;
        };
        let now = now_ms();
        if now.saturating_sub(self.last_sweep) < (ttl / 2).max(100) {
            return;
        }
        self.last_sweep = now;
        let mut removed = 0;
        for g in &mut self.groups {
            g.retain(|e| {
                let keep = now.saturating_sub(e.touched) <= ttl;
                removed += usize::from(!keep);
                keep
            });
        }
        self.len -= removed;
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

    fn index(&self, kg: u32) -> usize {
        assert!(
            self.range.contains(kg),
            "key group {kg} routed to a subtask owning {:?}",
            self.range
        );
        (kg - self.range.start) as usize
    }

    fn group(&mut self, kg: u32) -> &mut HashTable<Entry<V>> {
        let i = self.index(kg);
        &mut self.groups[i]
    }

    /// The value of `key`, if any (and not expired); the access counts as a write for TTL.
    pub fn get_mut(&mut self, kg: u32, hash: u64, key: &[u8]) -> Option<&mut V> {
        let Some(ttl) = self.ttl else {
            return self
                .group(kg)
                .find_mut(hash, |e| &*e.key == key)
                .map(|e| &mut e.value);
        };
        let now = now_ms();
        // One lookup; `groups` and `len` are borrowed apart so an expired entry can go.
        let i = self.index(kg);
        let table = &mut self.groups[i];
        match table.find_entry(hash, |e| &*e.key == key) {
            Ok(o) if now.saturating_sub(o.get().touched) > ttl => {
                o.remove();
                self.len -= 1;
                None
            }
            Ok(o) => {
                let e = o.into_mut();
                e.touched = now;
                Some(&mut e.value)
            }
            Err(_) => None,
        }
    }

    /// The value of `key`, inserting `init()` when absent; also says whether it was absent.
    pub fn get_or_insert_with(
        &mut self,
        kg: u32,
        hash: u64,
        key: &[u8],
        init: impl FnOnce() -> V,
    ) -> (&mut V, bool) {
        let now = if self.ttl.is_some() { now_ms() } else { 0 };
        let ttl = self.ttl;
        let table = &mut self.groups[(kg - self.range.start) as usize];
        let mut inserted = false;
        let entry = table.entry(hash, |e| &*e.key == key, |e| e.hash);
        let occupied = match entry {
            hashbrown::hash_table::Entry::Occupied(mut o) => {
                // An expired value is never returned: the key starts over.
                if ttl.is_some_and(|ttl| now.saturating_sub(o.get().touched) > ttl) {
                    o.get_mut().value = init();
                    inserted = true;
                    self.len -= 1;
                }
                o
            }
            hashbrown::hash_table::Entry::Vacant(v) => {
                inserted = true;
                v.insert(Entry {
                    hash,
                    key: key.into(),
                    value: init(),
                    touched: now,
                })
            }
        };
        if inserted {
            self.len += 1;
        }
        let e = occupied.into_mut();
        e.touched = now;
        (&mut e.value, inserted)
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
    fn idle_entries_expire_and_are_never_returned() {
        let range = KeyGroupRange { start: 0, end: 1 };
        let mut s: KeyedState<u64> =
            KeyedState::new(range).with_ttl(Some(Duration::from_millis(30)));
        *s.get_or_insert_with(0, 1, b"a", || 0).0 += 5;
        *s.get_or_insert_with(1, 2, b"b", || 0).0 += 7;
        assert_eq!(s.get_mut(0, 1, b"a").copied(), Some(5));
        std::thread::sleep(Duration::from_millis(60));
        // An expired key starts over instead of showing its old value.
        let (v, new) = s.get_or_insert_with(0, 1, b"a", || 0);
        assert!(new);
        assert_eq!(*v, 0);
        assert_eq!(s.get_mut(1, 2, b"b"), None);
        assert_eq!(s.len(), 1);
        std::thread::sleep(Duration::from_millis(150));
        s.last_sweep = 0;
        s.expire_idle();
        assert!(s.is_empty());
    }

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
