use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use runnel_formats::{Decoder, Encoder, Format, Origin};
use runnel_types::ChangeBatch;

use super::{SinkMode, SinkSpec, Source, SourcePoll, SourceSpec, TableOptions, factory};
use crate::error::{Result, RunnelError};
use crate::operators::{Operator, Output, SubtaskContext};

const READ_CHUNK: usize = 4 << 20;

fn format_of(table: &str, options: &TableOptions) -> Result<(Format, Vec<String>)> {
    let name = options.required(table, "format")?;
    let map: HashMap<String, String> = options
        .map()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Format::from_options(name, &map)
        .map_err(|e| RunnelError::Connector(format!("table `{table}`: {e}")))
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

/// Reads its share of the files (file i goes to subtask i mod parallelism), chunk by chunk.
struct FileSource {
    files: Vec<PathBuf>,
    current: Option<(File, String)>,
    decoder: Box<dyn Decoder>,
    carry: Vec<u8>,
    line: u64,
    ready: std::collections::VecDeque<RecordBatch>,
}

impl FileSource {
    fn fill(&mut self) -> Result<bool> {
        loop {
            if self.current.is_none() {
                let Some(next) = self.files.pop() else {
                    return Ok(false);
                };
                let display = next.display().to_string();
                let f = File::open(&next).map_err(|e| {
                    RunnelError::io(format!("filesystem source: opening '{display}'"), e)
                })?;
                self.current = Some((f, display));
                self.line = 1;
                self.carry.clear();
            }
            let (file, path) = self.current.as_mut().expect("opened above");
            let mut buf = std::mem::take(&mut self.carry);
            let start = buf.len();
            buf.resize(start + READ_CHUNK, 0);
            let n = file
                .read(&mut buf[start..])
                .map_err(|e| RunnelError::io(format!("filesystem source: reading '{path}'"), e))?;
            buf.truncate(start + n);
            let path = path.clone();
            if n == 0 {
                // End of file: decode what is left, even without a final newline.
                if !buf.is_empty() {
                    let origin = Origin {
                        path: &path,
                        first_line: self.line,
                    };
                    self.ready.extend(self.decoder.decode(&buf, origin)?);
                }
                let origin = Origin {
                    path: &path,
                    first_line: self.line,
                };
                if let Some(b) = self.decoder.finish(origin)? {
                    self.ready.push_back(b);
                }
                self.current = None;
                if !self.ready.is_empty() {
                    return Ok(true);
                }
                continue;
            }
            // Cut at the last newline; the rest waits for the next chunk.
            let cut = match buf.iter().rposition(|b| *b == b'\n') {
                Some(i) => i + 1,
                None => {
                    self.carry = buf;
                    continue;
                }
            };
            self.carry = buf[cut..].to_vec();
            let lines = buf[..cut].iter().filter(|b| **b == b'\n').count() as u64;
            let origin = Origin {
                path: &path,
                first_line: self.line,
            };
            self.ready.extend(self.decoder.decode(&buf[..cut], origin)?);
            self.line += lines;
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
        Ok(SourcePoll::Batch(
            self.ready.pop_front().expect("filled above"),
        ))
    }
}

pub(super) fn create_source(
    table: &str,
    schema: SchemaRef,
    options: &TableOptions,
) -> Result<SourceSpec> {
    let (format, consumed) = format_of(table, options)?;
    check_options(table, options, &consumed, false)?;
    let path = PathBuf::from(options.required(table, "path")?);
    let files = list_files(&path)?;
    let file_count = files.len() as u32;
    let decoder_schema = schema.clone();
    // Fail at plan time on a schema the format cannot read.
    format
        .decoder(decoder_schema.clone())
        .map_err(|e| RunnelError::Connector(format!("table `{table}`: {e}")))?;
    Ok(SourceSpec {
        schema,
        factory: factory(move |ctx: &SubtaskContext| {
            let mut mine: Vec<PathBuf> = files
                .iter()
                .enumerate()
                .filter(|(i, _)| (*i as u32) % ctx.parallelism == ctx.index)
                .map(|(_, f)| f.clone())
                .collect();
            mine.reverse();
            Ok(Box::new(FileSource {
                files: mine,
                current: None,
                decoder: format.decoder(decoder_schema.clone())?,
                carry: Vec::new(),
                line: 1,
                ready: std::collections::VecDeque::new(),
            }) as Box<dyn Source>)
        }),
        bounded: true,
        max_parallelism: Some(file_count.max(1)),
    })
}

/// Writes its rows to `part-<subtask>-0` files under the sink's directory, made visible (renamed
/// from a hidden in-progress name) when the input ends.
struct FileSink {
    encoder: Box<dyn Encoder>,
    in_progress: PathBuf,
    final_path: PathBuf,
    writer: Option<BufWriter<File>>,
    buf: Vec<u8>,
}

impl FileSink {
    fn writer(&mut self) -> Result<&mut BufWriter<File>> {
        if self.writer.is_none() {
            let f = File::create(&self.in_progress).map_err(|e| {
                RunnelError::io(
                    format!("filesystem sink: creating '{}'", self.in_progress.display()),
                    e,
                )
            })?;
            self.writer = Some(BufWriter::with_capacity(1 << 20, f));
        }
        Ok(self.writer.as_mut().expect("created above"))
    }
}

impl Operator for FileSink {
    fn on_batch(&mut self, _input: usize, batch: ChangeBatch, _out: &mut Output) -> Result<()> {
        self.buf.clear();
        self.encoder.encode(&batch.data, &mut self.buf)?;
        let buf = std::mem::take(&mut self.buf);
        let path = self.in_progress.display().to_string();
        self.writer()?
            .write_all(&buf)
            .map_err(|e| RunnelError::io(format!("filesystem sink: writing '{path}'"), e))?;
        self.buf = buf;
        Ok(())
    }

    fn on_watermark(&mut self, _watermark: i64, _out: &mut Output) -> Result<()> {
        Ok(())
    }

    fn on_end(&mut self, _out: &mut Output) -> Result<()> {
        if let Some(mut w) = self.writer.take() {
            w.flush()
                .map_err(|e| RunnelError::io("filesystem sink: flushing", e))?;
            std::fs::rename(&self.in_progress, &self.final_path).map_err(|e| {
                RunnelError::io(
                    format!(
                        "filesystem sink: committing '{}'",
                        self.final_path.display()
                    ),
                    e,
                )
            })?;
        }
        Ok(())
    }
}

pub(super) fn create_sink(
    table: &str,
    schema: SchemaRef,
    options: &TableOptions,
) -> Result<SinkSpec> {
    let (format, consumed) = format_of(table, options)?;
    check_options(table, options, &consumed, true)?;
    let dir = PathBuf::from(options.required(table, "path")?);
    format
        .encoder(schema.clone())
        .map_err(|e| RunnelError::Connector(format!("table `{table}`: {e}")))?;
    let ext = options.get("format").unwrap_or("out").to_string();
    let run = format!(
        "{:x}",
        std::process::id() as u64 ^ chrono::Utc::now().timestamp_millis() as u64
    );
    Ok(SinkSpec {
        factory: factory(move |ctx: &SubtaskContext| {
            std::fs::create_dir_all(&dir).map_err(|e| {
                RunnelError::io(
                    format!("filesystem sink: creating directory '{}'", dir.display()),
                    e,
                )
            })?;
            let name = format!("part-{run}-{}-0.{ext}", ctx.index);
            Ok(Box::new(FileSink {
                encoder: format.encoder(schema.clone())?,
                in_progress: dir.join(format!(".{name}.inprogress")),
                final_path: dir.join(name),
                writer: None,
                buf: Vec::new(),
            }) as Box<dyn Operator>)
        }),
        mode: SinkMode::AppendOnly,
    })
}
