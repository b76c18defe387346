//! The RocksDB state backend with millions of keys: incremental checkpoints upload what
//! changed since the last one, not the whole state, and restore the state exactly, at the same
//! parallelism (the database as it is), at another (key groups copied out) and onto the heap
//! backend.
#![cfg(feature = "rocksdb")]

use std::path::PathBuf;
use std::sync::Arc;

use runnel::checkpoint::{
    Location, NativeStateHandle, OperatorSnapshot, RestoredState, StateReader, StateWriter,
};
use runnel::dataflow::KeyGroupRange;
use runnel::state::{KeyedState, RocksDbOptions, StateBackend, ValueCodec};

const KEYS: u64 = 2_000_000;
const GROUPS: u32 = 128;

struct Counter;

impl ValueCodec<u64> for Counter {
    fn encode(&self, v: &u64, w: &mut StateWriter) {
        w.u64(*v);
    }
    fn decode(&self, r: &mut StateReader<'_>) -> runnel::Result<u64> {
        r.u64()
    }
}

struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn key(i: u64) -> [u8; 8] {
    i.to_be_bytes()
}

/// A key's hash and key group: spread over all groups.
fn place(i: u64) -> (u64, u32) {
    let h = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (h, ((h >> 40) % u64::from(GROUPS)) as u32)
}

fn rocksdb(dir: &std::path::Path) -> StateBackend {
    StateBackend::RocksDb(Arc::new(RocksDbOptions {
        local_dir: dir.to_path_buf(),
        incremental: true,
        cache_entries: 50_000,
    }))
}

fn all_groups() -> KeyGroupRange {
    KeyGroupRange {
        start: 0,
        end: GROUPS - 1,
    }
}

/// Takes checkpoint `id` of `state` into `<job>/chk-<id>` and returns its handle and the bytes
/// it uploaded.
fn checkpoint(
    state: &mut KeyedState<u64>,
    job: &Location,
    id: u64,
) -> (NativeStateHandle, Location, u64) {
    let mut snap = OperatorSnapshot::new(false);
    state.snapshot(&mut snap).unwrap();
    let mut native = snap.take_native();
    assert_eq!(native.len(), 1, "one database copy per keyed state");
    let dir = job.join(&format!("chk-{id}"));
    dir.ensure().unwrap();
    let (handle, uploaded) = native.pop().unwrap().upload(&dir, id, "v0-0-0").unwrap();
    (handle, dir, uploaded)
}

fn restored(handle: &NativeStateHandle, dir: &Location) -> RestoredState {
    RestoredState {
        native: vec![handle.clone()],
        dir: Some(dir.clone()),
        ..Default::default()
    }
}

/// Checks every key's value: `2 * i` for keys changed by the later rounds, `i` for the others.
fn check(state: &mut KeyedState<u64>, range: KeyGroupRange, changed: u64) {
    let mut seen = 0;
    for i in 0..KEYS {
        let (h, kg) = place(i);
        if !range.contains(kg) {
            continue;
        }
        let want = if i < changed { 2 * i } else { i };
        let got = state.get_mut(kg, h, &key(i)).unwrap().copied();
        assert_eq!(got, Some(want), "key {i}");
        seen += 1;
    }
    assert!(seen > 0);
}

#[test]
fn incremental_checkpoints_upload_the_change_and_restore_everything() {
    let scratch =
        Scratch(std::env::temp_dir().join(format!("runnel-rocksdb-test-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&scratch.0);
    let local = scratch.0.join("local");
    let job = Location::local(scratch.0.join("checkpoints/job"));
    let backend = rocksdb(&local);
    let mut state =
        KeyedState::on_backend(all_groups(), "counts", &backend, "test", Counter).unwrap();

    // Two million keys: far more than the heap cache of 50,000, so most live only on disk.
    for i in 0..KEYS {
        let (h, kg) = place(i);
        *state.get_or_insert_with(kg, h, &key(i), || 0).unwrap().0 = i;
    }
    let (first, _, first_upload) = checkpoint(&mut state, &job, 1);
    let total = first.bytes();
    assert!(
        total > 8 * 1024 * 1024 && first_upload == total,
        "the first checkpoint uploads the whole state ({first_upload} of {total} bytes)"
    );

    // Then change 1% of the keys per checkpoint: each uploads about that much.
    let mut changed = 0;
    let mut uploads = Vec::new();
    let mut last = (first, job.join("chk-1"));
    for id in 2..=4 {
        for i in changed..changed + KEYS / 100 {
            let (h, kg) = place(i);
            *state.get_mut(kg, h, &key(i)).unwrap().expect("key") = 2 * i;
        }
        changed += KEYS / 100;
        let (handle, dir, uploaded) = checkpoint(&mut state, &job, id);
        assert!(
            handle.bytes() >= total * 9 / 10,
            "checkpoint {id} refers to the whole state ({} of {total} bytes)",
            handle.bytes()
        );
        uploads.push(uploaded);
        last = (handle, dir);
    }
    eprintln!("state {total} bytes; first upload {first_upload}; then {uploads:?}");
    // RocksDB may compact in the background and rewrite files; at least one checkpoint after a
    // 1% change must upload a small fraction of the state, and none more than it.
    let smallest = *uploads.iter().min().unwrap();
    assert!(
        smallest < total / 10,
        "an incremental checkpoint uploaded {smallest} of {total} bytes after a 1% change"
    );
    assert!(uploads.iter().all(|&u| u <= total * 11 / 10));
    drop(state);

    let (handle, dir) = last;
    let from = restored(&handle, &dir);
    // The same key groups: the database is taken as it is.
    let mut same =
        KeyedState::on_backend(all_groups(), "counts", &backend, "same", Counter).unwrap();
    same.restore_native(&from).unwrap();
    check(&mut same, all_groups(), changed);
    drop(same);
    // Two subtasks, one on RocksDB and one on the heap: each copies the groups it owns.
    let halves = [
        (KeyGroupRange { start: 0, end: 63 }, &backend),
        (
            KeyGroupRange {
                start: 64,
                end: 127,
            },
            &StateBackend::HashMap,
        ),
    ];
    for (i, (range, b)) in halves.into_iter().enumerate() {
        let mut half =
            KeyedState::on_backend(range, "counts", b, &format!("half{i}"), Counter).unwrap();
        half.restore_native(&from).unwrap();
        check(&mut half, range, changed);
    }
    // Nothing of the running states is left on local disk.
    let left: Vec<_> = std::fs::read_dir(&local).unwrap().flatten().collect();
    assert!(left.is_empty(), "local RocksDB folders left: {left:?}");
}
