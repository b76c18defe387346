use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder, Float64Builder,
    Int8Builder, Int16Builder, Int32Builder, Int64Builder, StringBuilder,
    TimestampMillisecondBuilder,
};
use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;

use super::{Source, SourcePoll, SourceSpec, TableOptions, factory};
use crate::checkpoint::{RestoredState, StateReader, StateWriter};
use crate::error::{Result, RunnelError};
use crate::operators::SubtaskContext;

const BATCH: usize = 4096;

/// How one column is generated (`fields.<name>.kind`).
#[derive(Clone, Debug)]
enum FieldGen {
    Random {
        min: f64,
        max: f64,
        length: usize,
        max_past_ms: i64,
        null_rate: f64,
    },
    Sequence {
        start: i64,
        end: i64,
    },
}

fn field_gen(table: &str, name: &str, dt: &DataType, o: &TableOptions) -> Result<FieldGen> {
    let key = |k: &str| format!("fields.{name}.{k}");
    let kind = o.get(&key("kind")).unwrap_or("random");
    match kind {
        "sequence" => {
            let start = o.i64(table, &key("start"))?.ok_or_else(|| {
                RunnelError::Connector(format!(
                    "table `{table}`: sequence field `{name}` needs option '{}'",
                    key("start")
                ))
            })?;
            let end = o.i64(table, &key("end"))?.ok_or_else(|| {
                RunnelError::Connector(format!(
                    "table `{table}`: sequence field `{name}` needs option '{}'",
                    key("end")
                ))
            })?;
            if end < start {
                return Err(RunnelError::Connector(format!(
                    "table `{table}`: '{}' ({end}) is below '{}' ({start})",
                    key("end"),
                    key("start")
                )));
            }
            Ok(FieldGen::Sequence { start, end })
        }
        "random" => {
            let (dmin, dmax) = match dt {
                DataType::Int8 => (i8::MIN as f64, i8::MAX as f64),
                DataType::Int16 => (i16::MIN as f64, i16::MAX as f64),
                DataType::Int32 => (i32::MIN as f64, i32::MAX as f64),
                DataType::Int64 => (i64::MIN as f64, i64::MAX as f64),
                _ => (f32::MIN as f64, f32::MAX as f64),
            };
            Ok(FieldGen::Random {
                min: o.f64(table, &key("min"))?.unwrap_or(dmin),
                max: o.f64(table, &key("max"))?.unwrap_or(dmax),
                length: o.u64(table, &key("length"))?.unwrap_or(100) as usize,
                max_past_ms: o
                    .duration(table, &key("max-past"))?
                    .map(|d| d.as_millis() as i64)
                    .unwrap_or(0),
                null_rate: o.f64(table, &key("null-rate"))?.unwrap_or(0.0),
            })
        }
        other => Err(RunnelError::Connector(format!(
            "table `{table}`: option '{}' must be 'random' or 'sequence', got '{other}'",
            key("kind")
        ))),
    }
}

/// SplitMix64: fast, seedable, good enough for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn range_i64(&mut self, min: f64, max: f64) -> i64 {
        let (lo, hi) = (min as i128, max as i128);
        if hi <= lo {
            return lo as i64;
        }
        let span = (hi - lo + 1) as u128;
        (lo + (self.next() as u128 % span) as i128) as i64
    }
}

struct DatagenSource {
    schema: SchemaRef,
    gens: Vec<FieldGen>,
    rng: Rng,
    /// Rows this subtask still emits (None: unbounded).
    remaining: Option<u64>,
    /// This subtask's position in sequences: row k of this subtask is global row index*k...
    seq_next: i64,
    seq_step: i64,
    rate: Option<f64>,
    started: Instant,
    emitted: u64,
    subtask: u32,
    parallelism: u32,
}

