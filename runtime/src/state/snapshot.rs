//! Writing keyed state and timers into checkpoint blobs and reading them back.

use std::collections::HashMap;

use std::path::{Path, PathBuf};

use super::disk::{StoredValue, group_prefix, store_key};
use super::filter::KeyFilter;
use super::keyed::now_ms;
use super::store::{Write, open_checkpoint};
use super::{EventTimers, KeyedState, TimerKey};
use crate::checkpoint::{
    NativeSnapshot, OperatorSnapshot, RestoredState, StateReader, StateWriter, random_u64,
};
use crate::error::Result;

impl<V> KeyedState<V> {
    /// Adds this state to `snap`. Per key group, each blob gets the group's entries (key hash,
    /// key, value; empty groups a zero count so readers stay in step). On RocksDB with
    /// incremental checkpoints the groups get a zero count and the database's files are handed
    /// over instead, unless the snapshot must be portable (a savepoint).
    pub fn snapshot(&mut self, snap: &mut OperatorSnapshot) -> Result<()> {
        self.write_back()?;
        let Some(disk) = &mut self.disk else {
            for (i, g) in self.groups.iter().enumerate() {
                let w = snap.key_group(self.range.start + i as u32);
                // A guess at the group's size, so the blob does not grow by copying.
                w.reserve(g.len() * 48);
                w.u64(g.len() as u64);
                for e in g {
                    w.u64(e.hash);
                    w.bytes(&e.key);
                    self.codec.encode(&e.value, w);
                }
            }
            return Ok(());
        };
        if disk.incremental && !snap.is_portable() {
            let dir = sibling(disk.store.dir(), "chk");
            let files = disk.store.checkpoint(&dir)?;
            snap.add_native(NativeSnapshot {
                state: self.name.to_string(),
                key_groups: self.range,
                dir,
                files,
                uploaded: disk.uploaded.clone(),
            });
            for kg in self.range.iter() {
                snap.key_group(kg).u64(0);
            }
            return Ok(());
        }
        for kg in self.range.iter() {
            let mut entries = StateWriter::default();
            let mut n = 0u64;
            disk.store
                .scan(&group_prefix(kg), &group_prefix(kg + 1), &mut |k, v| {
                    let stored = StoredValue::parse(v)?;
                    entries.u64(stored.hash);
                    entries.bytes(&k[2..]);
                    entries.raw(stored.value);
                    n += 1;
                    Ok(())
                })?;
            let w = snap.key_group(kg);
            w.u64(n);
            w.raw(&entries.into_bytes());
        }
        Ok(())
    }

    /// Reads what [`KeyedState::snapshot`] wrote into key group `kg`'s blob.
    pub fn restore_group(&mut self, kg: u32, r: &mut StateReader<'_>) -> Result<()> {
        let n = r.count()?;
        if self.disk.is_none() {
            for _ in 0..n {
                let hash = r.u64()?;
                let key = r.bytes()?;
                let v = self.codec.decode(r)?;
                self.insert(kg, hash, key, v)?;
            }
            return Ok(());
        }
        // Straight into the store, still encoded (after checking that it decodes).
        let touched = now_ms();
        let mut writes = Vec::with_capacity(n);
        for _ in 0..n {
            let hash = r.u64()?;
            let key = r.bytes()?;
            let (_, value) = r.read_raw(|r| self.codec.decode(r))?;
            let v = StoredValue::encode(touched, hash, |w| w.raw(value));
            self.disk.as_mut().expect("disk").filter.add(hash);
            writes.push((store_key(kg, key), Some(v)));
        }
        self.put_restored(writes)
    }

    fn put_restored(&mut self, writes: Vec<Write>) -> Result<()> {
        self.disk.as_mut().expect("disk").write(writes)?;
        self.maintain_filter()
    }

    /// Restores the database copies of this state (RocksDB checkpoints) among `restored`'s:
    /// one that covers exactly this subtask's key groups becomes its database as it is; from
    /// others (another parallelism, or the heap backend) the owned key groups are copied.
    pub fn restore_native(&mut self, restored: &RestoredState) -> Result<()> {
        let handles: Vec<_> = restored
            .native
            .iter()
            .filter(|h| h.state == self.name)
            .collect();
        let Some(dir) = &restored.dir else {
            return Ok(());
        };
        if let ([h], Some(disk)) = (handles.as_slice(), &mut self.disk)
            && h.key_groups() == self.range
        {
            let target = sibling(disk.store.dir(), "restored");
            h.download(dir, &target)?;
            disk.store = open_checkpoint(target)?;
            disk.store.set_ttl(self.ttl);
            disk.filter = KeyFilter::unknown();
            return self.maintain_filter();
        }
        for h in handles {
            let scratch = match &self.disk {
                Some(disk) => sibling(disk.store.dir(), "rescale"),
                None => std::env::temp_dir().join(format!(
                    "runnel-restore-{}-{:016x}",
                    std::process::id(),
                    random_u64()
                )),
            };
            if let Err(e) = h.download(dir, &scratch) {
                let _ = std::fs::remove_dir_all(&scratch);
                return Err(e);
            }
            let source = open_checkpoint(scratch)?;
            let theirs = h.key_groups();
            let from = theirs.start.max(self.range.start);
            let to = theirs.end.min(self.range.end);
            if from > to {
                continue;
            }
            let mut writes: Vec<Write> = Vec::new();
            source.scan(&group_prefix(from), &group_prefix(to + 1), &mut |k, v| {
                let kg = u32::from(u16::from_be_bytes([k[0], k[1]]));
                if let Some(disk) = &mut self.disk {
                    disk.filter.add(StoredValue::parse(v)?.hash);
                    writes.push((k.to_vec(), Some(v.to_vec())));
                    if writes.len() >= 10_000 {
                        self.put_restored(std::mem::take(&mut writes))?;
                    }
                    return Ok(());
                }
                let stored = StoredValue::parse(v)?;
                let mut r = StateReader::new(stored.value);
                let value = self.codec.decode(&mut r)?;
                r.finish()?;
                self.insert(kg, stored.hash, &k[2..], value)
            })?;
            if self.disk.is_some() {
                self.put_restored(writes)?;
            }
        }
        Ok(())
    }
}

/// A new folder next to a store's, on the same file system (checkpoints hard-link its files).
fn sibling(store_dir: &Path, what: &str) -> PathBuf {
    let name = store_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    store_dir.with_file_name(format!("{name}-{what}-{:016x}", random_u64()))
}

impl EventTimers {
    /// Appends each group's timers to its blob, for every group in `groups`.
    pub fn snapshot(&self, snap: &mut OperatorSnapshot, groups: crate::dataflow::KeyGroupRange) {
        let mut by_group: HashMap<u32, Vec<(i64, &TimerKey)>> = HashMap::new();
        for (time, key) in self.iter() {
            by_group.entry(key.key_group).or_default().push((time, key));
        }
        for kg in groups.iter() {
            let w = snap.key_group(kg);
            let timers = by_group.remove(&kg).unwrap_or_default();
            w.u64(timers.len() as u64);
            for (time, key) in timers {
                w.i64(time);
                w.u64(key.hash);
                w.bytes(&key.key);
            }
        }
    }

    /// Reads what [`EventTimers::snapshot`] wrote for key group `kg`.
    pub fn restore_group(&mut self, kg: u32, r: &mut StateReader<'_>) -> Result<()> {
        let n = r.count()?;
        for _ in 0..n {
            let time = r.i64()?;
            let hash = r.u64()?;
            let key = r.bytes()?;
            self.register(time, kg, hash, key);
        }
        Ok(())
    }
}
