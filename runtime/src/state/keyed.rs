use std::time::Duration;

use hashbrown::HashTable;

use super::backend::StateBackend;
use super::disk::Disk;
use crate::checkpoint::{StateReader, StateWriter};
use crate::dataflow::KeyGroupRange;
use crate::error::Result;
use crate::operators::SubtaskContext;

/// Wall-clock milliseconds: the processing time state TTL counts in (it survives a restore).
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A key as stored in state: the key columns in Arrow's row format (byte-comparable, canonical).
pub type StateKey = Box<[u8]>;

/// How an operator's values are written into snapshots and the on-disk store and read back;
/// given when the state is made, since RocksDB needs it on every eviction and lookup.
pub trait ValueCodec<V>: Send {
    /// Appends `value`.
    fn encode(&self, value: &V, w: &mut StateWriter);
    /// Reads what [`ValueCodec::encode`] wrote, failing cleanly on bytes it did not.
    fn decode(&self, r: &mut StateReader<'_>) -> Result<V>;
}

/// The entry was created or changed since it was last written to the store.
pub(super) const DIRTY: u8 = 1;
/// The store holds a value for the key (maybe an older one).
pub(super) const STORED: u8 = 2;

pub(super) struct Entry<V> {
    pub(super) hash: u64,
    pub(super) key: StateKey,
    pub(super) value: V,
    /// Last write, for state TTL ([`now_ms`]).
    pub(super) touched: u64,
    /// Last access, on the state's access clock (cache eviction).
    pub(super) used: u32,
    pub(super) flags: u8,
}

/// Per-key values of one operator subtask, bucketed by key group.
///
/// Every keyed operator keeps its state here, so snapshots can be written per key group and
/// a restore at another parallelism picks up exactly the groups each new subtask owns. On the
/// RocksDB backend the hash tables are a bounded cache in front of the database: values are
/// decoded once when first used and written back when evicted or at a checkpoint.
pub struct KeyedState<V> {
    pub(super) name: &'static str,
    pub(super) range: KeyGroupRange,
    pub(super) groups: Vec<HashTable<Entry<V>>>,
    pub(super) len: usize,
    /// Entries not written for this long are dropped (Flink's `table.exec.state.ttl`,
    /// processing time, updated on create and write, never returning expired values).
    pub(super) ttl: Option<u64>,
    last_sweep: u64,
    pub(super) codec: Box<dyn ValueCodec<V>>,
    pub(super) disk: Option<Disk>,
}

impl<V> KeyedState<V> {
    /// Empty state for the subtask's key groups, on the job's state backend. `name` tells the
    /// operator's keyed states apart in snapshots.
    pub fn new(
        ctx: &SubtaskContext,
        name: &'static str,
        codec: impl ValueCodec<V> + 'static,
    ) -> Result<Self> {
        let label: String = format!("{}-{}-{name}", ctx.vertex_name, ctx.index)
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .take(80)
            .collect();
        Self::on_backend(ctx.key_groups, name, &ctx.state_backend, &label, codec)
    }

    /// Empty state for the key groups in `range` on `backend` (`label` names its files).
    pub fn on_backend(
        range: KeyGroupRange,
        name: &'static str,
        backend: &StateBackend,
        label: &str,
        codec: impl ValueCodec<V> + 'static,
    ) -> Result<Self> {
        let disk = match (backend.open_store(label)?, backend.rocksdb()) {
            (Some(store), Some(opts)) => {
                Some(Disk::new(store, opts.cache_entries, opts.incremental))
            }
            _ => None,
        };
        Ok(KeyedState {
            name,
            range,
            groups: (0..range.len()).map(|_| HashTable::new()).collect(),
            len: 0,
            ttl: None,
            last_sweep: 0,
            codec: Box::new(codec),
            disk,
        })
    }

    /// Gives entries a time to live; `None` keeps them until removed.
    pub fn with_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.ttl = ttl.map(|d| d.as_millis().max(1) as u64);
        if let Some(disk) = &mut self.disk {
            disk.store.set_ttl(self.ttl);
        }
        self
    }

    /// Drops every expired entry from the heap, at most twice per TTL period (cheap to call
    /// per batch). On RocksDB, expired values on disk are dropped by compaction and never read.
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
                // A stored value is older than the cached one, so expired as well.
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

    /// Number of keys held on the heap (all of them on the heap backend).
    pub fn cached(&self) -> usize {
        self.len
    }

    pub(super) fn index(&self, kg: u32) -> usize {
        assert!(
            self.range.contains(kg),
            "key group {kg} routed to a subtask owning {:?}",
            self.range
        );
        (kg - self.range.start) as usize
    }

