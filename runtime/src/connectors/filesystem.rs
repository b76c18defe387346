//! Flink's `filesystem` connector: line formats (`json`, `csv`) and `parquet`, optionally
//! `PARTITIONED BY` into `col=value/` folders, read as per-file splits and written with
//! exactly-once two-phase commit.

mod parquet;
mod partitions;

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use ::parquet::arrow::ArrowWriter;
use ::parquet::arrow::arrow_reader::ParquetRecordBatchReader;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use runnel_formats::{Decoder, Encoder, Format, Origin};
use runnel_types::ChangeBatch;

use self::parquet::ParquetOptions;
use self::partitions::Partitioning;
use super::{SinkMode, SinkSpec, Source, SourcePoll, SourceSpec, TableOptions, factory};
use crate::checkpoint::{OperatorSnapshot, RestoredState, StateReader, StateWriter};
use crate::error::{Result, RunnelError};
use crate::operators::{Operator, Output, SubtaskContext};

const READ_CHUNK: usize = 4 << 20;

/// A table's `format`: line oriented, or Parquet.
#[derive(Clone, Debug)]
enum FileFormat {
    Lines(Format),
    Parquet(ParquetOptions),
}

fn format_of(table: &str, options: &TableOptions) -> Result<(FileFormat, Vec<String>)> {
    let name = options.required(table, "format")?;
    if name == "parquet" {
        let (o, consumed) = ParquetOptions::from_options(table, options)?;
        return Ok((FileFormat::Parquet(o), consumed));
    }
    let map: HashMap<String, String> = options
        .map()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let (f, consumed) = Format::from_options(name, &map).map_err(|e| {
        RunnelError::Connector(format!(
            "table `{table}`: {}",
            e.to_string().replace(
                "(supported: 'json', 'csv')",
                "(supported: 'json', 'csv', 'parquet')"
            )
        ))
    })?;
    Ok((FileFormat::Lines(f), consumed))
}

fn check_options(
    table: &str,
    options: &TableOptions,
    consumed: &[String],
    sink: bool,
) -> Result<()> {
    let mut known: Vec<&str> = vec!["path", "format", "source.monitor-interval"];
    if sink {
        known.extend([
            "sink.parallelism",
            "sink.rolling-policy.file-size",
            "sink.rolling-policy.rollover-interval",
            "sink.rolling-policy.check-interval",
            "partition.default-name",
        ]);
    }
    known.extend(consumed.iter().map(|s| s.as_str()));
    options.check_known(table, "filesystem", &known, &[])
}

