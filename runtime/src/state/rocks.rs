//! RocksDB as the on-disk store of keyed state (`state.backend.type: rocksdb`).
//!
//! One database per keyed state of a subtask, in its own folder under
//! `state.backend.rocksdb.localdir`, deleted when the state is dropped. Writes skip the
//! write-ahead log: a checkpoint, not the log, is what a failed job restarts from. Values start
//! with their last-write time so compaction drops the ones past the state's time to live.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rocksdb::checkpoint::Checkpoint;
use rocksdb::compaction_filter::Decision;
use rocksdb::{BlockBasedOptions, DB, Options, ReadOptions, WriteBatch, WriteOptions};

use super::store::{OrderedStore, Visit, Write};
use crate::error::{Result, RunnelError};

/// A RocksDB database that owns its folder.
pub(crate) struct RocksStore {
    db: Option<DB>,
    dir: PathBuf,
    write: WriteOptions,
    /// Time to live in milliseconds (0: none), read by the compaction filter.
    ttl: Arc<AtomicU64>,
}

fn err(dir: &Path, what: &str, e: impl std::fmt::Display) -> RunnelError {
    RunnelError::State(format!("RocksDB state in {}: {what}: {e}", dir.display()))
}

impl RocksStore {
    /// A new, empty database in `dir` (which must not exist yet).
    pub(crate) fn create(dir: PathBuf) -> Result<Self> {
        if dir.exists() {
            return Err(err(
                &dir,
                "creating the database",
                "the folder already exists",
            ));
        }
        std::fs::create_dir_all(&dir).map_err(|e| err(&dir, "creating the folder", e))?;
        Self::open(dir)
    }

    /// Opens the database in `dir` (created when empty) and takes ownership of the folder.
    pub(crate) fn open(dir: PathBuf) -> Result<Self> {
        let ttl = Arc::new(AtomicU64::new(0));
        let mut opts = Options::default();
        opts.create_if_missing(true);
        let mut table = BlockBasedOptions::default();
        // Most lookups are for keys seen for the first time: a Bloom filter answers those
        // without reading a block.
        table.set_bloom_filter(10.0, false);
        opts.set_block_based_table_factory(&table);
        let filter_ttl = ttl.clone();
        opts.set_compaction_filter("runnel-state-ttl", move |_level, _key, value| {
            let ttl = filter_ttl.load(Ordering::Relaxed);
            match value.get(..8) {
                Some(t) if ttl > 0 => {
                    let touched = u64::from_le_bytes(t.try_into().expect("8 bytes"));
                    if super::keyed::now_ms().saturating_sub(touched) > ttl {
                        Decision::Remove
                    } else {
                        Decision::Keep
                    }
                }
                _ => Decision::Keep,
            }
        });
        let db = DB::open(&opts, &dir).map_err(|e| err(&dir, "opening the database", e))?;
        let mut write = WriteOptions::default();
        write.disable_wal(true);
        Ok(RocksStore {
            db: Some(db),
            dir,
            write,
            ttl,
        })
    }

    fn db(&self) -> &DB {
        self.db.as_ref().expect("open until dropped")
    }
}

impl OrderedStore for RocksStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.db()
            .get(key)
            .map_err(|e| err(&self.dir, "reading a value", e))
    }

    fn write(&mut self, writes: Vec<Write>) -> Result<()> {
        let mut batch = WriteBatch::default();
        for (key, value) in writes {
            match value {
                Some(v) => batch.put(key, v),
                None => batch.delete(key),
            }
        }
        self.db()
            .write_opt(batch, &self.write)
            .map_err(|e| err(&self.dir, "writing values", e))
    }

    fn scan(&self, from: &[u8], to: &[u8], f: &mut Visit<'_>) -> Result<()> {
        let mut read = ReadOptions::default();
        read.set_iterate_upper_bound(to);
        read.fill_cache(false);
        let mut it = self.db().raw_iterator_opt(read);
        it.seek(from);
        while it.valid() {
            f(it.key().expect("valid"), it.value().expect("valid"))?;
            it.next();
        }
        it.status()
            .map_err(|e| err(&self.dir, "reading the database", e))
    }

    fn checkpoint(&mut self, into: &Path) -> Result<Vec<(String, u64)>> {
        // Creating a checkpoint flushes the memtable first, so every value is in an SST file.
        Checkpoint::new(self.db())
            .and_then(|c| c.create_checkpoint(into))
            .map_err(|e| err(&self.dir, "taking a checkpoint", e))?;
        let mut files = Vec::new();
        for entry in std::fs::read_dir(into).map_err(|e| err(into, "listing a checkpoint", e))? {
            let entry = entry.map_err(|e| err(into, "listing a checkpoint", e))?;
            let size = entry
                .metadata()
                .map_err(|e| err(into, "listing a checkpoint", e))?
                .len();
            files.push((entry.file_name().to_string_lossy().into_owned(), size));
        }
        files.sort();
        Ok(files)
    }

    fn set_ttl(&mut self, ttl_ms: Option<u64>) {
        self.ttl.store(ttl_ms.unwrap_or(0), Ordering::Relaxed);
    }

    fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for RocksStore {
    fn drop(&mut self) {
        drop(self.db.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
