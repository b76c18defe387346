//! The RocksDB side of [`KeyedState`]: the heap tables become a bounded cache of decoded
//! values in front of the store, written back when evicted and at every barrier.

use super::filter::KeyFilter;
use super::keyed::{DIRTY, Entry, KeyedState, STORED};
use super::store::{OrderedStore, Write};
use crate::checkpoint::{SharedFiles, StateReader, StateWriter};
use crate::error::{Result, RunnelError};

/// The on-disk side of a state kept in RocksDB.
pub(super) struct Disk {
    pub(super) store: Box<dyn OrderedStore>,
    /// Entries the heap cache holds at most.
    capacity: usize,
    clock: u32,
    /// Checkpoints hand over database files instead of per-key-group blobs.
    pub(super) incremental: bool,
    /// The keys written to the store, so lookups of keys it never saw skip it.
    pub(super) filter: KeyFilter,
    /// Store keys removed since the last write: deleted with it, never read meanwhile.
    deleted: std::collections::HashSet<Vec<u8>, ahash::RandomState>,
    /// The SST files earlier checkpoints uploaded.
    pub(super) uploaded: SharedFiles,
}

impl Disk {
    /// The disk side of a state: `store`, with a cache of at most `capacity` values.
    pub(super) fn new(store: Box<dyn OrderedStore>, capacity: usize, incremental: bool) -> Self {
        Disk {
            store,
            capacity,
            clock: 0,
            incremental,
            filter: KeyFilter::with_capacity(0),
            deleted: Default::default(),
            uploaded: SharedFiles::default(),
        }
    }

    /// Deletes `key` of key group `kg` from the store with the next write.
    pub(super) fn delete(&mut self, kg: u32, key: &[u8]) {
        self.deleted.insert(store_key(kg, key));
    }

    /// Writes the pending deletes, then `writes` (a key deleted and written again ends up
    /// written), in one batch.
    pub(super) fn write(&mut self, writes: Vec<Write>) -> Result<()> {
        if writes.is_empty() && self.deleted.is_empty() {
            return Ok(());
        }
        let mut batch: Vec<Write> = self.deleted.drain().map(|k| (k, None)).collect();
        batch.extend(writes);
        self.store.write(batch)
    }
}

/// The store key of `key` in key group `kg`: the group first (two bytes, big-endian), so each
/// group is one contiguous range.
pub(super) fn store_key(kg: u32, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + key.len());
    k.extend_from_slice(&(kg as u16).to_be_bytes());
    k.extend_from_slice(key);
    k
}

/// The first store key of key group `kg`.
pub(super) fn group_prefix(kg: u32) -> [u8; 2] {
    (kg as u16).to_be_bytes()
}

/// A stored value: last write (8 bytes), key hash (8 bytes), then the encoded value.
pub(super) struct StoredValue<'a> {
    pub(super) touched: u64,
    pub(super) hash: u64,
    pub(super) value: &'a [u8],
}

impl<'a> StoredValue<'a> {
    pub(super) fn parse(raw: &'a [u8]) -> Result<Self> {
        if raw.len() < 16 {
            return Err(RunnelError::State(format!(
                "corrupt RocksDB state: a value of {} bytes (at least 16 expected)",
                raw.len()
            )));
        }
        Ok(StoredValue {
            touched: u64::from_le_bytes(raw[..8].try_into().expect("8 bytes")),
            hash: u64::from_le_bytes(raw[8..16].try_into().expect("8 bytes")),
            value: &raw[16..],
        })
    }

    pub(super) fn encode(touched: u64, hash: u64, write: impl FnOnce(&mut StateWriter)) -> Vec<u8> {
        let mut w = StateWriter::default();
        w.raw(&touched.to_le_bytes());
        w.raw(&hash.to_le_bytes());
        write(&mut w);
        w.into_bytes()
    }
}

impl<V> KeyedState<V> {
    /// The cached or stored value of `key` (the access counts as a write), else `init()` when
    /// given; also says whether the value is new. An expired value is never returned.
    pub(super) fn disk_entry(
        &mut self,
        kg: u32,
        hash: u64,
        key: &[u8],
        init: Option<impl FnOnce() -> V>,
    ) -> Result<Option<(&mut V, bool)>> {
        let now = self.now();
        let i = self.index(kg);
        let used = self.tick();
        if let Some(expired) = self.groups[i]
            .find(hash, |e| &*e.key == key)
            .map(|e| self.expired(now, e.touched))
        {
            if expired && init.is_none() {
                self.remove(kg, hash, key)?;
                return Ok(None);
            }
            let e = self.groups[i]
                .find_mut(hash, |e| &*e.key == key)
                .expect("found above");
            // Expired: the key starts over.
            let restarted = match init.filter(|_| expired) {
                Some(init) => {
                    e.value = init();
                    true
                }
                None => false,
            };
            e.touched = now;
            e.used = used;
            e.flags |= DIRTY;
            return Ok(Some((&mut e.value, restarted)));
        }
        let (value, flags, inserted) = match (self.load(kg, hash, key)?, init) {
            (Some(v), _) => (v, STORED, false),
            (None, Some(init)) => (init(), 0, true),
            (None, None) => return Ok(None),
        };
        let entry = Entry {
            hash,
            key: key.into(),
            value,
            touched: now,
            used,
            flags: flags | DIRTY,
        };
        Ok(Some((&mut self.cache(kg, entry)?.value, inserted)))
    }