/// Lists the files of `path` (a file, or a directory read recursively, hidden files skipped),
/// sorted so every run splits them the same way.
fn list_files(path: &Path) -> Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(path).map_err(|e| {
        RunnelError::io(
            format!("filesystem source: reading '{}'", path.display()),
            e,
        )
    })?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| {
            RunnelError::io(format!("filesystem source: listing '{}'", dir.display()), e)
        })?;
        for entry in entries {
            let entry =
                entry.map_err(|e| RunnelError::io(format!("listing '{}'", dir.display()), e))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || name.starts_with('_') {
                continue;
            }
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// One file of a file source and how far it has been read.
#[derive(Debug, Clone)]
struct FileSplit {
    path: PathBuf,
    /// Records handed downstream.
    emitted: u64,
    /// The end of the file was reached.
    eof: bool,
}

/// How the open file is read.
enum Reading {
    Lines {
        decoder: Box<dyn Decoder>,
        current: Option<(File, String)>,
        carry: Vec<u8>,
        line: u64,
    },
    Parquet {
        /// The table's file columns, which each file is conformed to.
        schema: SchemaRef,
        current: Option<(ParquetRecordBatchReader, String)>,
    },
}

/// What one read of the open file gave.
enum Chunk {
    /// Rows (possibly none yet); the file goes on.
    More(Vec<RecordBatch>),
    /// The last rows of the file.
    End(Vec<RecordBatch>),
}

impl Reading {
    fn is_open(&self) -> bool {
        match self {
            Reading::Lines { current, .. } => current.is_some(),
            Reading::Parquet { current, .. } => current.is_some(),
        }
    }

    fn open(&mut self, path: &Path) -> Result<()> {
        let display = path.display().to_string();
        let f = File::open(path)
            .map_err(|e| RunnelError::io(format!("filesystem source: opening '{display}'"), e))?;
        match self {
            Reading::Lines {
                current,
                carry,
                line,
                ..
            } => {
                *current = Some((f, display));
                *line = 1;
                carry.clear();
            }
            Reading::Parquet { current, .. } => {
                *current = Some((parquet::reader(f, &display)?, display));
            }
        }
        Ok(())
    }

    fn read(&mut self) -> Result<Chunk> {
        match self {
            Reading::Parquet { schema, current } => {
                let (reader, path) = current.as_mut().expect("opened");
                match reader.next() {
                    Some(b) => {
                        let b = b.map_err(|e| {
                            RunnelError::Connector(format!("{path}: reading Parquet: {e}"))
                        })?;
                        Ok(Chunk::More(vec![parquet::conform(b, schema, path)?]))
                    }
                    None => {
                        *current = None;
                        Ok(Chunk::End(Vec::new()))
                    }
                }
            }
            Reading::Lines {
                decoder,
                current,
                carry,
                line,
            } => {
                let (file, path) = current.as_mut().expect("opened");
                let mut buf = std::mem::take(carry);
                let start = buf.len();
                buf.resize(start + READ_CHUNK, 0);
                let n = file.read(&mut buf[start..]).map_err(|e| {
                    RunnelError::io(format!("filesystem source: reading '{path}'"), e)
                })?;
                buf.truncate(start + n);
                let path = path.clone();
                if n == 0 {
                    // End of file: decode what is left, even without a final newline.
                    let origin = Origin {
                        path: &path,
                        first_line: *line,
                    };
                    let mut batches = Vec::new();
                    if !buf.is_empty() {
                        batches.extend(decoder.decode(&buf, origin)?);
                    }
                    if let Some(b) = decoder.finish(origin)? {
                        batches.push(b);
                    }
                    *current = None;
                    return Ok(Chunk::End(batches));
                }
                // Cut at the last newline; the rest waits for the next chunk.
                let Some(cut) = buf.iter().rposition(|b| *b == b'\n').map(|i| i + 1) else {
                    *carry = buf;
                    return Ok(Chunk::More(Vec::new()));
                };
                *carry = buf[cut..].to_vec();
                let lines = buf[..cut].iter().filter(|b| **b == b'\n').count() as u64;
                let origin = Origin {
                    path: &path,
                    first_line: *line,
                };
                let batches = decoder.decode(&buf[..cut], origin)?;
                *line += lines;
                Ok(Chunk::More(batches))
            }
        }
    }
}

/// Reads its share of the files (file i goes to subtask i mod parallelism), chunk by chunk.
/// Its checkpoint state is one entry per file with the records emitted, so a restore (at any
/// parallelism) re-reads each unfinished file and skips what was already emitted.
struct FileSource {
    splits: Vec<FileSplit>,
    /// The split being read.
    at: usize,
    reading: Reading,
    /// The table's folder (partition values are read from paths below it).
    root: PathBuf,
    partitioning: Partitioning,
    /// Decoded batches with the split they came from.
    ready: std::collections::VecDeque<(usize, RecordBatch)>,
    /// Records of the current split still to drop (already emitted before a restore).
    skip: u64,
    /// The files of the table now (for files that appeared after the snapshot).
    listing: Vec<PathBuf>,
    subtask: u32,
    parallelism: u32,
}

impl FileSource {
    fn push(&mut self, batches: Vec<RecordBatch>) -> Result<()> {
        for b in batches {
            let b = if self.skip == 0 {
                b
            } else if (b.num_rows() as u64) <= self.skip {
                self.skip -= b.num_rows() as u64;
                continue;
            } else {
                let skip = self.skip as usize;
                self.skip = 0;
                b.slice(skip, b.num_rows() - skip)
            };
            let b = self
                .partitioning
                .complete(&self.root, &self.splits[self.at].path, b)?;
            self.ready.push_back((self.at, b));
        }
        Ok(())
    }

    fn fill(&mut self) -> Result<bool> {
        loop {
            if !self.reading.is_open() {
                while self.at < self.splits.len() && self.splits[self.at].eof {
                    self.at += 1;
                }
                let Some(split) = self.splits.get(self.at) else {
                    return Ok(false);
                };
                self.skip = split.emitted;
                self.reading.open(&split.path.clone())?;
            }
            match self.reading.read()? {
                Chunk::More(batches) => self.push(batches)?,
                Chunk::End(batches) => {
                    self.push(batches)?;
                    self.splits[self.at].eof = true;
                }
            }
            if !self.ready.is_empty() {
                return Ok(true);
            }
        }
    }
}

impl Source for FileSource {
    fn poll_next(&mut self) -> Result<SourcePoll> {
        if self.ready.is_empty() && !self.fill()? {
            return Ok(SourcePoll::End);
        }
        let (split, batch) = self.ready.pop_front().expect("filled above");
        self.splits[split].emitted += batch.num_rows() as u64;
        Ok(SourcePoll::Batch(batch))
    }

    fn snapshot(&mut self) -> Result<Vec<Vec<u8>>> {
        Ok(self
            .splits
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut w = StateWriter::default();
                w.bytes(s.path.as_os_str().as_encoded_bytes());
                w.u64(s.emitted);
                w.bool(s.eof && !self.ready.iter().any(|(j, _)| *j == i));
                w.into_bytes()
            })
            .collect())
    }

    fn restore(&mut self, state: RestoredState) -> Result<()> {
        if state.union.is_empty() {
            return Ok(());
        }
        let decode = |entry: &Vec<u8>| -> Result<FileSplit> {
            let mut r = StateReader::new(entry);
            let path = PathBuf::from(String::from_utf8_lossy(r.bytes()?).into_owned());
            let emitted = r.u64()?;
            let eof = r.bool()?;
            r.finish()?;
            Ok(FileSplit { path, emitted, eof })
        };
        let known: std::collections::HashSet<PathBuf> = state
            .union
            .iter()
            .map(|e| decode(e).map(|s| s.path))
            .collect::<Result<_>>()?;
        self.splits = state.operator.iter().map(decode).collect::<Result<_>>()?;
        // Files that appeared since the snapshot are split as on a fresh start.
        let new: Vec<&PathBuf> = self
            .listing
            .iter()
            .filter(|p| !known.contains(*p))
            .collect();
        for (i, p) in new.into_iter().enumerate() {
            if i as u32 % self.parallelism == self.subtask {
                self.splits.push(FileSplit {
                    path: p.clone(),
                    emitted: 0,
                    eof: false,
                });
            }
        }
        self.at = 0;
        Ok(())
    }
}