impl DatagenSource {
    fn column(&mut self, i: usize, dt: &DataType, n: usize, seq_base: i64) -> Result<ArrayRef> {
        let g = self.gens[i].clone();
        let rng = &mut self.rng;
        let now = chrono::Utc::now().timestamp_millis();
        macro_rules! ints {
            ($b:ty, $t:ty) => {{
                let mut b = <$b>::with_capacity(n);
                for k in 0..n {
                    match &g {
                        FieldGen::Sequence { .. } => {
                            b.append_value((seq_base + k as i64 * self.seq_step) as $t)
                        }
                        FieldGen::Random {
                            min,
                            max,
                            null_rate,
                            ..
                        } => {
                            if *null_rate > 0.0 && rng.unit() < *null_rate {
                                b.append_null()
                            } else {
                                b.append_value(rng.range_i64(*min, *max) as $t)
                            }
                        }
                    }
                }
                Arc::new(b.finish()) as ArrayRef
            }};
        }
        Ok(match dt {
            DataType::Int8 => ints!(Int8Builder, i8),
            DataType::Int16 => ints!(Int16Builder, i16),
            DataType::Int32 => ints!(Int32Builder, i32),
            DataType::Int64 => ints!(Int64Builder, i64),
            DataType::Float32 | DataType::Float64 | DataType::Decimal128(_, _) => {
                let vals: Vec<Option<f64>> = (0..n)
                    .map(|k| match &g {
                        FieldGen::Sequence { .. } => {
                            Some((seq_base + k as i64 * self.seq_step) as f64)
                        }
                        FieldGen::Random {
                            min,
                            max,
                            null_rate,
                            ..
                        } => {
                            if *null_rate > 0.0 && rng.unit() < *null_rate {
                                None
                            } else {
                                Some(min + rng.unit() * (max - min))
                            }
                        }
                    })
                    .collect();
                match dt {
                    DataType::Float32 => {
                        let mut b = Float32Builder::with_capacity(n);
                        vals.iter()
                            .for_each(|v| b.append_option(v.map(|x| x as f32)));
                        Arc::new(b.finish())
                    }
                    DataType::Float64 => {
                        let mut b = Float64Builder::with_capacity(n);
                        vals.iter().for_each(|v| b.append_option(*v));
                        Arc::new(b.finish())
                    }
                    DataType::Decimal128(p, s) => {
                        let mut b = Decimal128Builder::with_capacity(n);
                        let f = 10f64.powi(*s as i32);
                        vals.iter()
                            .for_each(|v| b.append_option(v.map(|x| (x * f) as i128)));
                        Arc::new(b.finish().with_precision_and_scale(*p, *s)?)
                    }
                    _ => unreachable!(),
                }
            }
            DataType::Boolean => {
                let mut b = BooleanBuilder::with_capacity(n);
                for _ in 0..n {
                    b.append_value(rng.next() & 1 == 1);
                }
                Arc::new(b.finish())
            }
            DataType::Utf8 => {
                let mut b = StringBuilder::with_capacity(n, n * 16);
                let mut s = String::new();
                for k in 0..n {
                    match &g {
                        FieldGen::Sequence { .. } => {
                            b.append_value((seq_base + k as i64 * self.seq_step).to_string())
                        }
                        FieldGen::Random { length, .. } => {
                            s.clear();
                            for _ in 0..*length {
                                s.push(char::from(b'a' + (rng.next() % 26) as u8));
                            }
                            b.append_value(&s);
                        }
                    }
                }
                Arc::new(b.finish())
            }
            DataType::Timestamp(TimeUnit::Millisecond, tz) => {
                let mut b = TimestampMillisecondBuilder::with_capacity(n);
                for _ in 0..n {
                    let past = match &g {
                        FieldGen::Random { max_past_ms, .. } if *max_past_ms > 0 => {
                            (rng.next() % *max_past_ms as u64) as i64
                        }
                        _ => 0,
                    };
                    b.append_value(now - past);
                }
                Arc::new(b.finish().with_timezone_opt(tz.clone()))
            }
            DataType::Date32 => {
                let mut b = Date32Builder::with_capacity(n);
                for _ in 0..n {
                    b.append_value((now / 86_400_000) as i32);
                }
                Arc::new(b.finish())
            }
            other => {
                return Err(RunnelError::Connector(format!(
                    "datagen cannot generate {} columns",
                    runnel_types::flink_type_name(other)
                )));
            }
        })
    }
}

impl Source for DatagenSource {
    /// Its position: subtask, parallelism, sequence position, rows left and the random state.
    fn snapshot(&mut self) -> Result<Vec<Vec<u8>>> {
        let mut w = StateWriter::default();
        w.u64(u64::from(self.subtask));
        w.u64(u64::from(self.parallelism));
        w.i64(self.seq_next);
        w.bool(self.remaining.is_some());
        w.u64(self.remaining.unwrap_or(0));
        w.u64(self.rng.0);
        Ok(vec![w.into_bytes()])
    }

