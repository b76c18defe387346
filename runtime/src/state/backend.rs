//! Where keyed state lives: on the heap (`hashmap`, the default) or in RocksDB on local disk
//! with a bounded cache of live values on the heap (`rocksdb`), chosen with Flink's options.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::store::OrderedStore;
use crate::error::{Result, RunnelError};

/// The state backend of a job (`state.backend.type`).
#[derive(Clone, Debug, Default)]
pub enum StateBackend {
    /// Every value on the heap; snapshots write each key group in full.
    #[default]
    HashMap,
    /// Values in RocksDB, the hot ones cached on the heap.
    RocksDb(Arc<RocksDbOptions>),
}

/// Settings of the RocksDB backend.
#[derive(Clone, Debug)]
pub struct RocksDbOptions {
    /// `state.backend.rocksdb.localdir`: where each state's database lives while the job runs.
    pub local_dir: PathBuf,
    /// `execution.checkpointing.incremental`: checkpoints upload only new SST files and refer to
    /// the ones earlier checkpoints uploaded; otherwise every checkpoint is a full copy in the
    /// portable per-key-group format.
    pub incremental: bool,
    /// `state.backend.rocksdb.object-cache.max-entries`: live values kept decoded on the heap
    /// per state, written back to RocksDB when evicted and at every checkpoint.
    pub cache_entries: usize,
}

impl StateBackend {
    /// Reads the backend from a job's configuration.
    pub fn from_options(options: &BTreeMap<String, String>) -> Result<Self> {
        let get = |names: &[&'static str]| {
            names
                .iter()
                .find_map(|n| options.get(*n).map(|v| (*n, v.trim())))
        };
        let kind = get(&["state.backend.type", "state.backend"]);
        match kind.map(|(n, v)| (n, v.to_ascii_lowercase())) {
            None => Ok(StateBackend::HashMap),
            Some((_, v)) if v == "hashmap" => Ok(StateBackend::HashMap),
            Some((_, v)) if v == "rocksdb" => {
                let incremental = match get(&[
                    "execution.checkpointing.incremental",
                    "state.backend.incremental",
                ]) {
                    None => false,
                    Some((n, v)) => match v.to_ascii_lowercase().as_str() {
                        "true" => true,
                        "false" => false,
                        _ => return Err(RunnelError::bad_option(n, v, "true or false")),
                    },
                };
                let cache_entries = match get(&["state.backend.rocksdb.object-cache.max-entries"]) {
                    None => 100_000,
                    Some((n, v)) => {
                        v.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                            RunnelError::bad_option(n, v, "a positive whole number")
                        })?
                    }
                };
                let local_dir = get(&["state.backend.rocksdb.localdir"])
                    .map(|(_, v)| PathBuf::from(v))
                    .unwrap_or_else(|| std::env::temp_dir().join("runnel-rocksdb"));
                if !cfg!(feature = "rocksdb") {
                    return Err(RunnelError::Plan(
                        "configuration 'state.backend.type' = 'rocksdb': this build of runnel has \
                         no RocksDB backend (build it with `--features rocksdb`)"
                            .into(),
                    ));
                }
                Ok(StateBackend::RocksDb(Arc::new(RocksDbOptions {
                    local_dir,
                    incremental,
                    cache_entries,
                })))
            }
            Some((n, _)) => Err(RunnelError::bad_option(
                n,
                kind.expect("some").1,
                "'hashmap' or 'rocksdb'",
            )),
        }
    }

    /// A fresh on-disk store for one keyed state of one subtask, or `None` on the heap backend.
    pub(crate) fn open_store(&self, name: &str) -> Result<Option<Box<dyn OrderedStore>>> {
        match self {
            StateBackend::HashMap => Ok(None),
            StateBackend::RocksDb(opts) => open_rocksdb(opts, name).map(Some),
        }
    }

    /// The settings when RocksDB keeps the state.
    pub fn rocksdb(&self) -> Option<&RocksDbOptions> {
        match self {
            StateBackend::HashMap => None,
            StateBackend::RocksDb(opts) => Some(opts),
        }
    }
}

#[cfg(feature = "rocksdb")]
fn open_rocksdb(opts: &RocksDbOptions, name: &str) -> Result<Box<dyn OrderedStore>> {
    static SWEPT: std::sync::Once = std::sync::Once::new();
    SWEPT.call_once(|| remove_orphans(&opts.local_dir));
    let dir = opts.local_dir.join(format!(
        "{name}-{}-{:08x}",
        std::process::id(),
        crate::checkpoint::random_u64() as u32
    ));
    Ok(Box::new(super::rocks::RocksStore::create(dir)?))
}

/// Deletes the database folders that processes which no longer run left in `local_dir` (a
/// killed job cannot clean up after itself). Folder names are `<state>-<pid>-<random>…`.
#[cfg(feature = "rocksdb")]
fn remove_orphans(local_dir: &std::path::Path) {
    for entry in std::fs::read_dir(local_dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.split('-').nth(1).and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(not(feature = "rocksdb"))]
fn open_rocksdb(_: &RocksDbOptions, _: &str) -> Result<Box<dyn OrderedStore>> {
    Err(no_rocksdb())
}

/// The error of a build without RocksDB that meets RocksDB state.
#[cfg(not(feature = "rocksdb"))]
pub(crate) fn no_rocksdb() -> RunnelError {
    RunnelError::State(
        "this snapshot or configuration needs the RocksDB state backend, which this build of \
         runnel lacks (build it with `--features rocksdb`)"
            .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::options as opts;

    #[test]
    fn flink_names_choose_the_backend() {
        assert!(matches!(
            StateBackend::from_options(&opts(&[])).unwrap(),
            StateBackend::HashMap
        ));
        let err = StateBackend::from_options(&opts(&[("state.backend.type", "forst")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("state.backend.type") && err.contains("forst"),
            "{err}"
        );
        let rocks = StateBackend::from_options(&opts(&[
            ("state.backend.type", "rocksdb"),
            ("execution.checkpointing.incremental", "true"),
            ("state.backend.rocksdb.localdir", "/tmp/r"),
        ]));
        if cfg!(feature = "rocksdb") {
            let b = rocks.unwrap();
            let o = b.rocksdb().expect("rocksdb");
            assert!(o.incremental);
            assert_eq!(o.local_dir, PathBuf::from("/tmp/r"));
        } else {
            assert!(
                rocks
                    .unwrap_err()
                    .to_string()
                    .contains("--features rocksdb")
            );
        }
        let err = StateBackend::from_options(&opts(&[
            ("state.backend.type", "rocksdb"),
            ("execution.checkpointing.incremental", "yes"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(err.contains("execution.checkpointing.incremental"), "{err}");
    }
}