pub(super) fn create_source(
    table: &str,
    schema: SchemaRef,
    options: &TableOptions,
    partition_keys: &[String],
) -> Result<SourceSpec> {
    let (format, consumed) = format_of(table, options)?;
    check_options(table, options, &consumed, false)?;
    let root = PathBuf::from(options.required(table, "path")?);
    let files = list_files(&root)?;
    let file_count = files.len() as u32;
    let default_name = options
        .get("partition.default-name")
        .unwrap_or(partitions::DEFAULT_NAME);
    let partitioning = Partitioning::new(table, schema.clone(), partition_keys, default_name)?;
    let file_schema = partitioning.data_schema();
    // Fail at plan time on a schema the format cannot read.
    let reading = move || -> Result<Reading> {
        Ok(match &format {
            FileFormat::Lines(f) => Reading::Lines {
                decoder: f.decoder(file_schema.clone())?,
                current: None,
                carry: Vec::new(),
                line: 1,
            },
            FileFormat::Parquet(_) => Reading::Parquet {
                schema: file_schema.clone(),
                current: None,
            },
        })
    };
    reading().map_err(|e| RunnelError::Connector(format!("table `{table}`: {e}")))?;
    Ok(SourceSpec {
        schema,
        factory: factory(move |ctx: &SubtaskContext| {
            let splits = files
                .iter()
                .enumerate()
                .filter(|(i, _)| (*i as u32) % ctx.parallelism == ctx.index)
                .map(|(_, f)| FileSplit {
                    path: f.clone(),
                    emitted: 0,
                    eof: false,
                })
                .collect();
            Ok(Box::new(FileSource {
                splits,
                at: 0,
                reading: reading()?,
                root: root.clone(),
                partitioning: partitioning.clone(),
                ready: std::collections::VecDeque::new(),
                skip: 0,
                listing: files.clone(),
                subtask: ctx.index,
                parallelism: ctx.parallelism,
            }) as Box<dyn Source>)
        }),
        bounded: true,
        max_parallelism: Some(file_count.max(1)),
        updating: false,
    })
}

