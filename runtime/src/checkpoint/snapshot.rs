//! What an operator hands over at a barrier, and what it gets back on restore.
//!
//! Keyed state goes into one blob per key group, so a restore at another parallelism gives
//! each new subtask exactly the groups it owns. Operator (non-keyed) state is a list of
//! entries redistributed round robin over the new subtasks, as Flink's operator list state.

use std::collections::BTreeMap;

use super::codec::{StateReader, StateWriter};
use super::location::Location;
use super::native::{NativeSnapshot, NativeStateHandle};
use crate::dataflow::KeyGroupRange;
use crate::error::Result;

/// The state of one key group: its number and its bytes.
pub type KeyGroupBlob = (u32, Vec<u8>);

/// One operator's state in one subtask at one checkpoint.
#[derive(Default, Debug)]
pub struct OperatorSnapshot {
    keyed: BTreeMap<u32, StateWriter>,
    operator: Vec<Vec<u8>>,
    native: Vec<NativeSnapshot>,
    portable: bool,
}

impl OperatorSnapshot {
    /// An empty snapshot; a `portable` one (a savepoint) must hold every keyed state in the
    /// per-key-group format any backend reads, never as native database files.
    pub fn new(portable: bool) -> Self {
        OperatorSnapshot {
            portable,
            ..Default::default()
        }
    }

    /// Whether keyed state must be written per key group (savepoints).
    pub fn is_portable(&self) -> bool {
        self.portable
    }

    /// Adds a keyed state's database copy, uploaded by the task.
    pub fn add_native(&mut self, native: NativeSnapshot) {
        debug_assert!(!self.portable, "a savepoint holds no native state");
        self.native.push(native);
    }

    /// Takes the database copies out, for upload.
    pub fn take_native(&mut self) -> Vec<NativeSnapshot> {
        std::mem::take(&mut self.native)
    }

    /// The blob of key group `kg`; an operator with several keyed structures writes them one
    /// after another, for every group of its range, and reads them back in the same order.
    pub fn key_group(&mut self, kg: u32) -> &mut StateWriter {
        self.keyed.entry(kg).or_default()
    }

    /// Adds one entry of operator list state.
    pub fn add_operator_entry(&mut self, entry: Vec<u8>) {
        self.operator.push(entry);
    }

    /// Whether the operator wrote nothing at all.
    pub fn is_empty(&self) -> bool {
        self.keyed.is_empty() && self.operator.is_empty() && self.native.is_empty()
    }

    /// Splits into per-group blobs and operator entries, for storage.
    pub fn into_parts(self) -> (Vec<KeyGroupBlob>, Vec<Vec<u8>>) {
        (
            self.keyed
                .into_iter()
                .map(|(kg, w)| (kg, w.into_bytes()))
                .collect(),
            self.operator,
        )
    }
}

/// State given back to one operator of one subtask on restore.
#[derive(Default, Debug)]
pub struct RestoredState {
    /// Blobs of the key groups this subtask owns, from whichever old subtasks held them.
    pub key_groups: Vec<KeyGroupBlob>,
    /// This subtask's share of the operator list state.
    pub operator: Vec<Vec<u8>>,
    /// Every subtask's operator list state, in old subtask order (Flink's union list state),
    /// for readers that divide the work themselves.
    pub union: Vec<Vec<u8>>,
    /// Database copies (RocksDB) of keyed states that overlap this subtask's key groups, and
    /// the snapshot folder they are relative to.
    pub native: Vec<NativeStateHandle>,
    /// The snapshot folder, when there is native state.
    pub dir: Option<Location>,
}

impl RestoredState {
    /// Reads every key group blob with `f`, which must consume it entirely.
    pub fn for_each_group(
        &self,
        range: KeyGroupRange,
        mut f: impl FnMut(u32, &mut StateReader<'_>) -> Result<()>,
    ) -> Result<()> {
        for (kg, blob) in &self.key_groups {
            debug_assert!(range.contains(*kg));
            let mut r = StateReader::new(blob);
            f(*kg, &mut r)?;
            r.finish()?;
        }
        Ok(())
    }
}
