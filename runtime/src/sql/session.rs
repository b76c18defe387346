use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use arrow::datatypes::{Field, Schema};
use runnel_types::{ChangeBatch, FlinkFormatter};
use tokio::sync::mpsc;

use super::catalog::Catalog;
use super::parser::{FlinkStatement, Insert, parse_script};
use super::planner::{Planner, PlannerConfig};
use crate::checkpoint::CheckpointConfig;
use crate::connectors::{create_sink, parse_duration};
use crate::dataflow::JobGraph;
use crate::error::{Result, RunnelError};
use crate::execution::{JobMaster, JobOptions, JobOutcome, RestartStrategy, TaskManager};
use crate::operators::{Collect, Operator};
use crate::plan_err;

/// A job a script asked for, planned and ready to run.
pub struct SessionJob {
    /// The graph.
    pub graph: JobGraph,
    /// For a bare SELECT: where its rows arrive, and the column names to print.
    pub collect: Option<(mpsc::UnboundedReceiver<ChangeBatch>, Vec<String>)>,
    /// Checkpointing, from the session's configuration when the job was planned.
    pub checkpoint: CheckpointConfig,
    /// The restart strategy, likewise.
    pub restart: RestartStrategy,
    /// Where to serve the REST API (`rest.port`), likewise.
    pub rest: Option<crate::rest::RestConfig>,
}

/// A SQL session: configuration (`SET`), catalog (`CREATE`), and the jobs its statements start.
pub struct Session {
    catalog: Catalog,
    config: BTreeMap<String, String>,
}

impl Default for Session {
    fn default() -> Self {
        Self::new()
    }
}

const KNOWN_CONFIG_PREFIXES: [&str; 17] = [
    "parallelism.",
    "kubernetes.",
    "slotmanager.",
    "resourcemanager.",
    "jobmanager.",
    "heartbeat.",
    "cluster.",
    "slot.",
    "high-availability.",
    "pipeline.",
    "table.",
    "execution.",
    "state.",
    "restart-strategy.",
    "taskmanager.",
    "sql-client.",
    "rest.",
];

impl Session {
    /// An empty session.
    pub fn new() -> Self {
        Session {
            catalog: Catalog::default(),
            config: BTreeMap::new(),
        }
    }