/// Writes rows to part files under the sink's folder (one folder per partition) with Flink's
/// two-phase commit: a part is written under a hidden in-progress name, becomes a hidden
/// pending file at a checkpoint barrier (or when it reaches the rolling size), and is renamed
/// to its visible name only when that checkpoint completes; at the end of a bounded input
/// everything is committed once every task of the job has finished (so a failure elsewhere
/// cannot leave a duplicate). A restore commits the pending files of the checkpoint it
/// restores and removes what the failed run left uncommitted, so each row is visible exactly
/// once.
struct FileSink {
    format: SinkFormat,
    partitioning: Partitioning,
    dir: PathBuf,
    /// `part-<run>-<subtask>`: unique to this run and subtask.
    prefix: String,
    ext: String,
    next_part: u64,
    /// The part being written in each partition folder ("" when unpartitioned).
    current: BTreeMap<String, InProgress>,
    /// Closed parts not yet visible: the checkpoint they belong to (None: the next one).
    pending: Vec<(Option<u64>, PendingPart)>,
    roll_bytes: u64,
}

enum SinkFormat {
    Lines {
        encoder: Box<dyn Encoder>,
        buf: Vec<u8>,
    },
    Parquet(ParquetOptions),
}

enum PartWriter {
    Lines(BufWriter<File>),
    Parquet(Box<ArrowWriter<File>>),
}

struct InProgress {
    path: PathBuf,
    part: PendingPart,
    writer: PartWriter,
    bytes: u64,
}

#[derive(Clone, Debug)]
struct PendingPart {
    pending: PathBuf,
    visible: PathBuf,
}

fn fs_err(what: &str, path: &Path) -> impl FnOnce(std::io::Error) -> RunnelError {
    let context = format!("filesystem sink: {what} '{}'", path.display());
    move |e| RunnelError::io(context, e)
}

impl FileSink {
    fn writer(&mut self, partition: &str) -> Result<&mut InProgress> {
        if !self.current.contains_key(partition) {
            let dir = if partition.is_empty() {
                self.dir.clone()
            } else {
                self.dir.join(partition)
            };
            std::fs::create_dir_all(&dir).map_err(fs_err("creating directory", &dir))?;
            let name = format!("{}-{}.{}", self.prefix, self.next_part, self.ext);
            self.next_part += 1;
            let path = dir.join(format!(".{name}.inprogress"));
            let f = File::create_new(&path).map_err(fs_err("creating", &path))?;
            let writer = match &self.format {
                SinkFormat::Lines { .. } => PartWriter::Lines(BufWriter::with_capacity(1 << 20, f)),
                SinkFormat::Parquet(o) => {
                    PartWriter::Parquet(Box::new(o.writer(f, self.partitioning.data_schema())?))
                }
            };
            self.current.insert(
                partition.to_string(),
                InProgress {
                    part: PendingPart {
                        pending: dir.join(format!(".{name}.pending")),
                        visible: dir.join(name),
                    },
                    path,
                    writer,
                    bytes: 0,
                },
            );
        }
        Ok(self.current.get_mut(partition).expect("created above"))
    }

    /// Closes the part being written in `partition`: flushed (Parquet: footer written),
    /// synced, and renamed to its pending name.
    fn close(&mut self, partition: &str, checkpoint: Option<u64>) -> Result<()> {
        let Some(cur) = self.current.remove(partition) else {
            return Ok(());
        };
        let file = match cur.writer {
            PartWriter::Lines(mut w) => {
                w.flush().map_err(fs_err("flushing", &cur.path))?;
                w.into_inner()
                    .map_err(|e| RunnelError::io("filesystem sink: flushing", e.into_error()))?
            }
            PartWriter::Parquet(w) => w.into_inner().map_err(|e| {
                RunnelError::Connector(format!(
                    "filesystem sink: finishing '{}': {e}",
                    cur.path.display()
                ))
            })?,
        };
        file.sync_all().map_err(fs_err("syncing", &cur.path))?;
        std::fs::rename(&cur.path, &cur.part.pending).map_err(fs_err("closing", &cur.path))?;
        self.pending.push((checkpoint, cur.part));
        Ok(())
    }