    pub(super) fn expired(&self, now: u64, touched: u64) -> bool {
        self.ttl
            .is_some_and(|ttl| now.saturating_sub(touched) > ttl)
    }

    pub(super) fn now(&self) -> u64 {
        if self.ttl.is_some() { now_ms() } else { 0 }
    }

    /// The value of `key`, if any (and not expired); the access counts as a write for TTL.
    pub fn get_mut(&mut self, kg: u32, hash: u64, key: &[u8]) -> Result<Option<&mut V>> {
        if self.disk.is_none() {
            return Ok(self.heap_get_mut(kg, hash, key));
        }
        Ok(self
            .disk_entry(kg, hash, key, None::<fn() -> V>)?
            .map(|(v, _)| v))
    }

    /// The heap backend's lookup: one probe, expired entries dropped on the way.
    fn heap_get_mut(&mut self, kg: u32, hash: u64, key: &[u8]) -> Option<&mut V> {
        let i = self.index(kg);
        let Some(ttl) = self.ttl else {
            return self.groups[i]
                .find_mut(hash, |e| &*e.key == key)
                .map(|e| &mut e.value);
        };
        let now = now_ms();
        match self.groups[i].find_entry(hash, |e| &*e.key == key) {
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
    ) -> Result<(&mut V, bool)> {
        if self.disk.is_some() {
            let entry = self.disk_entry(kg, hash, key, Some(init))?;
            return Ok(entry.expect("an initial value makes an entry"));
        }
        let now = self.now();
        let ttl = self.ttl;
        let i = self.index(kg);
        let table = &mut self.groups[i];
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
                    used: 0,
                    flags: DIRTY,
                })
            }
        };
        if inserted {
            self.len += 1;
        }
        let e = occupied.into_mut();
        e.touched = now;
        Ok((&mut e.value, inserted))
    }

    /// Removes `key`, returning its value (none if expired).
    pub fn remove(&mut self, kg: u32, hash: u64, key: &[u8]) -> Result<Option<V>> {
        let now = self.now();
        let i = self.index(kg);
        let cached = match self.groups[i].find_entry(hash, |e| &*e.key == key) {
            Ok(o) => {
                let (e, _) = o.remove();
                self.len -= 1;
                Some(e)
            }
            Err(_) => None,
        };
        let (value, stored) = match cached {
            Some(e) => {
                let stored = e.flags & STORED != 0;
                ((!self.expired(now, e.touched)).then_some(e.value), stored)
            }
            None if self.disk.is_some() => {
                // Loading an expired value deletes it already.
                let v = self.load(kg, hash, key)?;
                let stored = v.is_some();
                (v, stored)
            }
            None => (None, false),
        };
        if stored && let Some(disk) = &mut self.disk {
            disk.delete(kg, key);
        }
        Ok(value)
    }

    /// Sets the value of `key` on the heap, replacing any earlier one (restore).
    pub(super) fn insert(&mut self, kg: u32, hash: u64, key: &[u8], value: V) -> Result<()> {
        let mut value = Some(value);
        let (slot, inserted) =
            self.get_or_insert_with(kg, hash, key, || value.take().expect("taken once"))?;
        if !inserted {
            *slot = value.take().expect("not taken by the insert");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values of the tests: plain numbers.
    pub(crate) struct U64Codec;

    impl ValueCodec<u64> for U64Codec {
        fn encode(&self, v: &u64, w: &mut StateWriter) {
            w.u64(*v);
        }
        fn decode(&self, r: &mut StateReader<'_>) -> Result<u64> {
            r.u64()
        }
    }

    /// The heap backend, and RocksDB with a cache of `cache` entries when built in.
    fn backends(cache: usize) -> Vec<(StateBackend, Option<tempdir::Dir>)> {
        let mut all = vec![(StateBackend::HashMap, None)];
        if cfg!(feature = "rocksdb") {
            let dir = tempdir::Dir::new();
            all.push((
                StateBackend::RocksDb(std::sync::Arc::new(super::super::RocksDbOptions {
                    local_dir: dir.0.clone(),
                    incremental: true,
                    cache_entries: cache,
                })),
                Some(dir),
            ));
        }
        all
    }

    mod tempdir {
        /// A scratch folder removed at the end of the test.
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Self {
                let p = std::env::temp_dir().join(format!(
                    "runnel-state-test-{:016x}",
                    crate::checkpoint::random_u64()
                ));
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    fn state(range: KeyGroupRange, backend: &StateBackend) -> KeyedState<u64> {
        KeyedState::on_backend(range, "t", backend, "test", U64Codec).unwrap()
    }

    #[test]
    fn idle_entries_expire_and_are_never_returned() {
        for (backend, _dir) in backends(1) {
            let range = KeyGroupRange { start: 0, end: 1 };
            let mut s = state(range, &backend).with_ttl(Some(Duration::from_millis(30)));
            *s.get_or_insert_with(0, 1, b"a", || 0).unwrap().0 += 5;
            *s.get_or_insert_with(1, 2, b"b", || 0).unwrap().0 += 7;
            assert_eq!(s.get_mut(0, 1, b"a").unwrap().copied(), Some(5));
            std::thread::sleep(Duration::from_millis(60));
            // An expired key starts over instead of showing its old value.
            let (v, new) = s.get_or_insert_with(0, 1, b"a", || 0).unwrap();
            assert!(new, "{backend:?}");
            assert_eq!(*v, 0);
            assert_eq!(s.get_mut(1, 2, b"b").unwrap(), None, "{backend:?}");
            std::thread::sleep(Duration::from_millis(150));
            s.last_sweep = 0;
            s.expire_idle();
            assert_eq!(s.cached(), 0);
            assert_eq!(s.get_mut(0, 1, b"a").unwrap(), None, "{backend:?}");
        }
    }

    #[test]
    fn keys_live_in_their_group() {
        for (backend, _dir) in backends(2) {
            let mut s = state(KeyGroupRange { start: 4, end: 7 }, &backend);
            let (v, new) = s.get_or_insert_with(5, 42, b"k1", || 0).unwrap();
            assert!(new);
            *v += 3;
            let (v, new) = s.get_or_insert_with(5, 42, b"k1", || 0).unwrap();
            assert!(!new);
            assert_eq!(*v, 3);
            assert_eq!(s.remove(5, 42, b"k1").unwrap(), Some(3));
            assert_eq!(s.remove(5, 42, b"k1").unwrap(), None);
            assert_eq!(s.get_mut(5, 42, b"k1").unwrap(), None);
        }
    }

    #[test]
    fn a_small_cache_spills_to_disk_and_loses_nothing() {
        for (backend, _dir) in backends(64) {
            let range = KeyGroupRange { start: 0, end: 3 };
            let mut s = state(range, &backend);
            let key = |i: u64| i.to_be_bytes();
            for round in 0..3u64 {
                for i in 0..1000u64 {
                    let kg = (i % 4) as u32;
                    *s.get_or_insert_with(kg, i, &key(i), || 0).unwrap().0 += i + round;
                }
            }
            if backend.rocksdb().is_some() {
                assert!(s.cached() <= 64, "{} cached", s.cached());
            }
            for i in (0..1000u64).step_by(2) {
                let kg = (i % 4) as u32;
                assert_eq!(s.remove(kg, i, &key(i)).unwrap(), Some(3 * i + 3));
            }
            for i in 0..1000u64 {
                let kg = (i % 4) as u32;
                let want = (i % 2 == 1).then_some(3 * i + 3);
                assert_eq!(s.get_mut(kg, i, &key(i)).unwrap().copied(), want, "key {i}");
            }
        }
    }

    #[test]
    fn random_operations_match_a_plain_map() {
        for (backend, _dir) in [backends(16), backends(4), backends(1)]
            .into_iter()
            .flatten()
        {
            for seed in 1..20u64 {
                let range = KeyGroupRange { start: 0, end: 7 };
                let mut s = state(range, &backend);
                let mut model = std::collections::HashMap::new();
                let mut x = 0x2545_f491_4f6c_dd1d_u64 ^ seed;
                for step in 0..5_000u64 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let k = x % 300;
                    let kg = (k % 8) as u32;
                    let key = k.to_be_bytes();
                    match (x >> 32) % 4 {
                        0 | 1 => {
                            let (v, new) = s.get_or_insert_with(kg, k, &key, || 0).unwrap();
                            assert_eq!(new, !model.contains_key(&k), "step {step} key {k}");
                            *v += step;
                            *model.entry(k).or_insert(0) += step;
                        }
                        2 => {
                            let got = s.get_mut(kg, k, &key).unwrap().map(|v| {
                                *v += 1;
                                *v
                            });
                            let want = model.get_mut(&k).map(|v| {
                                *v += 1;
                                *v
                            });
                            assert_eq!(got, want, "step {step} key {k}");
                        }
                        _ => assert_eq!(
                            s.remove(kg, k, &key).unwrap(),
                            model.remove(&k),
                            "step {step} key {k}"
                        ),
                    }
                    if (x >> 40).is_multiple_of(50) {
                        s.write_back().unwrap();
                    }
                }
            }
        }
    }
}
