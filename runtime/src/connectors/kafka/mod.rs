//! Flink's `kafka` connector: a source with per-partition offsets in checkpoints and a sink
//! with `none`, `at-least-once` and `exactly-once` (transactional) delivery, over Runnel's own
//! Kafka client (`runnel-kafka`). Option names and defaults are Flink's.

mod fetcher;
mod format;
mod metadata;
mod sink;
mod source;

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use regex::Regex;
use runnel_kafka::{ClientConfig, Compression, EARLIEST, Isolation, LATEST};

use super::{MetadataColumn, SinkMode, SinkSpec, Source, SourceSpec, TableOptions, factory};
use crate::error::{Result, RunnelError};
use crate::operators::{Operator, SubtaskContext};
use format::MessageFormat;
use metadata::Meta;
use sink::{Guarantee, KafkaSink, Partitioner, SinkConfig};
use source::{Bounded, ColumnSource, KafkaSource, SourceConfig, Startup, Topics};

const COMMON: &[&str] = &[
    "topic",
    "topic-pattern",
    "format",
    "value.format",
    "key.format",
    "key.fields",
    "key.fields-prefix",
    "value.fields-include",
];
const SOURCE: &[&str] = &[
    "scan.startup.mode",
    "scan.startup.timestamp-millis",
    "scan.startup.specific-offsets",
    "scan.bounded.mode",
    "scan.bounded.timestamp-millis",
    "scan.topic-partition-discovery.interval",
    "scan.parallelism",
];
const SINK: &[&str] = &[
    "sink.partitioner",
    "sink.delivery-guarantee",
    "sink.transactional-id-prefix",
    "sink.parallelism",
];

fn err(table: &str, msg: impl std::fmt::Display) -> RunnelError {
    RunnelError::Connector(format!("table `{table}`: {msg}"))
}

fn client_config(table: &str, options: &TableOptions) -> Result<ClientConfig> {
    let servers = options.required(table, "properties.bootstrap.servers")?;
    let mut c = ClientConfig::new(servers);
    if let Some(id) = options.get("properties.client.id") {
        c.client_id = id.to_string();
    }
    if let Some(ms) = options.u64(table, "properties.request.timeout.ms")? {
        c.request_timeout = std::time::Duration::from_millis(ms.max(1));
    }
    Ok(c)
}

/// How long unreachable brokers are retried, with backoff, before the task fails (and the
/// job restarts per its restart strategy): Kafka's `default.api.timeout.ms` for readers and
/// `max.block.ms` for writers, 60 s by default.
fn retry_window(table: &str, options: &TableOptions, key: &str) -> Result<std::time::Duration> {
    Ok(std::time::Duration::from_millis(
        options.u64(table, key)?.unwrap_or(60_000),
    ))
}

