//! The on-disk side of keyed state: an ordered key-value store that can hand out a consistent
//! set of immutable files for a checkpoint.

use std::path::{Path, PathBuf};

use crate::error::Result;

/// One write in a [`OrderedStore::write`] batch: a value, or `None` to delete the key.
pub(crate) type Write = (Vec<u8>, Option<Vec<u8>>);

/// What [`OrderedStore::scan`] calls with each key and value.
pub(crate) type Visit<'a> = dyn FnMut(&[u8], &[u8]) -> Result<()> + 'a;

/// A local ordered key-value store (RocksDB) holding one keyed state of one subtask.
pub(crate) trait OrderedStore: Send {
    /// The value of `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Applies the writes atomically, in order.
    fn write(&mut self, writes: Vec<Write>) -> Result<()>;

    /// Calls `f` with every (key, value) in `[from, to)`, in key order.
    fn scan(&self, from: &[u8], to: &[u8], f: &mut Visit<'_>) -> Result<()>;

    /// Writes a consistent copy of the store into the new folder `into` (hard links where the
    /// files allow) and lists its files with their sizes.
    fn checkpoint(&mut self, into: &Path) -> Result<Vec<(String, u64)>>;

    /// Sets the time to live the store's compaction drops expired values by; values start with
    /// their last-write time (epoch millis, 8 bytes little-endian).
    fn set_ttl(&mut self, ttl_ms: Option<u64>);

    /// Where the store keeps its files.
    fn dir(&self) -> &Path;
}

/// Opens, as the store of one keyed state, a checkpoint copy made by
/// [`OrderedStore::checkpoint`] and downloaded into `dir`, which it then owns.
#[cfg(feature = "rocksdb")]
pub(crate) fn open_checkpoint(dir: PathBuf) -> Result<Box<dyn OrderedStore>> {
    Ok(Box::new(super::rocks::RocksStore::open(dir)?))
}

#[cfg(not(feature = "rocksdb"))]
pub(crate) fn open_checkpoint(_dir: PathBuf) -> Result<Box<dyn OrderedStore>> {
    Err(super::backend::no_rocksdb())
}
