//! Writing keyed state and timers into checkpoint blobs and reading them back.

use std::collections::HashMap;

use super::{EventTimers, KeyedState, TimerKey};
use crate::checkpoint::{OperatorSnapshot, StateReader, StateWriter};
use crate::error::Result;

impl<V> KeyedState<V> {
    /// Appends every group's entries (key hash, key, value) to its blob; empty groups get a
    /// zero count so readers stay in step.
    pub fn snapshot(
        &self,
        snap: &mut OperatorSnapshot,
        mut value: impl FnMut(&V, &mut StateWriter),
    ) {
        for kg in self.key_groups().iter() {
            let w = snap.key_group(kg);
            let entries = self.group_entries(kg);
            w.u64(entries.len() as u64);
            for (hash, key, v) in entries {
                w.u64(hash);
                w.bytes(key);
                value(v, w);
            }
        }
    }

    /// Reads what [`KeyedState::snapshot`] wrote for key group `kg`.
    pub fn restore_group(
        &mut self,
        kg: u32,
        r: &mut StateReader<'_>,
        mut value: impl FnMut(&mut StateReader<'_>) -> Result<V>,
    ) -> Result<()> {
        let n = r.count()?;
        for _ in 0..n {
            let hash = r.u64()?;
            let key = r.bytes()?;
            let v = value(r)?;
            self.insert(kg, hash, key, v);
        }
        Ok(())
    }
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