    fn close_all(&mut self, checkpoint: Option<u64>) -> Result<()> {
        let open: Vec<String> = self.current.keys().cloned().collect();
        for p in open {
            self.close(&p, checkpoint)?;
        }
        Ok(())
    }

    fn write(&mut self, partition: &str, rows: &RecordBatch) -> Result<()> {
        let bytes = match &mut self.format {
            SinkFormat::Lines { encoder, buf } => {
                buf.clear();
                encoder.encode(rows, buf)?;
                Some(std::mem::take(buf))
            }
            SinkFormat::Parquet(_) => None,
        };
        let cur = self.writer(partition)?;
        match (&mut cur.writer, bytes) {
            (PartWriter::Lines(w), Some(bytes)) => {
                w.write_all(&bytes).map_err(fs_err("writing", &cur.path))?;
                cur.bytes += bytes.len() as u64;
                if let SinkFormat::Lines { buf, .. } = &mut self.format {
                    *buf = bytes;
                }
            }
            (PartWriter::Parquet(w), _) => {
                w.write(rows).map_err(|e| {
                    RunnelError::Connector(format!(
                        "filesystem sink: writing '{}': {e}",
                        cur.path.display()
                    ))
                })?;
                cur.bytes = (w.bytes_written() + w.in_progress_size()) as u64;
            }
            (PartWriter::Lines(_), None) => unreachable!("line formats encode"),
        }
        let cur = self.current.get(partition).expect("written above");
        if cur.bytes >= self.roll_bytes {
            self.close(partition, None)?;
        }
        Ok(())
    }

    fn commit(part: &PendingPart) -> Result<()> {
        if !part.pending.exists() && part.visible.exists() {
            // Committed before (a restore commits again what a completed checkpoint held).
            return Ok(());
        }
        if part.visible.exists() {
            return Err(RunnelError::Connector(format!(
                "filesystem sink: refusing to replace '{}' with '{}'",
                part.visible.display(),
                part.pending.display()
            )));
        }
        std::fs::rename(&part.pending, &part.visible).map_err(fs_err("committing", &part.visible))
    }
}

impl Operator for FileSink {
    fn on_batch(&mut self, _input: usize, batch: ChangeBatch, _out: &mut Output) -> Result<()> {
        for (partition, rows) in self.partitioning.split(&batch.data)? {
            self.write(&partition, &rows)?;
        }
        Ok(())
    }

    fn on_watermark(&mut self, _watermark: i64, _out: &mut Output) -> Result<()> {
        Ok(())
    }

    fn on_end(&mut self, _out: &mut Output) -> Result<()> {
        self.close_all(None)
    }

    fn finish(&mut self) -> Result<()> {
        for (_, part) in std::mem::take(&mut self.pending) {
            Self::commit(&part)?;
        }
        Ok(())
    }

    fn snapshot(&mut self, checkpoint_id: u64, snap: &mut OperatorSnapshot) -> Result<()> {
        self.close_all(Some(checkpoint_id))?;
        let mut w = StateWriter::default();
        w.u64(0);
        w.bytes(self.prefix.as_bytes());
        snap.add_operator_entry(w.into_bytes());
        for (cp, part) in &mut self.pending {
            cp.get_or_insert(checkpoint_id);
            let mut w = StateWriter::default();
            w.u64(1);
            w.bytes(part.pending.as_os_str().as_encoded_bytes());
            w.bytes(part.visible.as_os_str().as_encoded_bytes());
            snap.add_operator_entry(w.into_bytes());
        }
        Ok(())
    }