/// Connects, retrying retriable failures with backoff for `window`.
async fn connect(
    table: &str,
    config: &ClientConfig,
    window: std::time::Duration,
) -> runnel_kafka::Result<runnel_kafka::Client> {
    let started = std::time::Instant::now();
    let mut delay = std::time::Duration::from_millis(100);
    loop {
        match runnel_kafka::Client::connect(config.clone()).await {
            Ok(c) => return Ok(c),
            Err(e) if e.is_retriable() && started.elapsed() + delay < window => {
                eprintln!("runnel: table `{table}`: {e}; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(std::time::Duration::from_secs(5));
            }
            Err(e) => return Err(e),
        }
    }
}

/// The physical columns split into key and value parts per `key.fields` and
/// `value.fields-include`, and the metadata columns.
struct Layout {
    /// Metadata columns: table column index and what they hold.
    metadata: Vec<(usize, Meta)>,
    value: MessageFormat,
    value_schema: SchemaRef,
    value_columns: Vec<usize>,
    key: Option<(MessageFormat, SchemaRef, Vec<usize>)>,
    consumed: Vec<String>,
}

/// `upsert` is the primary key of an `upsert-kafka` table, which is its message key.
fn layout(
    table: &str,
    schema: &SchemaRef,
    options: &TableOptions,
    upsert: Option<&[String]>,
    metadata: &[MetadataColumn],
    sink: bool,
) -> Result<Layout> {
    if upsert.is_some() && !metadata.is_empty() {
        return Err(err(table, "'upsert-kafka' tables have no metadata columns"));
    }
    let metadata: Vec<(usize, Meta)> = metadata
        .iter()
        .map(|m| {
            let i = schema.index_of(&m.column).map_err(|_| {
                err(
                    table,
                    format!("metadata column `{}` is not in the schema", m.column),
                )
            })?;
            let meta = Meta::parse(table, &m.column, &m.key, sink)?;
            meta.check_type(table, &m.column, schema.field(i).data_type())?;
            Ok((i, meta))
        })
        .collect::<Result<_>>()?;
    if let Some(pk) = upsert {
        if pk.is_empty() {
            return Err(err(
                table,
                "'upsert-kafka' tables need a PRIMARY KEY (..) NOT ENFORCED: it is the message key",
            ));
        }
        for k in ["format", "key.fields"] {
            if options.get(k).is_some() {
                return Err(err(
                    table,
                    format!(
                        "'upsert-kafka' takes 'key.format' and 'value.format'; '{k}' is not supported (the key fields are the primary key)"
                    ),
                ));
            }
        }
        options.required(table, "key.format")?;
        options.required(table, "value.format")?;
    }
    let value_name = match (options.get("format"), options.get("value.format")) {
        (Some(_), Some(_)) => {
            return Err(err(table, "set 'format' or 'value.format', not both"));
        }
        (Some(f), None) | (None, Some(f)) => f,
        (None, None) => {
            return Err(err(
                table,
                "missing required option 'format' (or 'value.format')",
            ));
        }
    };
    let prefix = if options.get("value.format").is_some() {
        "value."
    } else {
        ""
    };
    let (value, mut consumed) = MessageFormat::from_options(table, value_name, prefix, options)?;
    let key_fields: Vec<String> = match upsert {
        Some(pk) => pk.to_vec(),
        None => options
            .get("key.fields")
            .map(|v| {
                v.split(';')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
    };
    if value.is_changelog() && (!key_fields.is_empty() || upsert.is_some()) {
        return Err(err(
            table,
            "'debezium-json' carries whole rows; it cannot be combined with key fields or 'upsert-kafka'",
        ));
    }
    let key = match (options.get("key.format"), key_fields.is_empty()) {
        (None, true) => None,
        (None, false) => return Err(err(table, "'key.fields' needs 'key.format'")),
        (Some(_), true) => return Err(err(table, "'key.format' needs 'key.fields'")),
        (Some(name), false) => {
            let (f, c) = MessageFormat::from_options(table, name, "key.", options)?;
            consumed.extend(c);
            let prefix = options.get("key.fields-prefix").unwrap_or("");
            let mut cols = Vec::new();
            let mut fields = Vec::new();
            for k in &key_fields {
                let i = schema.index_of(k).map_err(|_| {
                    err(
                        table,
                        format!("'key.fields' names `{k}`, which is not a column"),
                    )
                })?;
                if metadata.iter().any(|(m, _)| *m == i) {
                    return Err(err(table, format!("key field `{k}` is a metadata column")));
                }
                let field = schema.field(i);
                let bare = k.strip_prefix(prefix).ok_or_else(|| {
                    err(
                        table,
                        format!(
                            "key field `{k}` does not start with 'key.fields-prefix' '{prefix}'"
                        ),
                    )
                })?;
                fields.push(field.as_ref().clone().with_name(bare));
                cols.push(i);
            }
            Some((f, Arc::new(Schema::new(fields)), cols))
        }
    };
    let except_key = match options
        .get("value.fields-include")
        .map(|v| v.to_ascii_uppercase())
    {
        None => false,
        Some(v) if v == "ALL" => false,
        Some(v) if v == "EXCEPT_KEY" => true,
        Some(v) => {
            return Err(err(
                table,
                format!("'value.fields-include' must be ALL or EXCEPT_KEY, got '{v}'"),
            ));
        }
    };
    if options
        .get("key.fields-prefix")
        .is_some_and(|p| !p.is_empty())
        && !except_key
    {
        return Err(err(
            table,
            "'key.fields-prefix' requires 'value.fields-include' = 'EXCEPT_KEY'",
        ));
    }
    let value_columns: Vec<usize> = (0..schema.fields().len())
        .filter(|i| !(except_key && key.as_ref().is_some_and(|(_, _, k)| k.contains(i))))
        .filter(|i| !metadata.iter().any(|(m, _)| m == i))
        .collect();
    let value_schema = Arc::new(Schema::new(
        value_columns
            .iter()
            .map(|i| schema.field(*i).clone())
            .collect::<Vec<_>>(),
    ));
    Ok(Layout {
        metadata,
        value,
        value_schema,
        value_columns,
        key,
        consumed,
    })
}

fn check_options(
    table: &str,
    options: &TableOptions,
    consumed: &[String],
    extra: &[&str],
    upsert: bool,
) -> Result<()> {
    let mut known: Vec<&str> = if upsert {
        vec![
            "topic",
            "key.format",
            "value.format",
            "key.fields-prefix",
            "value.fields-include",
            "sink.buffer-flush.max-rows",
            "sink.buffer-flush.interval",
        ]
    } else {
        COMMON.to_vec()
    };
    known.extend(extra);
    known.extend(consumed.iter().map(String::as_str));
    let name = if upsert { "upsert-kafka" } else { "kafka" };
    options.check_known(table, name, &known, &["properties."])
}

fn millis_option(table: &str, options: &TableOptions, key: &str, mode: &str) -> Result<i64> {
    options
        .i64(table, key)?
        .ok_or_else(|| err(table, format!("'{mode}' mode needs option '{key}'")))
}

fn startup(table: &str, options: &TableOptions, group: Option<&str>) -> Result<Startup> {
    Ok(
        match options.get("scan.startup.mode").unwrap_or("group-offsets") {
            "earliest-offset" => Startup::Earliest,
            "latest-offset" => Startup::Latest,
            "group-offsets" => {
                if group.is_none() {
                    return Err(err(
                        table,
                        "'scan.startup.mode' 'group-offsets' (the default) needs 'properties.group.id'; \
                     set one or choose 'earliest-offset', 'latest-offset', 'timestamp' or 'specific-offsets'",
                    ));
                }
                let reset = match options
                    .get("properties.auto.offset.reset")
                    .unwrap_or("none")
                {
                    "earliest" => Some(EARLIEST),
                    "latest" => Some(LATEST),
                    "none" => None,
                    v => {
                        return Err(err(
                            table,
                            format!(
                                "'properties.auto.offset.reset' must be earliest, latest or none, got '{v}'"
                            ),
                        ));
                    }
                };
                Startup::GroupOffsets { reset }
            }
            "timestamp" => Startup::Timestamp(millis_option(
                table,
                options,
                "scan.startup.timestamp-millis",
                "timestamp",
            )?),
            "specific-offsets" => {
                let topic = options.get("topic").unwrap_or_default();
                let spec = options.required(table, "scan.startup.specific-offsets")?;
                let mut map = HashMap::new();
                for part in spec.split(';').filter(|s| !s.trim().is_empty()) {
                    let bad = || {
                        err(
                            table,
                            format!(
                                "'scan.startup.specific-offsets' entries look like 'partition:0,offset:42', got '{part}'"
                            ),
                        )
                    };
                    let (p, o) = part.trim().split_once(',').ok_or_else(bad)?;
                    let p: i32 = p
                        .trim()
                        .strip_prefix("partition:")
                        .ok_or_else(bad)?
                        .trim()
                        .parse()
                        .map_err(|_| bad())?;
                    let o: i64 = o
                        .trim()
                        .strip_prefix("offset:")
                        .ok_or_else(bad)?
                        .trim()
                        .parse()
                        .map_err(|_| bad())?;
                    map.insert((topic.to_string(), p), o);
                }
                Startup::Specific(map)
            }
            other => {
                return Err(err(
                    table,
                    format!(
                        "unsupported 'scan.startup.mode' '{other}' (supported: earliest-offset, latest-offset, \
                 group-offsets, timestamp, specific-offsets)"
                    ),
                ));
            }
        },
    )
}

fn bounded(table: &str, options: &TableOptions, group: Option<&str>) -> Result<Bounded> {
    Ok(
        match options.get("scan.bounded.mode").unwrap_or("unbounded") {
            "unbounded" => Bounded::Unbounded,
            "latest-offset" => Bounded::Latest,
            "timestamp" => Bounded::Timestamp(millis_option(
                table,
                options,
                "scan.bounded.timestamp-millis",
                "timestamp",
            )?),
            "group-offsets" if group.is_some() => Bounded::GroupOffsets,
            "group-offsets" => {
                return Err(err(
                    table,
                    "'scan.bounded.mode' 'group-offsets' needs 'properties.group.id'",
                ));
            }
            other => {
                return Err(err(
                    table,
                    format!(
                        "unsupported 'scan.bounded.mode' '{other}' (supported: unbounded, latest-offset, timestamp, group-offsets)"
                    ),
                ));
            }
        },
    )
}

/// Builds the Kafka source of `table`.
pub(super) fn create_source(
    table: &str,
    schema: SchemaRef,
    options: &TableOptions,
    upsert: Option<&[String]>,
    metadata: &[MetadataColumn],
) -> Result<SourceSpec> {
    let l = layout(table, &schema, options, upsert, metadata, false)?;
    // An upsert table is always read whole: no scan options.
    let scan = if upsert.is_some() { &[][..] } else { SOURCE };
    check_options(table, options, &l.consumed, scan, upsert.is_some())?;
    let topics = match (options.get("topic"), options.get("topic-pattern")) {
        (Some(_), Some(_)) => return Err(err(table, "set 'topic' or 'topic-pattern', not both")),
        (Some(t), None) => Topics::List(
            t.split(';')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        ),
        (None, Some(p)) => Topics::Pattern(Regex::new(&format!("^(?:{p})$")).map_err(|e| {
            err(
                table,
                format!("'topic-pattern' is not a valid regular expression: {e}"),
            )
        })?),
        (None, None) => {
            return Err(err(
                table,
                "missing required option 'topic' (or 'topic-pattern')",
            ));
        }
    };
    let group_id = options.get("properties.group.id").map(str::to_string);
    // An upsert table is the whole topic, read from its start.
    let (startup, bounded) = if upsert.is_some() {
        (Startup::Earliest, Bounded::Unbounded)
    } else {
        (
            startup(table, options, group_id.as_deref())?,
            bounded(table, options, group_id.as_deref())?,
        )
    };
    let updating = upsert.is_some() || l.value.is_changelog();
    let isolation = match options
        .get("properties.isolation.level")
        .unwrap_or("read_uncommitted")
    {
        "read_uncommitted" => Isolation::ReadUncommitted,
        "read_committed" => Isolation::ReadCommitted,
        v => {
            return Err(err(
                table,
                format!(
                    "'properties.isolation.level' must be read_committed or read_uncommitted, got '{v}'"
                ),
            ));
        }
    };
    let discovery = match options.duration(table, "scan.topic-partition-discovery.interval")? {
        None => Some(std::time::Duration::from_secs(300)),
        Some(d) if d.is_zero() => None,
        Some(d) => Some(d),
    };
    let commit_on_checkpoint = options
        .bool(table, "properties.commit.offsets.on.checkpoint")?
        .unwrap_or(true);
    // Each output column comes from the key or from the value.
    let columns = (0..schema.fields().len())
        .map(|i| {
            if let Some((_, m)) = l.metadata.iter().find(|(c, _)| *c == i) {
                return ColumnSource::Meta(*m);
            }
            if let Some((_, _, k)) = &l.key
                && let Some(at) = k.iter().position(|c| *c == i)
                && !l.value_columns.contains(&i)
            {
                return ColumnSource::Key(at);
            }
            ColumnSource::Value(
                l.value_columns
                    .iter()
                    .position(|c| *c == i)
                    .expect("a value column"),
            )
        })
        .collect();
    let config = SourceConfig {
        table: table.to_string(),
        client: client_config(table, options)?,
        topics,
        group_id,
        startup,
        bounded: bounded.clone(),
        isolation,
        discovery: if bounded == Bounded::Unbounded {
            discovery
        } else {
            None
        },
        commit_on_checkpoint,
        value: l.value.clone(),
        value_schema: l.value_schema.clone(),
        key: l.key.as_ref().map(|(f, s, _)| (f.clone(), s.clone())),
        columns,
        schema: schema.clone(),
        upsert: upsert.is_some(),
        retry_for: retry_window(table, options, "properties.default.api.timeout.ms")?,
    };
    // Fail at plan time on columns the formats cannot read.
    KafkaSource::new(config.clone(), 0, 1)?;
    Ok(SourceSpec {
        schema,
        factory: factory(move |ctx: &SubtaskContext| {
            Ok(Box::new(KafkaSource::new(
                config.clone(),
                ctx.index,
                ctx.parallelism,
            )?) as Box<dyn Source>)
        }),
        bounded: bounded != Bounded::Unbounded,
        max_parallelism: None,
        updating,
    })
}

/// Builds the Kafka sink of `table`.
pub(super) fn create_sink(
    table: &str,
    schema: SchemaRef,
    options: &TableOptions,
    upsert: Option<&[String]>,
    metadata: &[MetadataColumn],
) -> Result<SinkSpec> {
    let l = layout(table, &schema, options, upsert, metadata, true)?;
    check_options(table, options, &l.consumed, SINK, upsert.is_some())?;
    let mode = if upsert.is_some() || l.value.is_changelog() {
        SinkMode::AllChanges
    } else {
        SinkMode::AppendOnly
    };
    if options.get("topic-pattern").is_some() {
        return Err(err(
            table,
            "a Kafka sink writes to one 'topic'; 'topic-pattern' is for sources",
        ));
    }
    let topic = options.required(table, "topic")?.to_string();
    if topic.contains(';') {
        return Err(err(table, "a Kafka sink writes to one 'topic'"));
    }
    let guarantee = match options
        .get("sink.delivery-guarantee")
        .unwrap_or("at-least-once")
    {
        "none" => Guarantee::None,
        "at-least-once" => Guarantee::AtLeastOnce,
        "exactly-once" => Guarantee::ExactlyOnce,
        v => {
            return Err(err(
                table,
                format!(
                    "'sink.delivery-guarantee' must be none, at-least-once or exactly-once, got '{v}'"
                ),
            ));
        }
    };
    let prefix = options
        .get("sink.transactional-id-prefix")
        .map(str::to_string);
    if guarantee == Guarantee::ExactlyOnce && prefix.as_deref().is_none_or(str::is_empty) {
        return Err(err(
            table,
            "'sink.delivery-guarantee' = 'exactly-once' needs 'sink.transactional-id-prefix', \
             unique to this job among the jobs writing to the cluster",
        ));
    }
    let partitioner = match options.get("sink.partitioner").unwrap_or("default") {
        "default" => Partitioner::Default,
        "fixed" => Partitioner::Fixed,
        "round-robin" => Partitioner::RoundRobin,
        v => {
            return Err(err(
                table,
                format!("'sink.partitioner' must be default, fixed or round-robin, got '{v}'"),
            ));
        }
    };
    let compression = match options.get("properties.compression.type").unwrap_or("none") {
        "none" => Compression::None,
        "gzip" => Compression::Gzip,
        "snappy" => Compression::Snappy,
        "lz4" => Compression::Lz4,
        "zstd" => Compression::Zstd,
        v => {
            return Err(err(
                table,
                format!(
                    "'properties.compression.type' must be none, gzip, snappy, lz4 or zstd, got '{v}'"
                ),
            ));
        }
    };
    // Brokers cap transactions at transaction.max.timeout.ms (15 min by default).
    let timeout = options
        .u64(table, "properties.transaction.timeout.ms")?
        .unwrap_or(900_000);
    let config = Arc::new(SinkConfig {
        table: table.to_string(),
        client: client_config(table, options)?,
        topic,
        guarantee,
        transactional_id_prefix: prefix,
        transaction_timeout_ms: timeout.min(i32::MAX as u64) as i32,
        compression,
        partitioner,
        value: l.value,
        value_schema: l.value_schema,
        value_columns: l.value_columns,
        key: l.key,
        upsert: upsert.is_some(),
        retry_for: retry_window(table, options, "properties.max.block.ms")?,
        timestamp_column: l
            .metadata
            .iter()
            .find(|(_, m)| *m == Meta::Timestamp)
            .map(|(i, _)| *i),
        headers_column: l
            .metadata
            .iter()
            .find(|(_, m)| *m == Meta::Headers)
            .map(|(i, _)| *i),
    });
    KafkaSink::new(config.clone(), 0, 1)?;
    Ok(SinkSpec {
        factory: factory(move |ctx: &SubtaskContext| {
            Ok(
                Box::new(KafkaSink::new(config.clone(), ctx.index, ctx.parallelism)?)
                    as Box<dyn Operator>,
            )
        }),
        mode,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use arrow::datatypes::{DataType, Field};

    use super::*;

    fn options(pairs: &[(&str, &str)]) -> TableOptions {
        let mut m: BTreeMap<String, String> = [
            ("connector", "kafka"),
            ("topic", "t"),
            ("properties.bootstrap.servers", "localhost:9092"),
            ("format", "json"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in pairs {
            if v.is_empty() {
                m.remove(*k);
            } else {
                m.insert(k.to_string(), v.to_string());
            }
        }
        TableOptions::new(m)
    }

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, true),
            Field::new("v", DataType::Utf8, true),
        ]))
    }

    fn source_err(pairs: &[(&str, &str)]) -> String {
        match create_source("src", schema(), &options(pairs), None, &[]) {
            Ok(_) => panic!("accepted {pairs:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn sink_err(pairs: &[(&str, &str)]) -> String {
        match create_sink("out", schema(), &options(pairs), None, &[]) {
            Ok(_) => panic!("accepted {pairs:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn bad_options_are_named() {
        let e = source_err(&[
            ("scan.startup.mode", "earliest"),
            ("properties.group.id", "g"),
        ]);
        assert!(
            e.contains("'scan.startup.mode' 'earliest'") && e.contains("earliest-offset"),
            "{e}"
        );
        let e = source_err(&[]);
        assert!(e.contains("needs 'properties.group.id'"), "{e}");
        let e = source_err(&[
            ("scan.startup.mode", "earliest-offset"),
            ("scan.startup.mod", "x"),
        ]);
        assert!(
            e.contains("scan.startup.mod") && e.contains("Supported options"),
            "{e}"
        );
        let e = source_err(&[
            ("properties.bootstrap.servers", ""),
            ("scan.startup.mode", "earliest-offset"),
        ]);
        assert!(e.contains("'properties.bootstrap.servers'"), "{e}");
        let e = source_err(&[
            ("topic-pattern", "a.*"),
            ("scan.startup.mode", "earliest-offset"),
        ]);
        assert!(e.contains("not both"), "{e}");
        let e = source_err(&[("scan.startup.mode", "timestamp")]);
        assert!(e.contains("'scan.startup.timestamp-millis'"), "{e}");
        let e = source_err(&[("format", "raw"), ("scan.startup.mode", "earliest-offset")]);
        assert!(e.contains("exactly one STRING or BYTES column"), "{e}");
        let e = source_err(&[("format", "avro"), ("scan.startup.mode", "earliest-offset")]);
        assert!(e.contains("'avro'") && e.contains("'raw'"), "{e}");
        let e = sink_err(&[("sink.delivery-guarantee", "exactly-once")]);
        assert!(e.contains("'sink.transactional-id-prefix'"), "{e}");
        let e = sink_err(&[("sink.partitioner", "hash")]);
        assert!(
            e.contains("'sink.partitioner'") && e.contains("round-robin"),
            "{e}"
        );
        let e = sink_err(&[("key.fields", "k")]);
        assert!(e.contains("'key.fields' needs 'key.format'"), "{e}");
        let e = sink_err(&[("key.format", "json"), ("key.fields", "nope")]);
        assert!(e.contains("`nope`"), "{e}");
    }

    #[test]
    fn upsert_tables_need_a_key() {
        let upsert = |pairs: &[(&str, &str)], pk: &[String]| {
            let mut o = options(pairs);
            o = TableOptions::new(
                o.map()
                    .iter()
                    .filter(|(k, _)| k.as_str() != "format")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            );
            match create_sink("out", schema(), &o, Some(pk), &[]) {
                Ok(s) => Ok(s.mode),
                Err(e) => Err(e.to_string()),
            }
        };
        let kv = [("key.format", "json"), ("value.format", "json")];
        let e = upsert(&kv, &[]).unwrap_err();
        assert!(e.contains("PRIMARY KEY"), "{e}");
        let e = upsert(&[("value.format", "json")], &["k".into()]).unwrap_err();
        assert!(e.contains("'key.format'"), "{e}");
        let e = upsert(
            &[kv[0], kv[1], ("scan.startup.mode", "latest-offset")],
            &["k".into()],
        )
        .unwrap_err();
        assert!(
            e.contains("upsert-kafka") && e.contains("scan.startup.mode"),
            "{e}"
        );
        assert_eq!(upsert(&kv, &["k".into()]), Ok(SinkMode::AllChanges));
        let e = sink_err(&[
            ("format", "debezium-json"),
            ("key.format", "json"),
            ("key.fields", "k"),
        ]);
        assert!(e.contains("'debezium-json'"), "{e}");
        let e = sink_err(&[
            ("format", "debezium-json"),
            ("debezium-json.schema-include", "true"),
        ]);
        assert!(e.contains("only supported for reading"), "{e}");
    }

    #[test]
    fn good_options_plan() {
        create_source(
            "src",
            schema(),
            &options(&[
                ("scan.startup.mode", "specific-offsets"),
                (
                    "scan.startup.specific-offsets",
                    "partition:0,offset:42;partition:1,offset:7",
                ),
                ("value.format", "csv"),
                ("format", ""),
                ("key.format", "json"),
                ("key.fields", "k"),
                ("value.csv.field-delimiter", "|"),
            ]),
            None,
            &[],
        )
        .unwrap();
        create_sink(
            "out",
            schema(),
            &options(&[
                ("sink.delivery-guarantee", "exactly-once"),
                ("sink.transactional-id-prefix", "job"),
                ("properties.compression.type", "zstd"),
            ]),
            None,
            &[],
        )
        .unwrap();
    }

    /// Flink's enumerator spreads a topic's partitions round robin from a topic-dependent start.
    /// The expected owners were computed with Java 17 from `KafkaSourceEnumerator`'s formula,
    /// `((topic.hashCode() * 31) & 0x7FFFFFFF) % readers`, so Java's String hash is checked too.
    #[test]
    fn partition_owners_follow_flink() {
        let owners =
            |topic: &str| -> Vec<u32> { (0..6).map(|p| source::owner(topic, p, 4)).collect() };
        assert_eq!(owners("orders"), [3, 0, 1, 2, 3, 0]);
        assert_eq!(owners("bench"), [0, 1, 2, 3, 0, 1]);
    }
}