    /// Datagen's sequences are interleaved by subtask, so it resumes only at the parallelism
    /// it was checkpointed with.
    fn restore(&mut self, state: RestoredState) -> Result<()> {
        if state.union.is_empty() {
            return Ok(());
        }
        let [entry] = state.operator.as_slice() else {
            return Err(RunnelError::State(format!(
                "the datagen source was checkpointed at parallelism {} and cannot resume at {}",
                state.union.len(),
                self.parallelism
            )));
        };
        let mut r = StateReader::new(entry);
        let subtask = r.u64()? as u32;
        let parallelism = r.u64()? as u32;
        if parallelism != self.parallelism || subtask != self.subtask {
            return Err(RunnelError::State(format!(
                "the datagen source was checkpointed at parallelism {parallelism} and cannot resume at {}",
                self.parallelism
            )));
        }
        self.seq_next = r.i64()?;
        let bounded = r.bool()?;
        let remaining = r.u64()?;
        self.remaining = bounded.then_some(remaining);
        self.rng = Rng(r.u64()?);
        r.finish()?;
        self.started = Instant::now();
        self.emitted = 0;
        Ok(())
    }

    fn pending_records(&self) -> Option<u64> {
        self.remaining
    }

    fn poll_next(&mut self) -> Result<SourcePoll> {
        let mut n = BATCH as u64;
        if let Some(r) = self.remaining {
            if r == 0 {
                return Ok(SourcePoll::End);
            }
            n = n.min(r);
        }
        if let Some(rate) = self.rate {
            let allowed = (self.started.elapsed().as_secs_f64() * rate) as u64 + 1;
            if self.emitted >= allowed {
                return Ok(SourcePoll::Wait(Duration::from_millis(5)));
            }
            n = n.min(allowed - self.emitted);
        }
        let n = n as usize;
        let base = self.seq_next;
        let schema = self.schema.clone();
        let cols = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| self.column(i, f.data_type(), n, base))
            .collect::<Result<Vec<_>>>()?;
        self.seq_next += n as i64 * self.seq_step;
        self.emitted += n as u64;
        if let Some(r) = &mut self.remaining {
            *r -= n as u64;
        }
        Ok(SourcePoll::Batch(RecordBatch::try_new(schema, cols)?))
    }
}

pub(super) fn create(table: &str, schema: SchemaRef, options: &TableOptions) -> Result<SourceSpec> {
    options.check_known(
        table,
        "datagen",
        &["rows-per-second", "number-of-rows", "scan.parallelism"],
        &["fields."],
    )?;
    for key in options.map().keys().filter(|k| k.starts_with("fields.")) {
        let rest = &key["fields.".len()..];
        let (field, opt) = rest.rsplit_once('.').unwrap_or((rest, ""));
        if schema.field_with_name(field).is_err() {
            return Err(RunnelError::Connector(format!(
                "table `{table}`: option '{key}' names no column `{field}`"
            )));
        }
        if ![
            "kind",
            "min",
            "max",
            "max-past",
            "length",
            "start",
            "end",
            "null-rate",
        ]
        .contains(&opt)
        {
            return Err(RunnelError::Connector(format!(
                "table `{table}`: unsupported datagen option '{key}'"
            )));
        }
    }
    let gens = schema
        .fields()
        .iter()
        .map(|f| field_gen(table, f.name(), f.data_type(), options))
        .collect::<Result<Vec<_>>>()?;
    // A table with a sequence is bounded by it, like Flink's.
    let seq_len = gens
        .iter()
        .filter_map(|g| match g {
            FieldGen::Sequence { start, end } => Some((end - start + 1) as u64),
            _ => None,
        })
        .min();
    let total = match (options.u64(table, "number-of-rows")?, seq_len) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let seq_start = gens
        .iter()
        .find_map(|g| match g {
            FieldGen::Sequence { start, .. } => Some(*start),
            _ => None,
        })
        .unwrap_or(0);
    let rate = options.f64(table, "rows-per-second")?.unwrap_or(10_000.0);
    let source_schema = schema.clone();
    Ok(SourceSpec {
        schema,
        factory: factory(move |ctx: &SubtaskContext| {
            let p = ctx.parallelism as u64;
            let i = ctx.index as u64;
            let remaining = total.map(|t| t / p + u64::from(i < t % p));
            Ok(Box::new(DatagenSource {
                schema: source_schema.clone(),
                gens: gens.clone(),
                rng: Rng(0x5eed ^ (i + 1).wrapping_mul(0x9e37_79b9)),
                remaining,
                seq_next: seq_start + i as i64,
                seq_step: p as i64,
                rate: if rate > 0.0 {
                    Some(rate / p as f64)
                } else {
                    None
                },
                started: Instant::now(),
                emitted: 0,
                subtask: ctx.index,
                parallelism: ctx.parallelism,
            }) as Box<dyn Source>)
        }),
        bounded: total.is_some(),
        max_parallelism: None,
        updating: false,
    })
}