    /// Advances the cache's access clock.
    pub(super) fn tick(&mut self) -> u32 {
        let disk = self.disk.as_mut().expect("disk");
        disk.clock = disk.clock.wrapping_add(1);
        disk.clock
    }

    /// Reads `key` from the store; an expired value is deleted instead.
    pub(super) fn load(&mut self, kg: u32, hash: u64, key: &[u8]) -> Result<Option<V>> {
        let now = self.now();
        let ttl = self.ttl;
        let disk = self.disk.as_mut().expect("disk");
        if !disk.filter.may_contain(hash) {
            return Ok(None);
        }
        let k = store_key(kg, key);
        if disk.deleted.contains(&k) {
            return Ok(None);
        }
        let Some(raw) = disk.store.get(&k)? else {
            return Ok(None);
        };
        let stored = StoredValue::parse(&raw)?;
        if ttl.is_some_and(|ttl| now.saturating_sub(stored.touched) > ttl) {
            disk.deleted.insert(k);
            return Ok(None);
        }
        let mut r = StateReader::new(stored.value);
        let value = self.codec.decode(&mut r)?;
        r.finish()?;
        Ok(Some(value))
    }

    /// Puts an entry in the heap cache, evicting the least recently used quarter first when
    /// the cache is full.
    pub(super) fn cache(&mut self, kg: u32, entry: Entry<V>) -> Result<&mut Entry<V>> {
        if self.len >= self.disk.as_ref().expect("disk").capacity {
            self.evict()?;
        }
        let i = self.index(kg);
        self.len += 1;
        Ok(self.groups[i]
            .insert_unique(entry.hash, entry, |e| e.hash)
            .into_mut())
    }

    /// Writes back and drops the least recently used quarter of the cache.
    pub(super) fn evict(&mut self) -> Result<()> {
        let disk = self.disk.as_mut().expect("disk");
        let clock = disk.clock;
        // Ages, not clock values, so the order survives the clock wrapping.
        let mut ages: Vec<u32> = self
            .groups
            .iter()
            .flat_map(|g| g.iter().map(|e| clock.wrapping_sub(e.used)))
            .collect();
        if ages.is_empty() {
            return Ok(());
        }
        let keep = ages.len() - ages.len().div_ceil(4);
        let (_, &mut oldest_kept, _) = ages.select_nth_unstable(keep.saturating_sub(1));
        let mut writes: Vec<Write> = Vec::new();
        let mut removed = 0;
        let codec = &self.codec;
        for (i, g) in self.groups.iter_mut().enumerate() {
            let kg = self.range.start + i as u32;
            g.retain(|e| {
                if keep > 0 && clock.wrapping_sub(e.used) <= oldest_kept {
                    return true;
                }
                if e.flags & DIRTY != 0 {
                    let v = StoredValue::encode(e.touched, e.hash, |w| codec.encode(&e.value, w));
                    writes.push((store_key(kg, &e.key), Some(v)));
                    if e.flags & STORED == 0 {
                        disk.filter.add(e.hash);
                    }
                }
                removed += 1;
                false
            });
        }
        self.len -= removed;
        disk.write(writes)?;
        self.maintain_filter()
    }

    /// Rebuilds the key filter from the store's keys once more keys were added than it was
    /// sized for (deleted keys drop out; the cost is one pass per doubling).
    pub(super) fn maintain_filter(&mut self) -> Result<()> {
        let range = self.range;
        let Some(disk) = &mut self.disk else {
            return Ok(());
        };
        if !disk.filter.is_full() {
            return Ok(());
        }
        let mut hashes = Vec::new();
        disk.store.scan(
            &group_prefix(range.start),
            &group_prefix(range.end + 1),
            &mut |_, v| {
                hashes.push(StoredValue::parse(v)?.hash);
                Ok(())
            },
        )?;
        let mut filter = KeyFilter::with_capacity(hashes.len() * 2);
        for h in hashes {
            filter.add(h);
        }
        disk.filter = filter;
        Ok(())
    }

    /// Writes every changed cached value to the store (before a checkpoint).
    pub(super) fn write_back(&mut self) -> Result<()> {
        let Some(disk) = &mut self.disk else {
            return Ok(());
        };
        let mut writes: Vec<Write> = Vec::new();
        let codec = &self.codec;
        for (i, g) in self.groups.iter_mut().enumerate() {
            let kg = self.range.start + i as u32;
            for e in g.iter_mut().filter(|e| e.flags & DIRTY != 0) {
                let v = StoredValue::encode(e.touched, e.hash, |w| codec.encode(&e.value, w));
                writes.push((store_key(kg, &e.key), Some(v)));
                if e.flags & STORED == 0 {
                    disk.filter.add(e.hash);
                }
                e.flags = STORED;
            }
        }
        disk.write(writes)?;
        self.maintain_filter()
    }
}