    /// Sets a configuration option, as `SET 'key' = 'value'` does.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        if !KNOWN_CONFIG_PREFIXES.iter().any(|p| key.starts_with(p)) {
            return Err(plan_err!("unknown configuration option '{key}'"));
        }
        let value = super::resolve_placeholders(value, &|| format!("option '{key}'"))?;
        self.config.insert(key.to_string(), value);
        Ok(())
    }

    fn checkpoint_config(&self) -> Result<CheckpointConfig> {
        CheckpointConfig::from_options(&self.config)
    }

    fn restart_strategy(&self) -> Result<RestartStrategy> {
        let checkpointing = self.checkpoint_config()?.interval.is_some();
        RestartStrategy::from_options(&self.config, checkpointing)
    }

    fn planner_config(&self) -> Result<PlannerConfig> {
        let int = |k: &str, d: u32| -> Result<u32> {
            match self.config.get(k) {
                None => Ok(d),
                Some(v) => v
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| {
                        plan_err!("configuration '{k}' must be a positive integer, got '{v}'")
                    }),
            }
        };
        let watermark_interval = match self.config.get("pipeline.auto-watermark-interval") {
            None => Duration::from_millis(200),
            Some(v) => parse_duration(v).ok_or_else(|| {
                plan_err!(
                    "configuration 'pipeline.auto-watermark-interval' must be a duration, got '{v}'"
                )
            })?,
        };
        let mut expr = runnel_expr::CompileContext::default();
        if let Some(tz) = self.config.get("table.local-time-zone") {
            expr.session_time_zone = tz.clone();
        }
        let state_ttl = match self.config.get("table.exec.state.ttl") {
            None => None,
            Some(v) => Some(parse_duration(v).ok_or_else(|| {
                plan_err!("configuration 'table.exec.state.ttl' must be a duration, got '{v}'")
            })?)
            .filter(|d| !d.is_zero()),
        };
        let source_idle_timeout = match self.config.get("table.exec.source.idle-timeout") {
            None => None,
            Some(v) => Some(parse_duration(v).ok_or_else(|| {
                plan_err!(
                    "configuration 'table.exec.source.idle-timeout' must be a duration, got '{v}'"
                )
            })?)
            .filter(|d| !d.is_zero()),
        };
        let state_backend = crate::state::StateBackend::from_options(&self.config)?;
        Ok(PlannerConfig {
            state_ttl,
            state_backend,
            source_idle_timeout,
            parallelism: int("parallelism.default", 1)?,
            max_parallelism: int("pipeline.max-parallelism", 128)?,
            watermark_interval,
            expr,
        })
    }

    /// Plans every statement of a script up front (DDL and SET take effect as they come) and
    /// returns the jobs in order; for validating a script without running it.
    pub fn execute_script(&mut self, sql: &str) -> Result<Vec<SessionJob>> {
        let mut jobs = Vec::new();
        for stmt in parse_script(sql)? {
            jobs.extend(self.execute(stmt)?);
        }
        Ok(jobs)
    }

    /// Executes one statement: DDL and SET take effect at once; an INSERT, a statement set or
    /// a SELECT is planned into a job for the caller to run (as Flink's SQL client runs each
    /// statement before planning the next, so a job may read what an earlier one wrote).
    pub fn execute(&mut self, stmt: FlinkStatement) -> Result<Option<SessionJob>> {
        match stmt {
            FlinkStatement::Set { key, value } => self.set(&key, &value)?,
            FlinkStatement::Reset(None) => self.config.clear(),
            FlinkStatement::Reset(Some(k)) => {
                self.config.remove(&k);
            }
            FlinkStatement::CreateTable {
                table,
                if_not_exists,
            } => {
                let mut table = *table;
                table.options = table.options.resolve_env(&table.name)?;
                self.check_table(&table)?;
                self.catalog.add_table(table, if_not_exists)?
            }
            FlinkStatement::CreateView {
                name,
                columns,
                query,
                if_not_exists,
            } => {
                // Plan once now so a broken view fails where it is defined.
                let mut planner = Planner::new(&self.catalog, self.planner_config()?);
                planner
                    .plan_query(&query)
                    .map_err(|e| plan_err!("view `{name}`: {e}"))?;
                self.catalog
                    .add_view(name, columns, *query, if_not_exists)?
            }
            FlinkStatement::Insert(insert) => return Ok(Some(self.plan_inserts(&[insert])?)),
            FlinkStatement::StatementSet(inserts) => return Ok(Some(self.plan_inserts(&inserts)?)),
            FlinkStatement::Query(q) => {
                let mut planner = Planner::new(&self.catalog, self.planner_config()?);
                let planned = planner.plan_query(&q)?;
                let names = planned
                    .scope
                    .columns
                    .iter()
                    .map(|c| c.name.clone())
                    .collect();
                let (tx, rx) = mpsc::unbounded_channel();
                planner.plan_collect(
                    planned,
                    std::sync::Arc::new(move |_| {
                        Ok(Box::new(Collect::new(tx.clone())) as Box<dyn Operator>)
                    }),
                );
                return Ok(Some(SessionJob {
                    graph: planner.finish("collect"),
                    collect: Some((rx, names)),
                    checkpoint: self.checkpoint_config()?,
                    restart: self.restart_strategy()?,
                    rest: crate::rest::RestConfig::from_options(&self.config)?,
                }));
            }
        }
        Ok(None)
    }

    fn check_table(&self, t: &super::catalog::TableDef) -> Result<()> {
        let mut seen = std::collections::HashSet::new();
        for c in &t.columns {
            if !seen.insert(c.name.as_str()) {
                return Err(plan_err!(
                    "table `{}`: column `{}` is declared twice",
                    t.name,
                    c.name
                ));
            }
        }
        for k in &t.primary_key {
            if !t.columns.iter().any(|c| &c.name == k) {
                return Err(plan_err!(
                    "table `{}`: PRIMARY KEY names unknown column `{k}`",
                    t.name
                ));
            }
        }
        Ok(())
    }

    fn plan_inserts(&self, inserts: &[Insert]) -> Result<SessionJob> {
        let mut planner = Planner::new(&self.catalog, self.planner_config()?);
        let mut names = Vec::new();
        for ins in inserts {
            let Some(table) = self.catalog.table(&ins.table) else {
                return Err(plan_err!(
                    "Object '{}' not found (known tables: {})",
                    ins.table,
                    self.catalog.names().join(", ")
                ));
            };
            if !ins.columns.is_empty() {
                return Err(plan_err!(
                    "INSERT INTO {} with a column list is not supported yet",
                    ins.table
                ));
            }
            let fields: Vec<Field> = table
                .columns
                .iter()
                .filter(|c| c.kind.is_written())
                .map(|c| Field::new(&c.name, c.data_type.clone(), c.nullable))
                .collect();
            let metadata = table.metadata(false);
            let schema = Schema::new(fields);
            let sink = create_sink(
                &ins.table,
                std::sync::Arc::new(schema.clone()),
                &table.options,
                crate::connectors::TableKeys {
                    primary_key: &table.primary_key,
                    partition_keys: &table.partition_keys,
                    metadata: &metadata,
                },
            )?;
            let planned = planner.plan_query(&ins.query)?;
            planner.plan_sink(planned, &ins.table, sink, &schema)?;
            names.push(format!("default_catalog.default_database.{}", ins.table));
        }
        // Flink's `pipeline.name`, else the name Flink gives INSERT jobs.
        let name = match self.config.get("pipeline.name") {
            Some(name) => name.clone(),
            None => format!("insert-into_{}", names.join(",")),
        };
        Ok(SessionJob {
            graph: planner.finish(&name),
            collect: None,
            checkpoint: self.checkpoint_config()?,
            restart: self.restart_strategy()?,
            rest: crate::rest::RestConfig::from_options(&self.config)?,
        })
    }
}