    fn checkpoint_complete(&mut self, checkpoint_id: u64) -> Result<()> {
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|(cp, _)| cp.is_some_and(|c| c <= checkpoint_id));
        self.pending = later;
        for (_, part) in due {
            Self::commit(&part)?;
        }
        Ok(())
    }

    /// Uses the union state: any subtask may commit any pending file (the rename is
    /// idempotent), and every subtask knows every earlier run to clean up after.
    fn restore(&mut self, state: RestoredState) -> Result<()> {
        let path = |b: &[u8]| PathBuf::from(String::from_utf8_lossy(b).into_owned());
        let mut runs = Vec::new();
        let mut keep = std::collections::HashSet::new();
        for entry in &state.union {
            let mut r = StateReader::new(entry);
            match r.u64()? {
                0 => runs.push(format!(".{}-", String::from_utf8_lossy(r.bytes()?))),
                1 => {
                    let part = PendingPart {
                        pending: path(r.bytes()?),
                        visible: path(r.bytes()?),
                    };
                    if !part.pending.exists() && !part.visible.exists() {
                        return Err(RunnelError::State(format!(
                            "filesystem sink: the checkpoint holds part file '{}' but neither it \
                             nor '{}' exists any more",
                            part.pending.display(),
                            part.visible.display()
                        )));
                    }
                    Self::commit(&part)?;
                    keep.insert(part.visible);
                }
                t => {
                    return Err(RunnelError::State(format!(
                        "filesystem sink: entry tag {t}"
                    )));
                }
            }
            r.finish()?;
        }
        // What the failed run wrote after the checkpoint never became visible; remove it
        // (in every partition folder).
        let mut dirs = vec![self.dir.clone()];
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    dirs.push(e.path());
                } else if runs.iter().any(|r| name.starts_with(r.as_str()))
                    && (name.ends_with(".inprogress") || name.ends_with(".pending"))
                {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        Ok(())
    }
}

pub(super) fn create_sink(
    table: &str,
    schema: SchemaRef,
    options: &TableOptions,
    partition_keys: &[String],
) -> Result<SinkSpec> {
    let (format, consumed) = format_of(table, options)?;
    check_options(table, options, &consumed, true)?;
    let dir = PathBuf::from(options.required(table, "path")?);
    let default_name = options
        .get("partition.default-name")
        .unwrap_or(partitions::DEFAULT_NAME);
    let partitioning = Partitioning::new(table, schema, partition_keys, default_name)?;
    let file_schema = partitioning.data_schema();
    let sink_format = move || -> Result<SinkFormat> {
        Ok(match &format {
            FileFormat::Lines(f) => SinkFormat::Lines {
                encoder: f.encoder(file_schema.clone())?,
                buf: Vec::new(),
            },
            FileFormat::Parquet(o) => SinkFormat::Parquet(o.clone()),
        })
    };
    let first =
        sink_format().map_err(|e| RunnelError::Connector(format!("table `{table}`: {e}")))?;
    let ext = match &first {
        SinkFormat::Lines { .. } => options.get("format").unwrap_or("out").to_string(),
        SinkFormat::Parquet(_) => "parquet".to_string(),
    };
    let roll_bytes = match options.get("sink.rolling-policy.file-size") {
        None => 128 << 20,
        Some(v) => parse_memory_size(v).ok_or_else(|| {
            RunnelError::Connector(format!(
                "table `{table}`: 'sink.rolling-policy.file-size' must be a memory size such as '128MB', got '{v}'"
            ))
        })?,
    };
    Ok(SinkSpec {
        factory: factory(move |ctx: &SubtaskContext| {
            std::fs::create_dir_all(&dir).map_err(|e| {
                RunnelError::io(
                    format!("filesystem sink: creating directory '{}'", dir.display()),
                    e,
                )
            })?;
            Ok(Box::new(FileSink {
                format: sink_format()?,
                partitioning: partitioning.clone(),
                dir: dir.clone(),
                // Unique per deployment, so a restarted or restored job never writes over
                // the parts of the run it replaces.
                prefix: format!(
                    "part-{:016x}-{}",
                    crate::checkpoint::random_u64(),
                    ctx.index
                ),
                ext: ext.clone(),
                next_part: 0,
                current: BTreeMap::new(),
                pending: Vec::new(),
                roll_bytes,
            }) as Box<dyn Operator>)
        }),
        mode: SinkMode::AppendOnly,
    })
}

/// Parses Flink's memory sizes: `1024`, `64kb`, `128 mb`, `1g`.
fn parse_memory_size(v: &str) -> Option<u64> {
    let v = v.trim().to_ascii_lowercase();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: u64 = num.parse().ok()?;
    let shift = match unit.trim() {
        "" | "b" | "bytes" => 0,
        "k" | "kb" | "kibibytes" => 10,
        "m" | "mb" | "mebibytes" => 20,
        "g" | "gb" | "gibibytes" => 30,
        "t" | "tb" | "tebibytes" => 40,
        _ => return None,
    };
    n.checked_mul(1 << shift).filter(|b| *b > 0)
}