impl SessionJob {
    /// Runs the job on a local cluster of one TaskManager with enough slots; a SELECT's rows
    /// are printed to `out` as Flink's SQL client tableau does.
    pub async fn run_local(self, out: &mut (dyn Write + Send)) -> Result<()> {
        self.run_local_with(out, JobOptions::default())
            .await
            .map(|_| ())
    }

    /// As [`SessionJob::run_local`], with a restore point or a command channel; the session's
    /// checkpoint settings apply unless `options` sets its own.
    pub async fn run_local_with(
        self,
        out: &mut (dyn Write + Send),
        mut options: JobOptions,
    ) -> Result<JobOutcome> {
        let slots = self.graph.slots_needed();
        let tms = vec![TaskManager::new("local-tm-0", slots)];
        options.checkpoint.get_or_insert(self.checkpoint);
        options.restart.get_or_insert(self.restart);
        let master = JobMaster::with_options(self.graph, options);
        match self.collect {
            None => master.run(tms).await,
            Some((mut rx, names)) => {
                let job = tokio::spawn(async move { master.run(tms).await });
                let mut batches = Vec::new();
                while let Some(b) = rx.recv().await {
                    batches.push(b);
                }
                let outcome = job
                    .await
                    .map_err(|e| RunnelError::Plan(format!("job task panicked: {e}")))??;
                write_tableau(&names, &batches, out)
                    .map_err(|e| RunnelError::io("printing results", e))?;
                Ok(outcome)
            }
        }
    }
}

/// Flink's SQL client shows at most 30 characters of a value (`sql-client.display.max-column-width`).
const MAX_COLUMN_WIDTH: usize = 30;

fn truncate_cell(s: String) -> String {
    if s.chars().count() <= MAX_COLUMN_WIDTH {
        return s;
    }
    let mut t: String = s.chars().take(MAX_COLUMN_WIDTH - 3).collect();
    t.push_str("...");
    t
}

/// Flink SQL client's tableau: a boxed table with an `op` column of row kinds.
fn write_tableau(
    names: &[String],
    batches: &[ChangeBatch],
    out: &mut (dyn Write + Send),
) -> std::io::Result<()> {
    let mut rows: Vec<Vec<String>> = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            let mut row = vec![b.kind(r).short_string().to_string()];
            for c in b.data.columns() {
                if c.is_null(r) {
                    row.push("<NULL>".into());
                } else {
                    let mut s = String::new();
                    FlinkFormatter::Sql.write_value(c.as_ref(), r, &mut s);
                    row.push(truncate_cell(s));
                }
            }
            rows.push(row);
        }
    }
    let mut header = vec!["op".to_string()];
    header.extend(names.iter().cloned());
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let sep: String = widths
        .iter()
        .map(|w| format!("+{}", "-".repeat(w + 2)))
        .collect::<String>()
        + "+";
    let line = |cells: &[String]| -> String {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("| {}{} ", " ".repeat(w - c.chars().count()), c))
            .collect::<String>()
            + "|"
    };
    writeln!(out, "{sep}")?;
    writeln!(out, "{}", line(&header))?;
    writeln!(out, "{sep}")?;
    for r in &rows {
        writeln!(out, "{}", line(r))?;
    }
    writeln!(out, "{sep}")?;
    writeln!(out, "{} rows in set", rows.len())?;
    Ok(())
}
