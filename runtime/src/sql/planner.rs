//! Turns queries into a job graph: each SELECT block becomes sources, calcs, window
//! assigners and aggregates connected by forward or hash edges, with Flink's changelog rules
//! (what is append-only, what is updating) checked on the way.

use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use sqlparser::ast::{
    BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, Ident,
    JoinConstraint, JoinOperator, ObjectName, Query, Select, SelectItem, SetExpr, Spanned,
    TableFactor, TableWithJoins,
};

use runnel_expr::{CompileContext, ExprRef, Scope, ScopeColumn, compile, interval_millis};

use super::catalog::{Catalog, ColumnKind};
use crate::connectors::{SinkMode, SinkSpec, create_source};
use crate::dataflow::{
    Edge, JobGraph, OperatorFactory, Partitioning, Vertex, VertexId, VertexKind,
};
use crate::error::Result;
use crate::operators::{
    AggFunc, AggSpec, Aggregate, AggregateLayout, Calc, IntervalBounds, IntervalJoin, Join,
    JoinSpec, JoinType, Operator, Rank, RankMode, RankSpec, SessionAggregate, SessionLayout,
    SubtaskContext, WatermarkAssigner, WindowAssigner, WindowKeys, WindowSpec,
};
use crate::plan_err;

/// Settings that shape the graph.
#[derive(Clone, Debug)]
pub struct PlannerConfig {
    /// `parallelism.default`.
    pub parallelism: u32,
    /// `pipeline.max-parallelism`: the number of key groups.
    pub max_parallelism: u32,
    /// `pipeline.auto-watermark-interval`.
    pub watermark_interval: Duration,
    /// Expression settings (time zone, statement time).
    pub expr: CompileContext,
    /// `table.exec.state.ttl`: idle state retention (none when 0 or unset).
    pub state_ttl: Option<Duration>,
    /// `state.backend.type` and its settings.
    pub state_backend: crate::state::StateBackend,
    /// `table.exec.source.idle-timeout`: a source split quiet this long stops holding event
    /// time back (none when 0 or unset).
    pub source_idle_timeout: Option<Duration>,
}

/// A stream under construction: the vertex whose chain ends it, and what its rows mean.
#[derive(Clone)]
pub struct Planned {
    /// The vertex producing the rows.
    pub vertex: VertexId,
    /// Column names as the query sees them.
    pub scope: Scope,
    /// The rows' schema.
    pub schema: SchemaRef,
    /// Whether rows may be retracted/updated (not append-only).
    pub updating: bool,
    /// The event-time attribute column, if the rows have one.
    pub rowtime: Option<usize>,
    /// Window columns (start, end, time) of a window TVF's output.
    pub window: Option<(usize, usize, Option<usize>)>,
    /// Set when the last operator of the vertex assigns windows (a window TVF) and nothing
    /// follows it yet: its spec and time column, so an aggregate can assign windows after
    /// projecting only the columns it needs.
    pub assigner: Option<(WindowSpec, usize)>,
    /// A SESSION window TVF not yet aggregated: time column, gap and PARTITION BY columns.
    /// Its window columns exist only once a window aggregation computes the sessions.
    pub session: Option<(usize, i64, Vec<usize>)>,
}

/// Builds one job graph; several INSERTs of a statement set share it.
pub struct Planner<'a> {
    catalog: &'a Catalog,
    /// `STATE_TTL` hints of the SELECTs being planned (innermost last): input → TTL, and the
    /// inputs that used theirs.
    ttl_hints: Vec<(
        std::collections::HashMap<String, Duration>,
        std::collections::HashSet<String>,
    )>,
    config: PlannerConfig,
    vertices: Vec<Vertex>,
    edges: Vec<Edge>,
    /// Operator uids handed out so far, to keep them unique within the job.
    uids: std::collections::HashSet<String>,
    /// The rank filter (`rn <= N`) found around a subquery that computes ROW_NUMBER().
    rank_request: Option<RankRequest>,
    /// Common table expressions in scope (innermost last).
    ctes: Vec<(String, Query)>,
    /// Aggregations planned so far, by digest, with the chain length where their rows are
    /// complete, for reuse by an identical aggregation.
    aggregations: Vec<(String, Planned, usize)>,
}

/// What the enclosing query says about a ROW_NUMBER() column.
#[derive(Clone, Debug)]
struct RankRequest {
    limit: usize,
    with_row_number: bool,
}

fn factory<F>(f: F) -> OperatorFactory
where
    F: Fn(&SubtaskContext) -> Result<Box<dyn Operator>> + Send + Sync + 'static,
{
    Arc::new(f)
}

fn schema_of(scope: &Scope) -> SchemaRef {
    Arc::new(Schema::new(
        scope
            .columns
            .iter()
            .map(|c| Field::new(&c.name, c.data_type.clone(), c.nullable))
            .collect::<Vec<_>>(),
    ))
}

fn requalify(scope: &Scope, q: Option<&str>) -> Scope {
    Scope {
        columns: scope
            .columns
            .iter()
            .map(|c| ScopeColumn {
                qualifier: q.map(str::to_string),
                ..c.clone()
            })
            .collect(),
        bindings: Vec::new(),
    }
}

fn object_name(name: &ObjectName) -> String {
    name.0
        .last()
        .and_then(|p| p.as_ident())
        .map(|i| i.value.clone())
        .unwrap_or_default()
}

fn where_at(e: &Expr) -> String {
    let s = e.span().start;
    format!("line {}, column {}", s.line, s.column)
}

impl<'a> Planner<'a> {
    /// A planner over `catalog`.
    pub fn new(catalog: &'a Catalog, config: PlannerConfig) -> Self {
        Planner {
            catalog,
            ttl_hints: Vec::new(),
            config,
            vertices: Vec::new(),
            edges: Vec::new(),
            uids: Default::default(),
            rank_request: None,
            ctes: Vec::new(),
            aggregations: Vec::new(),
        }
    }

    /// The finished graph.
    pub fn finish(mut self, name: &str) -> JobGraph {
        self.share_scans();
        JobGraph {
            name: name.to_string(),
            vertices: self.vertices,
            edges: self.edges,
            max_parallelism: self.config.max_parallelism,
            state_ttl: self.config.state_ttl,
            state_backend: self.config.state_backend.clone(),
        }
    }

    /// Reads each table once per job, as Flink's source reuse does: when several vertices scan
    /// the same table (a table behind two views, a self-join), the first keeps the scan and the
    /// rest of every reader's chain moves behind a forward edge from it.
    fn share_scans(&mut self) {
        let sources: Vec<VertexId> = self
            .vertices
            .iter()
            .filter(|v| matches!(v.kind, VertexKind::Source(_)))
            .map(|v| v.id)
            .collect();
        let mut first: std::collections::HashMap<String, VertexId> =
            std::collections::HashMap::new();
        for id in sources {
            let uid = self.vertices[id].uid.clone();
            let Some(&shared) = first.get(&uid) else {
                first.insert(uid, id);
                continue;
            };
            if self.vertices[shared].parallelism != self.vertices[id].parallelism
                || self.vertices[shared].chain_names[..self.vertices[shared].scan_ops]
                    != self.vertices[id].chain_names[..self.vertices[id].scan_ops]
            {
                continue;
            }
            let scan_ops = self.vertices[shared].scan_ops;
            if self.vertices[shared].chain.len() > scan_ops {
                self.split_vertex(shared, scan_ops);
            }
            // This reader keeps its vertex for the rest of its chain, fed by the shared scan.
            let v = &mut self.vertices[id];
            v.kind = VertexKind::Operators;
            v.chain.drain(..v.scan_ops);
            v.chain_names.drain(..v.scan_ops);
            v.chain_uids.drain(..v.scan_ops);
            v.scan_ops = 0;
            v.name = if v.chain_names.is_empty() {
                "Forward".into()
            } else {
                v.chain_names.join(" -> ")
            };
            v.uid = format!("{}-reader", v.uid);
            self.forward(shared, id);
        }
    }

    /// Connects `from` to `to` one subtask to one subtask.
    fn forward(&mut self, from: VertexId, to: VertexId) {
        self.edges.push(Edge {
            source: from,
            target: to,
            input: 0,
            partitioning: Partitioning::Forward,
        });
    }

    /// Moves the operators of vertex `id` after its first `at` into a new vertex behind it,
    /// with the vertex's outgoing edges; returns the new vertex.
    fn split_vertex(&mut self, id: VertexId, at: usize) -> VertexId {
        let new_id = self.vertices.len();
        let v = &mut self.vertices[id];
        let chain = v.chain.split_off(at);
        let names = v.chain_names.split_off(at);
        let uids = v.chain_uids.split_off(at);
        let rest = Vertex {
            id: new_id,
            name: names.join(" -> "),
            uid: format!("{}-reader", v.uid),
            parallelism: v.parallelism,
            kind: VertexKind::Operators,
            chain,
            chain_names: names,
            chain_uids: uids,
            output_schema: v.output_schema.clone(),
            scan_ops: 0,
        };
        v.name = std::iter::once(v.name.split(" -> ").next().unwrap_or("Source").to_string())
            .chain(v.chain_names.iter().cloned())
            .collect::<Vec<_>>()
            .join(" -> ");
        self.vertices.push(rest);
        for e in self.edges.iter_mut().filter(|e| e.source == id) {
            e.source = new_id;
        }
        self.forward(id, new_id);
        new_id
    }

    /// A stable operator uid: the operator's kind and a digest of its description and input
    /// schemas, so it survives edits elsewhere in the query (a column added to the final
    /// projection, another INSERT in the statement set) and changes when the operator itself
    /// does. Identical operators get `-2`, `-3`… in planning order.
    fn op_uid(&mut self, name: &str, inputs: &[&SchemaRef]) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for b in bytes {
                h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
            }
        };
        eat(name.as_bytes());
        for schema in inputs {
            for f in schema.fields() {
                eat(f.name().as_bytes());
                eat(format!("{:?}", f.data_type()).as_bytes());
            }
            eat(b"|");
        }
        let kind: String = name
            .split(['(', ' ', ':'])
            .next()
            .unwrap_or("op")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        let base = format!("{kind}-{:012x}", h & 0xffff_ffff_ffff);
        let mut uid = base.clone();
        let mut n = 1;
        while !self.uids.insert(uid.clone()) {
            n += 1;
            uid = format!("{base}-{n}");
        }
        uid
    }

    fn parallelism_of(&self, v: VertexId) -> u32 {
        self.vertices[v].parallelism
    }

    /// Appends an operator to the vertex ending `input` (chained, no channel).
    fn chain(
        &mut self,
        input: &Planned,
        name: String,
        f: OperatorFactory,
        scope: Scope,
    ) -> Planned {
        let uid = self.op_uid(&name, &[&input.schema]);
        let v = &mut self.vertices[input.vertex];
        v.chain.push(f);
        v.chain_names.push(name.clone());
        v.chain_uids.push(uid);
        v.name = format!("{} -> {}", v.name, name);
        let schema = schema_of(&scope);
        v.output_schema = schema.clone();
        Planned {
            vertex: input.vertex,
            scope,
            schema,
            updating: input.updating,
            rowtime: input.rowtime,
            window: None,
            assigner: None,
            session: None,
        }
    }

    /// Starts a new vertex fed by `inputs` through the given partitionings.
    fn exchange(
        &mut self,
        inputs: &[(&Planned, Partitioning)],
        parallelism: u32,
        name: String,
        f: OperatorFactory,
        scope: Scope,
    ) -> Planned {
        let id = self.vertices.len();
        let schema = schema_of(&scope);
        let input_schemas: Vec<&SchemaRef> = inputs.iter().map(|(p, _)| &p.schema).collect();
        let uid = self.op_uid(&name, &input_schemas);
        self.vertices.push(Vertex {
            id,
            name: name.clone(),
            uid: uid.clone(),
            parallelism,
            kind: VertexKind::Operators,
            chain: vec![f],
            chain_names: vec![name],
            chain_uids: vec![uid],
            output_schema: schema.clone(),
            scan_ops: 0,
        });
        for (i, (p, part)) in inputs.iter().enumerate() {
            self.edges.push(Edge {
                source: p.vertex,
                target: id,
                input: i,
                partitioning: part.clone(),
            });
        }
        Planned {
            vertex: id,
            scope,
            schema,
            updating: inputs.iter().any(|(p, _)| p.updating),
            rowtime: None,
            window: None,
            assigner: None,
            session: None,
        }
    }

    fn compile(&self, e: &Expr, scope: &Scope) -> Result<ExprRef> {
        Ok(compile(e, scope, &self.config.expr)?)
    }

    /// Plans a table scan: source, computed columns, watermark assigner.
    fn plan_table(&mut self, name: &str) -> Result<Planned> {
        let Some(table) = self.catalog.table(name).cloned() else {
            return Err(plan_err!(
                "Object '{name}' not found (known tables and views: {})",
                self.catalog.names().join(", ")
            ));
        };
        // Physical and metadata columns, in declared order, come from the connector.
        let physical: Vec<Field> = table
            .columns
            .iter()
            .filter(|c| c.kind.is_read())
            .map(|c| Field::new(&c.name, c.data_type.clone(), c.nullable))
            .collect();
        let schema = Arc::new(Schema::new(physical));
        let metadata = table.metadata(true);
        let keys = crate::connectors::TableKeys {
            primary_key: &table.primary_key,
            partition_keys: &table.partition_keys,
            metadata: &metadata,
        };
        let spec = create_source(name, schema.clone(), &table.options, keys)?;
        let updating = spec.updating;
        let mut parallelism = self.config.parallelism;
        if let Some(max) = spec.max_parallelism {
            parallelism = parallelism.min(max);
        }
        if let Some(p) = table.options.u64(name, "scan.parallelism")? {
            parallelism = p.max(1) as u32;
        }
        let id = self.vertices.len();
        let vname = format!("Source: {name}");
        self.vertices.push(Vertex {
            id,
            name: vname.clone(),
            uid: format!("source-{name}"),
            parallelism,
            kind: VertexKind::Source(spec.factory),
            chain: Vec::new(),
            chain_names: Vec::new(),
            chain_uids: Vec::new(),
            output_schema: schema.clone(),
            scan_ops: 0,
        });
        let mut planned = Planned {
            vertex: id,
            scope: Scope::from_schema(&schema, Some(name)),
            schema,
            updating,
            rowtime: None,
            window: None,
            assigner: None,
            session: None,
        };
        // Computed columns, in declaration order, over the physical ones.
        if table
            .columns
            .iter()
            .any(|c| matches!(c.kind, ColumnKind::Computed(_)))
        {
            let mut exprs = Vec::new();
            let mut cols = Vec::new();
            let phys_scope = planned.scope.clone();
            for c in &table.columns {
                let e = match &c.kind {
                    ColumnKind::Physical | ColumnKind::Metadata { .. } => {
                        let i = phys_scope
                            .columns
                            .iter()
                            .position(|p| p.name == c.name)
                            .expect("physical column");
                        runnel_expr::column(i, c.data_type.clone(), c.nullable)
                    }
                    ColumnKind::Computed(expr) => self.compile(expr, &phys_scope).map_err(|e| {
                        plan_err!("table `{name}`, computed column `{}`: {e}", c.name)
                    })?,
                };
                cols.push(ScopeColumn {
                    qualifier: Some(name.to_string()),
                    name: c.name.clone(),
                    data_type: e.data_type().clone(),
                    nullable: e.nullable(),
                });
                exprs.push(e);
            }
            planned = self.project_columns(&planned, "Calc(computed columns)", exprs, cols);
        }
        if let Some((col, expr)) = &table.watermark {
            let Some(idx) = planned.scope.columns.iter().position(|c| &c.name == col) else {
                return Err(plan_err!(
                    "table `{name}`: WATERMARK FOR names unknown column `{col}`"
                ));
            };
            match &planned.scope.columns[idx].data_type {
                DataType::Timestamp(TimeUnit::Millisecond, _) => {}
                other => {
                    return Err(plan_err!(
                        "table `{name}`: the rowtime column `{col}` must be TIMESTAMP(3) or TIMESTAMP_LTZ(3), not {}",
                        runnel_types::flink_type_name(other)
                    ));
                }
            }
            let wm = self
                .compile(expr, &planned.scope)
                .map_err(|e| plan_err!("table `{name}`, WATERMARK FOR `{col}`: {e}"))?;
            let interval = self.config.watermark_interval;
            let idle = self.config.source_idle_timeout;
            WatermarkAssigner::new(wm.clone(), idx, interval, idle)?;
            let scope = planned.scope.clone();
            planned = self.chain(
                &planned,
                format!("WatermarkAssigner({col})"),
                factory(move |_| {
                    Ok(Box::new(WatermarkAssigner::new(
                        wm.clone(),
                        idx,
                        interval,
                        idle,
                    )?))
                }),
                scope,
            );
            planned.rowtime = Some(idx);
        }
        self.vertices[id].scan_ops = self.vertices[id].chain.len();
        Ok(planned)
    }

    /// Plans a query.
    pub fn plan_query(&mut self, q: &Query) -> Result<Planned> {
        if q.order_by.is_some() || q.limit_clause.is_some() {
            return Err(plan_err!(
                "ORDER BY and LIMIT on an unbounded stream are not supported yet"
            ));
        }
        let depth = self.ctes.len();
        if let Some(with) = &q.with {
            if with.recursive {
                return Err(plan_err!("WITH RECURSIVE is not supported"));
            }
            for cte in &with.cte_tables {
                self.ctes
                    .push((cte.alias.name.value.clone(), (*cte.query).clone()));
            }
        }
        let result = self.plan_set_expr(&q.body);
        self.ctes.truncate(depth);
        result
    }

    fn plan_set_expr(&mut self, body: &SetExpr) -> Result<Planned> {
        match body {
            SetExpr::Select(s) => self.plan_select(s),
            SetExpr::Query(q) => self.plan_query(q),
            SetExpr::SetOperation {
                op: sqlparser::ast::SetOperator::Union,
                set_quantifier,
                left,
                right,
            } => {
                if !matches!(set_quantifier, sqlparser::ast::SetQuantifier::All) {
                    return Err(plan_err!(
                        "UNION without ALL is not supported yet; use UNION ALL"
                    ));
                }
                let l = self.plan_set_expr(left)?;
                let r = self.plan_set_expr(right)?;
                self.plan_union(l, r)
            }
            other => Err(plan_err!("unsupported query form: {other}")),
        }
    }

    /// `UNION ALL`: both inputs, cast to common column types, merged into one stream.
    fn plan_union(&mut self, l: Planned, r: Planned) -> Result<Planned> {
        if l.scope.columns.len() != r.scope.columns.len() {
            return Err(plan_err!(
                "UNION ALL inputs have {} and {} columns",
                l.scope.columns.len(),
                r.scope.columns.len()
            ));
        }
        let mut types = Vec::new();
        for (a, b) in l.scope.columns.iter().zip(&r.scope.columns) {
            let t = if a.data_type == b.data_type {
                a.data_type.clone()
            } else {
                runnel_expr::common_type(&a.data_type, &b.data_type).ok_or_else(|| {
                    plan_err!(
                        "UNION ALL column `{}` is {} on the left and {} on the right",
                        a.name,
                        runnel_types::flink_type_name(&a.data_type),
                        runnel_types::flink_type_name(&b.data_type)
                    )
                })?
            };
            types.push(t);
        }
        let names: Vec<String> = l.scope.columns.iter().map(|c| c.name.clone()).collect();
        let mut sides = Vec::new();
        for p in [l, r] {
            let (rowtime, updating) = (p.rowtime, p.updating);
            let mut scope = Scope::default();
            let mut exprs = Vec::new();
            for (i, (c, t)) in p.scope.columns.iter().zip(&types).enumerate() {
                scope
                    .columns
                    .push(ScopeColumn::new(names[i].clone(), t.clone(), true));
                exprs.push(cast_to(
                    runnel_expr::column(i, c.data_type.clone(), c.nullable),
                    t,
                ));
            }
            let mut q = self.project_columns(&p, "Calc(union cast)", exprs, scope.columns);
            q.rowtime = rowtime;
            q.updating = updating;
            sides.push(q);
        }
        let par = self.config.parallelism;
        let part = |p: &Planned, me: &Self| {
            if me.parallelism_of(p.vertex) == par {
                Partitioning::Forward
            } else {
                Partitioning::Rebalance
            }
        };
        let (pl, pr) = (part(&sides[0], self), part(&sides[1], self));
        let scope = sides[0].scope.clone();
        let mut u = self.exchange(
            &[(&sides[0], pl), (&sides[1], pr)],
            par,
            "Union".into(),
            factory(|_| Ok(Box::new(crate::operators::Union))),
            scope,
        );
        u.updating = sides[0].updating || sides[1].updating;
        if sides[0].rowtime.is_some() && sides[0].rowtime == sides[1].rowtime {
            u.rowtime = sides[0].rowtime;
        }
        Ok(u)
    }

    /// Plans FROM: table factors joined left to right. Conjuncts of WHERE that join two comma
    /// separated items become their join condition (and are removed from `where_conjuncts`).
    fn plan_from(
        &mut self,
        from: &[TableWithJoins],
        where_conjuncts: &mut Vec<Expr>,
    ) -> Result<Planned> {
        let Some(first) = from.first() else {
            return Err(plan_err!("a SELECT without FROM is not supported yet"));
        };
        let mut acc = self.plan_with_joins(first)?;
        for item in &from[1..] {
            let right = self.plan_with_joins(item)?;
            // Take the WHERE conjuncts that this join makes resolvable.
            let joined = joined_scope(&acc.scope, &right.scope);
            let mut cond = Vec::new();
            let mut rest = Vec::new();
            for c in where_conjuncts.drain(..) {
                let both = self.compile(&c, &joined).is_ok();
                let left_only = self.compile(&c, &acc.scope).is_ok();
                let right_only = self.compile(&c, &right.scope).is_ok();
                if both && !left_only && !right_only {
                    cond.push(c);
                } else {
                    rest.push(c);
                }
            }
            *where_conjuncts = rest;
            acc = self.plan_join(acc, right, JoinType::Inner, cond)?;
        }
        Ok(acc)
    }

    fn plan_with_joins(&mut self, t: &TableWithJoins) -> Result<Planned> {
        let mut acc = self.plan_factor(&t.relation)?;
        for j in &t.joins {
            let right = self.plan_factor(&j.relation)?;
            let (kind, constraint) = match &j.join_operator {
                JoinOperator::Join(c) | JoinOperator::Inner(c) => (JoinType::Inner, Some(c)),
                JoinOperator::Left(c) | JoinOperator::LeftOuter(c) => (JoinType::Left, Some(c)),
                JoinOperator::Right(c) | JoinOperator::RightOuter(c) => (JoinType::Right, Some(c)),
                JoinOperator::FullOuter(c) => (JoinType::Full, Some(c)),
                JoinOperator::CrossJoin(_) => (JoinType::Inner, None),
                other => return Err(plan_err!("unsupported join type: {other:?}")),
            };
            let cond = match constraint {
                None | Some(JoinConstraint::None) => Vec::new(),
                Some(JoinConstraint::On(e)) => {
                    let mut v = Vec::new();
                    split_conjuncts(e, &mut v);
                    v
                }
                Some(other) => {
                    return Err(plan_err!("unsupported join constraint {other:?}; use ON"));
                }
            };
            acc = self.plan_join(acc, right, kind, cond)?;
        }
        Ok(acc)
    }

    /// A regular join: equi-conjuncts become hash keys; the rest is checked per pair.
    fn plan_join(
        &mut self,
        left: Planned,
        right: Planned,
        kind: JoinType,
        conjuncts: Vec<Expr>,
    ) -> Result<Planned> {
        let mut lkeys: Vec<(ExprRef, Option<usize>)> = Vec::new();
        let mut rkeys: Vec<(ExprRef, Option<usize>)> = Vec::new();
        let mut residual: Vec<Expr> = Vec::new();
        for c in conjuncts {
            if let Expr::BinaryOp {
                left: a,
                op: BinaryOperator::Eq,
                right: b,
            } = &c
            {
                let pair = match (self.compile(a, &left.scope), self.compile(b, &right.scope)) {
                    (Ok(x), Ok(y)) => Some((
                        x,
                        y,
                        plain_column(a, &left.scope),
                        plain_column(b, &right.scope),
                    )),
                    _ => match (self.compile(b, &left.scope), self.compile(a, &right.scope)) {
                        (Ok(x), Ok(y)) => Some((
                            x,
                            y,
                            plain_column(b, &left.scope),
                            plain_column(a, &right.scope),
                        )),
                        _ => None,
                    },
                };
                if let Some((x, y, px, py)) = pair {
                    let t = if x.data_type() == y.data_type() {
                        Some(x.data_type().clone())
                    } else {
                        runnel_expr::common_type(x.data_type(), y.data_type())
                    };
                    if let Some(t) = t {
                        let px = px.filter(|_| x.data_type() == &t);
                        let py = py.filter(|_| y.data_type() == &t);
                        lkeys.push((cast_to(x, &t), px));
                        rkeys.push((cast_to(y, &t), py));
                        continue;
                    }
                }
            }
            residual.push(c);
        }
        // Bounds on the two rowtimes make an interval join, whose state the watermark cleans.
        let interval = if !left.updating && !right.updating && !lkeys.is_empty() {
            self.interval_bounds(&left, &right, &mut residual)
        } else {
            None
        };
        // Key expressions that are not plain columns are appended to their side.
        let left_visible = left.scope.columns.len();
        let right_visible = right.scope.columns.len();
        let (left_p, left_keys) = self.with_key_columns(left, lkeys, "left")?;
        let (right_p, right_keys) = self.with_key_columns(right, rkeys, "right")?;
        let nl = left_p.scope.columns.len();
        let out_cols: Vec<ScopeColumn> = left_p
            .scope
            .columns
            .iter()
            .chain(&right_p.scope.columns)
            .cloned()
            .collect();
        let out_scope = Scope {
            columns: out_cols,
            bindings: Vec::new(),
        };
        let condition = match conjoin(residual) {
            None => None,
            Some(e) => {
                let c = self.compile(&e, &out_scope)?;
                if c.data_type() != &DataType::Boolean {
                    return Err(plan_err!(
                        "join condition must be BOOLEAN at {}",
                        where_at(&e)
                    ));
                }
                Some(c)
            }
        };
        let ttl = [self.hinted_ttl(&left_p), self.hinted_ttl(&right_p)];
        let spec = JoinSpec {
            ttl,
            join_type: kind,
            left_keys: left_keys.clone(),
            right_keys: right_keys.clone(),
            condition,
            left_schema: left_p.schema.clone(),
            right_schema: right_p.schema.clone(),
            output_schema: schema_of(&out_scope),
        };
        let (lp, rp, par) = if left_keys.is_empty() {
            (Partitioning::Single, Partitioning::Single, 1)
        } else {
            let lh = left_keys
                .iter()
                .map(|i| runnel_expr::column(*i, left_p.schema.field(*i).data_type().clone(), true))
                .collect();
            let rh = right_keys
                .iter()
                .map(|i| {
                    runnel_expr::column(*i, right_p.schema.field(*i).data_type().clone(), true)
                })
                .collect();
            (
                Partitioning::Hash(lh),
                Partitioning::Hash(rh),
                self.config.parallelism,
            )
        };
        let (name, f): (String, OperatorFactory) = match interval {
            Some(bounds) => (
                format!(
                    "IntervalJoin({kind:?}, {} ms..{} ms)",
                    bounds.lower, bounds.upper
                ),
                factory(move |ctx| Ok(Box::new(IntervalJoin::new(spec.clone(), bounds, ctx)?))),
            ),
            None => (
                format!("Join({kind:?})"),
                factory(move |ctx| Ok(Box::new(Join::new(spec.clone(), ctx)?))),
            ),
        };
        let mut p = self.exchange(&[(&left_p, lp), (&right_p, rp)], par, name, f, out_scope);
        p.updating =
            interval.is_none() && (left_p.updating || right_p.updating || kind != JoinType::Inner);
        // Drop appended key columns.
        if p.scope.columns.len() != left_visible + right_visible {
            let mut keep: Vec<usize> = (0..left_visible).collect();
            keep.extend((0..right_visible).map(|i| nl + i));
            let exprs: Vec<ExprRef> = keep
                .iter()
                .map(|i| {
                    let c = &p.scope.columns[*i];
                    runnel_expr::column(*i, c.data_type.clone(), true)
                })
                .collect();
            let scope = Scope {
                columns: keep.iter().map(|i| p.scope.columns[*i].clone()).collect(),
                bindings: Vec::new(),
            };
            let sch = schema_of(&scope);
            let updating = p.updating;
            p = self.chain(
                &p,
                "Calc(drop join keys)".into(),
                factory(move |_| Ok(Box::new(Calc::new(None, exprs.clone(), sch.clone())))),
                scope,
            );
            p.updating = updating;
        }
        Ok(p)
    }

    /// Finds `l.t BETWEEN r.t - a AND r.t + b` (or the same as two comparisons) between the two
    /// inputs' time attributes; the conjuncts used are removed from `residual`.
    fn interval_bounds(
        &self,
        left: &Planned,
        right: &Planned,
        residual: &mut Vec<Expr>,
    ) -> Option<IntervalBounds> {
        let (lt, rt) = (left.rowtime?, right.rowtime?);
        // A term `time column ± INTERVAL`: which side, and the offset.
        fn term(e: &Expr, l: &Planned, r: &Planned, lt: usize, rt: usize) -> Option<(usize, i64)> {
            match e {
                Expr::Nested(x) => term(x, l, r, lt, rt),
                Expr::BinaryOp {
                    left: a,
                    op: op @ (BinaryOperator::Plus | BinaryOperator::Minus),
                    right: b,
                } => {
                    let (side, off) = term(a, l, r, lt, rt)?;
                    let ms = interval_millis(b).ok()?;
                    Some((
                        side,
                        if *op == BinaryOperator::Plus {
                            off + ms
                        } else {
                            off - ms
                        },
                    ))
                }
                _ => match (
                    plain_column(e, &l.scope) == Some(lt),
                    plain_column(e, &r.scope) == Some(rt),
                ) {
                    (true, false) => Some((0, 0)),
                    (false, true) => Some((1, 0)),
                    _ => None,
                },
            }
        }
        // `a OP b` as a bound on d = tl - tr.
        fn bound(
            a: (usize, i64),
            op: &BinaryOperator,
            b: (usize, i64),
        ) -> Option<(Option<i64>, Option<i64>)> {
            if a.0 == b.0 {
                return None;
            }
            // tl + c1 OP tr + c2  =>  d OP c2 - c1 (flip the operator when a is the right side).
            let (op, k) = if a.0 == 0 {
                (op.clone(), b.1 - a.1)
            } else {
                let flipped = match op {
                    BinaryOperator::GtEq => BinaryOperator::LtEq,
                    BinaryOperator::Gt => BinaryOperator::Lt,
                    BinaryOperator::LtEq => BinaryOperator::GtEq,
                    BinaryOperator::Lt => BinaryOperator::Gt,
                    other => other.clone(),
                };
                (flipped, a.1 - b.1)
            };
            match op {
                BinaryOperator::GtEq => Some((Some(k), None)),
                BinaryOperator::Gt => Some((Some(k + 1), None)),
                BinaryOperator::LtEq => Some((None, Some(k))),
                BinaryOperator::Lt => Some((None, Some(k - 1))),
                _ => None,
            }
        }
        let (mut lower, mut upper) = (None::<i64>, None::<i64>);
        let mut used = Vec::new();
        for (i, c) in residual.iter().enumerate() {
            let found = match c {
                Expr::Between {
                    expr,
                    negated: false,
                    low,
                    high,
                } => {
                    let x = term(expr, left, right, lt, rt);
                    let lo = term(low, left, right, lt, rt);
                    let hi = term(high, left, right, lt, rt);
                    match (x, lo, hi) {
                        (Some(x), Some(lo), Some(hi)) if lo.0 == hi.0 => {
                            let a = bound(x, &BinaryOperator::GtEq, lo);
                            let b = bound(x, &BinaryOperator::LtEq, hi);
                            a.zip(b).map(|(a, b)| (a.0.or(b.0), a.1.or(b.1)))
                        }
                        _ => None,
                    }
                }
                Expr::BinaryOp {
                    left: a,
                    op,
                    right: b,
                } => match (term(a, left, right, lt, rt), term(b, left, right, lt, rt)) {
                    (Some(x), Some(y)) => bound(x, op, y),
                    _ => None,
                },
                _ => None,
            };
            if let Some((lo, hi)) = found {
                if let Some(lo) = lo {
                    lower = Some(lower.map_or(lo, |l| l.max(lo)));
                }
                if let Some(hi) = hi {
                    upper = Some(upper.map_or(hi, |u| u.min(hi)));
                }
                used.push(i);
            }
        }
        let (lower, upper) = (lower?, upper?);
        for i in used.into_iter().rev() {
            residual.remove(i);
        }
        Some(IntervalBounds {
            lower,
            upper,
            left_time: lt,
            right_time: rt,
        })
    }

    /// Makes each join key a column of the input, appending computed ones.
    fn with_key_columns(
        &mut self,
        input: Planned,
        keys: Vec<(ExprRef, Option<usize>)>,
        side: &str,
    ) -> Result<(Planned, Vec<usize>)> {
        let mut idx = Vec::new();
        let mut extra = Vec::new();
        for (k, plain) in keys {
            match plain {
                Some(i) => idx.push(i),
                None => {
                    idx.push(input.scope.columns.len() + extra.len());
                    extra.push(k);
                }
            }
        }
        if extra.is_empty() {
            return Ok((input, idx));
        }
        let mut scope = input.scope.clone();
        let mut exprs: Vec<ExprRef> = scope
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| runnel_expr::column(i, c.data_type.clone(), c.nullable))
            .collect();
        for (j, e) in extra.into_iter().enumerate() {
            scope.columns.push(ScopeColumn::new(
                format!("$key_{side}{j}"),
                e.data_type().clone(),
                true,
            ));
            exprs.push(e);
        }
        let (updating, rowtime) = (input.updating, input.rowtime);
        let mut p = self.project_columns(&input, "Calc(join key)", exprs, scope.columns);
        p.updating = updating;
        p.rowtime = rowtime;
        Ok((p, idx))
    }

    fn plan_factor(&mut self, f: &TableFactor) -> Result<Planned> {
        match f {
            TableFactor::Table {
                name,
                alias,
                args: None,
                ..
            } => {
                let n = object_name(name);
                let cte = self
                    .ctes
                    .iter()
                    .rev()
                    .find(|(c, _)| c == &n)
                    .map(|(_, q)| (Vec::new(), q.clone()));
                let planned =
                    if let Some((cols, q)) = cte.or_else(|| self.catalog.view(&n).cloned()) {
                        let mut p = self.plan_query(&q)?;
                        if !cols.is_empty() {
                            if cols.len() != p.scope.columns.len() {
                                return Err(plan_err!(
                                    "view `{n}` names {} columns but its query has {}",
                                    cols.len(),
                                    p.scope.columns.len()
                                ));
                            }
                            for (c, new) in p.scope.columns.iter_mut().zip(cols) {
                                c.name = new;
                            }
                        }
                        p.scope = requalify(&p.scope, Some(&n));
                        p
                    } else {
                        self.plan_table(&n)?
                    };
                Ok(self.alias(planned, alias.as_ref().map(|a| &a.name)))
            }
            TableFactor::Derived {
                subquery, alias, ..
            } => {
                let mut p = self.plan_query(subquery)?;
                p.scope = requalify(&p.scope, None);
                Ok(self.alias(p, alias.as_ref().map(|a| &a.name)))
            }
            TableFactor::TableFunction { expr, alias } => {
                let p = self.plan_window_tvf(expr)?;
                Ok(self.alias(p, alias.as_ref().map(|a| &a.name)))
            }
            TableFactor::Function {
                name, args, alias, ..
            } => {
                let e = Expr::Function(sqlparser::ast::Function {
                    name: name.clone(),
                    uses_odbc_syntax: false,
                    parameters: FunctionArguments::None,
                    args: FunctionArguments::List(sqlparser::ast::FunctionArgumentList {
                        duplicate_treatment: None,
                        args: args.clone(),
                        clauses: vec![],
                    }),
                    filter: None,
                    null_treatment: None,
                    over: None,
                    within_group: vec![],
                });
                let p = self.plan_window_tvf(&e)?;
                Ok(self.alias(p, alias.as_ref().map(|a| &a.name)))
            }
            other => Err(plan_err!("unsupported FROM item: {other}")),
        }
    }

    /// The rows of an aggregation planned before under `digest`, fed through a new vertex.
    fn reuse_aggregation(&mut self, digest: &str) -> Option<Planned> {
        let (_, planned, at) = self
            .aggregations
            .iter()
            .find(|(d, _, _)| d == digest)
            .cloned()?;
        let producer = if self.vertices[planned.vertex].chain.len() > at {
            self.split_prefix(planned.vertex, at, planned.schema.clone())
        } else {
            planned.vertex
        };
        let id = self.vertices.len();
        self.vertices.push(Vertex {
            id,
            name: "Forward".into(),
            uid: format!("{id}-reuse"),
            parallelism: self.vertices[producer].parallelism,
            kind: VertexKind::Operators,
            chain: Vec::new(),
            chain_names: Vec::new(),
            chain_uids: Vec::new(),
            output_schema: planned.schema.clone(),
            scan_ops: 0,
        });
        self.forward(producer, id);
        Some(Planned {
            vertex: id,
            assigner: None,
            ..planned
        })
    }

    /// Moves the first `at` operators of vertex `id` (and its inputs) into a new vertex in
    /// front of it, so streams already planned on `id` stay valid; returns the new vertex.
    fn split_prefix(&mut self, id: VertexId, at: usize, schema: SchemaRef) -> VertexId {
        let new_id = self.vertices.len();
        let v = &mut self.vertices[id];
        let rest_chain = v.chain.split_off(at);
        let rest_names = v.chain_names.split_off(at);
        let rest_uids = v.chain_uids.split_off(at);
        let prefix = Vertex {
            id: new_id,
            name: v.chain_names.join(" -> "),
            uid: v.uid.clone(),
            parallelism: v.parallelism,
            kind: std::mem::replace(&mut v.kind, VertexKind::Operators),
            chain: std::mem::replace(&mut v.chain, rest_chain),
            chain_names: std::mem::replace(&mut v.chain_names, rest_names),
            chain_uids: std::mem::replace(&mut v.chain_uids, rest_uids),
            output_schema: schema,
            scan_ops: v.scan_ops.min(at),
        };
        v.scan_ops = 0;
        v.uid = format!("{}-rest", v.uid);
        v.name = v.chain_names.join(" -> ");
        let prefix_name = match &prefix.kind {
            VertexKind::Source(_) => self.vertices[id].uid.trim_end_matches("-rest").to_string(),
            VertexKind::Operators => String::new(),
        };
        let mut prefix = prefix;
        if !prefix_name.is_empty() {
            prefix.name = format!(
                "Source: {} -> {}",
                prefix_name.trim_start_matches("source-"),
                prefix.name
            );
        }
        self.vertices.push(prefix);
        for e in self.edges.iter_mut().filter(|e| e.target == id) {
            e.target = new_id;
        }
        self.forward(new_id, id);
        for (_, p, pos) in &mut self.aggregations {
            if p.vertex == id {
                if *pos <= at {
                    p.vertex = new_id;
                } else {
                    *pos -= at;
                }
            }
        }
        new_id
    }

    fn alias(&self, mut p: Planned, alias: Option<&Ident>) -> Planned {
        if let Some(a) = alias {
            p.scope = requalify(&p.scope, Some(&a.value));
        }
        p
    }

    /// `TUMBLE(TABLE t, DESCRIPTOR(ts), size)`, `HOP(.., slide, size)`, `CUMULATE(.., step, size)`.
    fn plan_window_tvf(&mut self, e: &Expr) -> Result<Planned> {
        let Expr::Function(f) = e else {
            return Err(plan_err!(
                "expected a window function such as TUMBLE(...) in TABLE(...) at {}",
                where_at(e)
            ));
        };
        let fname = object_name(&f.name).to_ascii_uppercase();
        let FunctionArguments::List(list) = &f.args else {
            return Err(plan_err!("{fname} needs arguments at {}", where_at(e)));
        };
        let args: Vec<&Expr> = list
            .args
            .iter()
            .filter_map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) => Some(x),
                FunctionArg::Named {
                    arg: FunctionArgExpr::Expr(x),
                    ..
                } => Some(x),
                FunctionArg::ExprNamed {
                    arg: FunctionArgExpr::Expr(x),
                    ..
                } => Some(x),
                _ => None,
            })
            .collect();
        let mut args = args;
        let mut partition_args: Vec<Expr> = Vec::new();
        if fname == "SESSION"
            && let Some(Expr::Function(pf)) = args.get(1)
            && object_name(&pf.name).eq_ignore_ascii_case("PARTITION_BY")
        {
            if let FunctionArguments::List(l) = &pf.args {
                for a in &l.args {
                    if let FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) = a {
                        partition_args.push(x.clone());
                    }
                }
            }
            args.remove(1);
        }
        let want = if matches!(fname.as_str(), "TUMBLE" | "SESSION") {
            3
        } else {
            4
        };
        if !matches!(fname.as_str(), "TUMBLE" | "HOP" | "CUMULATE" | "SESSION") {
            return Err(plan_err!(
                "unsupported table function {fname} at {} (supported: TUMBLE, HOP, CUMULATE, SESSION)",
                where_at(e)
            ));
        }
        if args.len() != want {
            return Err(plan_err!(
                "{fname} takes {want} arguments (TABLE t, DESCRIPTOR(col), ...), got {} at {}",
                args.len(),
                where_at(e)
            ));
        }
        let input = match args[0] {
            Expr::Identifier(i) => self.plan_factor(&TableFactor::Table {
                name: ObjectName::from(vec![i.clone()]),
                alias: None,
                args: None,
                with_hints: vec![],
                version: None,
                with_ordinality: false,
                partitions: vec![],
                json_path: None,
                sample: None,
                index_hints: vec![],
            })?,
            Expr::Subquery(q) => self.plan_query(q)?,
            other => {
                return Err(plan_err!(
                    "the first argument of {fname} must be TABLE name, at {}",
                    where_at(other)
                ));
            }
        };
        let col = match args[1] {
            Expr::Function(d) if object_name(&d.name).eq_ignore_ascii_case("DESCRIPTOR") => {
                match &d.args {
                    FunctionArguments::List(l) => match l.args.first() {
                        Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Identifier(i)))) => {
                            i.value.clone()
                        }
                        _ => {
                            return Err(plan_err!(
                                "DESCRIPTOR needs one column name at {}",
                                where_at(args[1])
                            ));
                        }
                    },
                    _ => {
                        return Err(plan_err!(
                            "DESCRIPTOR needs one column name at {}",
                            where_at(args[1])
                        ));
                    }
                }
            }
            other => {
                return Err(plan_err!(
                    "the second argument of {fname} must be DESCRIPTOR(column), at {}",
                    where_at(other)
                ));
            }
        };
        let Some(idx) = input.scope.columns.iter().position(|c| c.name == col) else {
            return Err(plan_err!(
                "{fname}: unknown time column `{col}` at {}",
                where_at(args[1])
            ));
        };
        if input.rowtime != Some(idx) {
            return Err(plan_err!(
                "{fname}: column `{col}` is not a time attribute; declare WATERMARK FOR {col} on the source table (at {})",
                where_at(args[1])
            ));
        }
        let ms = |x: &Expr| -> Result<i64> { Ok(interval_millis(x)?) };
        if fname == "SESSION" {
            let mut partition = Vec::new();
            for e in &partition_args {
                let Some(c) = plain_column(e, &input.scope) else {
                    return Err(plan_err!(
                        "SESSION ... PARTITION BY takes column names, at {}",
                        where_at(e)
                    ));
                };
                partition.push(c);
            }
            let mut p = input;
            p.session = Some((idx, ms(args[2])?, partition));
            return Ok(p);
        }
        let spec = match fname.as_str() {
            "TUMBLE" => WindowSpec::Tumble { size: ms(args[2])? },
            "HOP" => WindowSpec::Hop {
                slide: ms(args[2])?,
                size: ms(args[3])?,
            },
            _ => WindowSpec::Cumulate {
                step: ms(args[2])?,
                size: ms(args[3])?,
            },
        };
        self.assign_windows(input, spec, idx, true)
    }

    fn assign_windows(
        &mut self,
        input: Planned,
        spec: WindowSpec,
        time_col: usize,
        tvf: bool,
    ) -> Result<Planned> {
        if input.updating {
            return Err(plan_err!(
                "window functions need an append-only input, but it is updating"
            ));
        }
        let mut scope = input.scope.clone();
        let ts_type = scope.columns[time_col].data_type.clone();
        let n = scope.columns.len();
        let names = if tvf {
            ["window_start", "window_end", "window_time"]
        } else {
            ["$window_start", "$window_end", "$window_time"]
        };
        for (i, name) in names.iter().enumerate() {
            scope.columns.push(ScopeColumn {
                qualifier: scope.columns.first().and_then(|c| c.qualifier.clone()),
                name: name.to_string(),
                data_type: if i == 2 {
                    ts_type.clone()
                } else {
                    DataType::Timestamp(TimeUnit::Millisecond, None)
                },
                nullable: false,
            });
        }
        // window_time keeps the input's timestamp kind; start/end are TIMESTAMP(3).
        let schema = schema_of(&scope);
        let s2 = schema.clone();
        let mut p = self.chain(
            &input,
            format!("WindowTableFunction({spec:?})"),
            factory(move |_| Ok(Box::new(WindowAssigner::new(spec, time_col, s2.clone())))),
            scope,
        );
        p.rowtime = Some(n + 2);
        p.window = Some((n, n + 1, Some(n + 2)));
        p.assigner = Some((spec, time_col));
        Ok(p)
    }

    /// Undoes the window assignment that ends `input`'s chain: the stream as it was before
    /// the window TVF, with its spec and time column.
    fn pop_assigner(&mut self, input: &Planned) -> Option<(Planned, WindowSpec, usize)> {
        let (spec, time_col) = input.assigner?;
        let v = &mut self.vertices[input.vertex];
        if !v.chain_names.last()?.starts_with("WindowTableFunction") || v.chain.len() <= v.scan_ops
        {
            return None;
        }
        v.chain.pop();
        v.chain_names.pop();
        v.chain_uids.pop();
        v.name = v
            .name
            .rsplit_once(" -> ")
            .map_or(v.name.clone(), |(a, _)| a.to_string());
        let mut base = input.clone();
        base.scope.columns.truncate(base.scope.columns.len() - 3);
        base.schema = schema_of(&base.scope);
        base.window = None;
        base.assigner = None;
        base.rowtime = Some(time_col);
        v.output_schema = base.schema.clone();
        Some((base, spec, time_col))
    }

    /// Projects keys, arguments and the time column first, and only then assigns windows
    /// (copying the narrow projection, not every input column, into each window of a HOP or
    /// CUMULATE). Returns the stream laid out as `[keys.., window_start, window_end, args..]`
    /// with the calls, or gives the assigner back when an expression needs the window columns.
    fn project_then_assign(
        &mut self,
        input: &Planned,
        keys: &[Expr],
        aggs: &[Expr],
    ) -> Result<Option<PreAggregate>> {
        let Some((base, spec, time_col)) = self.pop_assigner(input) else {
            return Ok(None);
        };
        let mut pre: Vec<ExprRef> = Vec::new();
        let mut cols: Vec<ScopeColumn> = Vec::new();
        let compiled: Result<()> = (|| {
            for (i, k) in keys.iter().enumerate() {
                let e = self.compile(k, &base.scope)?;
                cols.push(ScopeColumn::new(
                    format!("$k{i}"),
                    e.data_type().clone(),
                    e.nullable(),
                ));
                pre.push(e);
            }
            Ok(())
        })();
        if compiled.is_err() {
            self.reassign(input, spec, time_col)?;
            return Ok(None);
        }
        push_global_key(keys.is_empty(), &mut pre, &mut cols);
        let k = pre.len();
        // Placeholders where the window bounds will go, so argument positions are final.
        for n in ["$ws", "$we"] {
            pre.push(runnel_expr::literal(
                runnel_expr::ScalarValue::TimestampMillis(0),
            ));
            cols.push(ScopeColumn::new(
                n,
                DataType::Timestamp(TimeUnit::Millisecond, None),
                false,
            ));
        }
        let mut specs = Vec::new();
        for a in aggs {
            match self.agg_spec(a, &base.scope, &mut pre, &mut cols) {
                Ok(s) => specs.push(s),
                Err(_) => {
                    self.reassign(input, spec, time_col)?;
                    return Ok(None);
                }
            }
        }
        let tcol = &base.scope.columns[time_col];
        pre.push(runnel_expr::column(
            time_col,
            tcol.data_type.clone(),
            tcol.nullable,
        ));
        cols.push(ScopeColumn::new("$time", tcol.data_type.clone(), false));
        let time_idx = pre.len() - 1;
        let (projected, scope, _) = self.pre_aggregate(&base, pre, cols);
        // Assign windows on the narrow rows, then move the bounds into the placeholders.
        let mut wscope = scope.clone();
        for n in ["$window_start", "$window_end", "$window_time"] {
            let t = if n == "$window_time" {
                tcol.data_type.clone()
            } else {
                DataType::Timestamp(TimeUnit::Millisecond, None)
            };
            wscope.columns.push(ScopeColumn::new(n, t, false));
        }
        let wschema = schema_of(&wscope);
        let w2 = wschema.clone();
        let assigned = self.chain(
            &projected,
            format!("WindowTableFunction({spec:?})"),
            factory(move |_| Ok(Box::new(WindowAssigner::new(spec, time_idx, w2.clone())))),
            wscope.clone(),
        );
        let n = scope.columns.len();
        let mut exprs = Vec::new();
        let mut out_cols = Vec::new();
        for i in 0..time_idx {
            let src = match i {
                i if i == k => n,
                i if i == k + 1 => n + 1,
                i => i,
            };
            let c = &wscope.columns[src];
            exprs.push(runnel_expr::column(src, c.data_type.clone(), c.nullable));
            out_cols.push(ScopeColumn {
                name: scope.columns[i].name.clone(),
                ..c.clone()
            });
        }
        let out_scope = Scope {
            columns: out_cols,
            bindings: Vec::new(),
        };
        let out_schema = schema_of(&out_scope);
        let o2 = out_schema.clone();
        let arranged = self.chain(
            &assigned,
            "Calc(window bounds)".into(),
            factory(move |_| Ok(Box::new(Calc::new(None, exprs.clone(), o2.clone())))),
            out_scope.clone(),
        );
        let k = keys.len() + usize::from(keys.is_empty());
        Ok(Some(PreAggregate {
            planned: arranged,
            scope: out_scope,
            schema: out_schema,
            specs,
            partition_columns: k,
            window_keys: Some(WindowKeys {
                start: k,
                end: k + 1,
            }),
            key_columns: k + 2,
        }))
    }

    /// Puts back a window assignment taken off by `pop_assigner`.
    fn reassign(&mut self, input: &Planned, spec: WindowSpec, time_col: usize) -> Result<()> {
        let schema = input.schema.clone();
        let uid = self.op_uid(&format!("WindowTableFunction({spec:?})"), &[&schema]);
        let v = &mut self.vertices[input.vertex];
        v.chain.push(factory(move |_| {
            Ok(Box::new(WindowAssigner::new(
                spec,
                time_col,
                schema.clone(),
            )))
        }));
        v.chain_names.push(format!("WindowTableFunction({spec:?})"));
        v.chain_uids.push(uid);
        v.name = format!("{} -> WindowTableFunction({spec:?})", v.name);
        v.output_schema = input.schema.clone();
        Ok(())
    }

    /// Plans a SELECT with its `STATE_TTL` hints in force; a hint naming no input of the
    /// joins or the aggregate of this SELECT is an error, as in Flink.
    fn plan_select(&mut self, s: &Select) -> Result<Planned> {
        if s.distinct.is_some() || s.optimizer_hints.is_empty() {
            return self.plan_select_body(s);
        }
        let hints = parse_hints(&s.optimizer_hints)?;
        self.ttl_hints.push((hints, Default::default()));
        let planned = self.plan_select_body(s);
        let (hints, used) = self.ttl_hints.pop().expect("pushed above");
        let planned = planned?;
        let mut unused: Vec<&String> = hints.keys().filter(|k| !used.contains(*k)).collect();
        if !unused.is_empty() {
            unused.sort();
            return Err(plan_err!(
                "The options of following hints cannot match the name of input tables or views: \
                 STATE_TTL({}) (a key names a table, view or alias read directly by a join or an \
                 aggregation of this SELECT)",
                unused
                    .iter()
                    .map(|k| format!("'{k}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        Ok(planned)
    }

    /// The `STATE_TTL` hint for an input, marking it used.
    fn hinted_ttl(&mut self, input: &Planned) -> Option<Duration> {
        let first = input.scope.columns.first()?.qualifier.clone()?;
        if input
            .scope
            .columns
            .iter()
            .any(|c| c.qualifier.as_ref() != Some(&first))
        {
            return None;
        }
        let (hints, used) = self.ttl_hints.last_mut()?;
        let ttl = *hints.get(&first)?;
        used.insert(first);
        Some(ttl)
    }

    fn plan_select_body(&mut self, s: &Select) -> Result<Planned> {
        if let Some(d) = &s.distinct {
            if !matches!(d, sqlparser::ast::Distinct::Distinct) {
                return Err(plan_err!("DISTINCT ON is not supported"));
            }
            // SELECT DISTINCT = the projection grouped by all its columns.
            let mut inner = s.clone();
            inner.distinct = None;
            let projected = self.plan_select(&inner)?;
            let names: Vec<String> = projected
                .scope
                .columns
                .iter()
                .map(|c| c.name.clone())
                .collect();
            let keys: Vec<Expr> = names
                .iter()
                .map(|n| Expr::Identifier(Ident::new(n)))
                .collect();
            let grouped = self.plan_aggregate(projected, &keys, &[])?;
            let items: Vec<SelectItem> = keys.into_iter().map(SelectItem::UnnamedExpr).collect();
            return self.project(grouped, &items);
        }
        let mut conjuncts = Vec::new();
        if let Some(w) = &s.selection {
            split_conjuncts(w, &mut conjuncts);
        }
        // A subquery with ROW_NUMBER() needs the rank filter of this WHERE.
        let outer_rank = self.rank_request.take();
        if let Some(alias) = row_number_alias(&s.from) {
            let mut limit = None;
            conjuncts.retain(|c| match rank_limit(c, &alias) {
                Some(n) => {
                    limit = Some(limit.map_or(n, |m: usize| m.min(n)));
                    false
                }
                None => true,
            });
            let Some(limit) = limit else {
                return Err(plan_err!(
                    "ROW_NUMBER() column `{alias}` needs a filter such as `WHERE {alias} <= N` in the enclosing query (Top-N); general OVER windows are not supported yet"
                ));
            };
            let with_row_number = s.projection.iter().any(|i| match i {
                SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => true,
                SelectItem::UnnamedExpr(e)
                | SelectItem::ExprWithAlias { expr: e, .. }
                | SelectItem::ExprWithAliases { expr: e, .. } => mentions(e, &alias),
            }) || conjuncts.iter().any(|c| mentions(c, &alias));
            self.rank_request = Some(RankRequest {
                limit,
                with_row_number,
            });
        }
        // An aggregation whose FROM, WHERE, GROUP BY and calls equal one planned before in this
        // job is computed once and its rows fanned out (Flink's sub-plan reuse).
        let digest = (self.rank_request.is_none()
            && outer_rank.is_none()
            && self.ctes.is_empty()
            && projection_row_number(&s.projection).is_none())
        .then(|| aggregation_digest(s, &conjuncts))
        .flatten();
        if let Some(d) = &digest
            && let Some(reused) = self.reuse_aggregation(d)
        {
            let mut input = reused;
            if let Some(h) = &s.having {
                input = self.filter(input, h, "HAVING")?;
            }
            return self.project(input, &s.projection);
        }
        let mut input = self.plan_from(&s.from, &mut conjuncts)?;
        self.rank_request = None;
        if let Some(rank) = projection_row_number(&s.projection) {
            let Some(req) = outer_rank else {
                return Err(plan_err!(
                    "ROW_NUMBER() needs a filter such as `rn <= N` in the enclosing query (Top-N) at {}",
                    where_at(rank)
                ));
            };
            // WHERE of this block applies before ranking.
            if let Some(w) = conjoin(std::mem::take(&mut conjuncts)) {
                input = self.filter(input, &w, "WHERE")?;
            }
            input = self.plan_rank(input, rank, &req)?;
            return self.project(input, &s.projection);
        }
        if let Some(w) = conjoin(conjuncts).as_ref() {
            input = self.filter(input, w, "WHERE")?;
        }
        let group_exprs: Vec<Expr> = match &s.group_by {
            GroupByExpr::Expressions(e, _) => e.clone(),
            GroupByExpr::All(_) => return Err(plan_err!("GROUP BY ALL is not supported")),
        };
        let mut aggs = Vec::new();
        for item in &s.projection {
            if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = item {
                collect_aggs(e, &mut aggs);
            }
        }
        if let Some(h) = &s.having {
            collect_aggs(h, &mut aggs);
        }
        if !group_exprs.is_empty() || !aggs.is_empty() {
            input = self.plan_aggregate(input, &group_exprs, &aggs)?;
            if let Some(d) = digest {
                let at = self.vertices[input.vertex].chain.len();
                self.aggregations.push((d, input.clone(), at));
            }
            if let Some(h) = &s.having {
                input = self.filter(input, h, "HAVING")?;
            }
        } else if s.having.is_some() {
            return Err(plan_err!("HAVING without GROUP BY or aggregates"));
        }
        self.project(input, &s.projection)
    }

    /// Keeps the rows where `w` holds (WHERE, HAVING), keeping what the rows mean.
    fn filter(&mut self, input: Planned, w: &Expr, clause: &str) -> Result<Planned> {
        let pred = self.compile(w, &input.scope)?;
        if pred.data_type() != &DataType::Boolean {
            return Err(plan_err!(
                "{clause} must be a BOOLEAN condition, not {} at {}",
                runnel_types::flink_type_name(pred.data_type()),
                where_at(w)
            ));
        }
        let scope = input.scope.clone();
        let schema = input.schema.clone();
        let all: Vec<ExprRef> = scope
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| runnel_expr::column(i, c.data_type.clone(), c.nullable))
            .collect();
        let (rowtime, updating, window, session) = (
            input.rowtime,
            input.updating,
            input.window,
            input.session.clone(),
        );
        let mut p = self.chain(
            &input,
            format!("Calc({})", clause.to_ascii_lowercase()),
            factory(move |_| {
                Ok(Box::new(Calc::new(
                    Some(pred.clone()),
                    all.clone(),
                    schema.clone(),
                )))
            }),
            scope,
        );
        p.rowtime = rowtime;
        p.updating = updating;
        p.window = window;
        p.session = session;
        Ok(p)
    }

    /// `ROW_NUMBER() OVER (PARTITION BY .. ORDER BY ..)` under a rank filter: Top-N,
    /// deduplication or window Top-N. Adds the row number as a last column, bound to the call.
    fn plan_rank(&mut self, input: Planned, call: &Expr, req: &RankRequest) -> Result<Planned> {
        let Expr::Function(f) = call else {
            unreachable!("found as a function")
        };
        let Some(sqlparser::ast::WindowType::WindowSpec(w)) = &f.over else {
            return Err(plan_err!(
                "ROW_NUMBER() needs OVER (PARTITION BY .. ORDER BY ..) at {}",
                where_at(call)
            ));
        };
        if input.updating {
            return Err(plan_err!(
                "Top-N over an updating input is not supported yet at {}",
                where_at(call)
            ));
        }
        if w.order_by.is_empty() {
            return Err(plan_err!(
                "ROW_NUMBER() OVER needs an ORDER BY at {}",
                where_at(call)
            ));
        }
        // Hidden columns: partition keys then order keys.
        let mut scope = input.scope.clone();
        let mut exprs: Vec<ExprRef> = scope
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| runnel_expr::column(i, c.data_type.clone(), c.nullable))
            .collect();
        let mut partition = Vec::new();
        let global = w.partition_by.is_empty();
        if global {
            partition.push(scope.columns.len());
            scope
                .columns
                .push(ScopeColumn::new("$global", DataType::Int32, false));
            exprs.push(runnel_expr::literal(runnel_expr::ScalarValue::Int32(0)));
        }
        let mut window_end = None;
        let mut window_start_seen = false;
        for (i, p) in w.partition_by.iter().enumerate() {
            if let (Some(c), Some((ws, we, _))) = (plain_column(p, &input.scope), input.window) {
                if c == ws {
                    window_start_seen = true;
                }
                if c == we {
                    window_end = Some(scope.columns.len());
                }
            }
            let e = self.compile(p, &input.scope)?;
            partition.push(scope.columns.len());
            scope.columns.push(ScopeColumn::new(
                format!("$p{i}"),
                e.data_type().clone(),
                true,
            ));
            exprs.push(e);
        }
        let mut order = Vec::new();
        let mut order_on_rowtime = None;
        for (i, o) in w.order_by.iter().enumerate() {
            let desc = matches!(o.options.sort, Some(sqlparser::ast::OrderBySort::Desc));
            let nulls_first = o.options.nulls_first.unwrap_or(!desc);
            if w.order_by.len() == 1
                && plain_column(&o.expr, &input.scope).is_some_and(|c| Some(c) == input.rowtime)
            {
                order_on_rowtime = Some(desc);
            }
            let e = self.compile(&o.expr, &input.scope)?;
            order.push((
                scope.columns.len(),
                arrow::compute::SortOptions {
                    descending: desc,
                    nulls_first,
                },
            ));
            scope.columns.push(ScopeColumn::new(
                format!("$o{i}"),
                e.data_type().clone(),
                true,
            ));
            exprs.push(e);
        }
        let mode = match (window_end, window_start_seen, order_on_rowtime, req.limit) {
            (Some(end_column), true, _, _) => RankMode::Window { end_column },
            (_, _, Some(false), 1) => RankMode::KeepFirst,
            (_, _, Some(true), 1) => RankMode::KeepLast,
            _ => RankMode::TopN,
        };
        let sch = schema_of(&scope);
        let (rowtime, window) = (input.rowtime, input.window);
        let pre = self.chain(
            &input,
            "Calc(rank keys)".into(),
            factory(move |_| Ok(Box::new(Calc::new(None, exprs.clone(), sch.clone())))),
            scope.clone(),
        );
        let mut out_scope = scope.clone();
        out_scope
            .columns
            .push(ScopeColumn::new("$rn", DataType::Int64, false));
        let rn_index = out_scope.columns.len() - 1;
        out_scope.bindings.push((call.clone(), rn_index));
        let spec = RankSpec {
            mode,
            partition: partition.clone(),
            order,
            limit: req.limit,
            with_row_number: true,
            rank_updates: req.with_row_number,
            input_schema: pre.schema.clone(),
            output_schema: schema_of(&Scope {
                columns: out_scope.columns.clone(),
                bindings: vec![],
            }),
        };
        let part = if global {
            (Partitioning::Single, 1)
        } else {
            let keys = partition
                .iter()
                .map(|i| runnel_expr::column(*i, pre.schema.field(*i).data_type().clone(), true))
                .collect();
            (Partitioning::Hash(keys), self.config.parallelism)
        };
        let name = format!("Rank({mode:?}, {})", req.limit);
        let rank_spec = spec.clone();
        let mut p = self.exchange(
            &[(&pre, part.0)],
            part.1,
            name,
            factory(move |ctx| Ok(Box::new(Rank::new(rank_spec.clone(), ctx)?))),
            out_scope,
        );
        let windowed = matches!(mode, RankMode::Window { .. });
        p.updating = !windowed;
        if windowed {
            p.rowtime = rowtime;
            p.window = window;
        }
        Ok(p)
    }

    fn project(&mut self, input: Planned, items: &[SelectItem]) -> Result<Planned> {
        let mut exprs = Vec::new();
        let mut cols = Vec::new();
        let mut rowtime = None;
        let mut window = (None, None, None);
        let visible = |c: &ScopeColumn| !c.name.starts_with('$');
        for (pos, item) in items.iter().enumerate() {
            match item {
                SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(_, _) => {
                    let q = match item {
                        SelectItem::QualifiedWildcard(
                            sqlparser::ast::SelectItemQualifiedWildcardKind::ObjectName(n),
                            _,
                        ) => Some(object_name(n)),
                        _ => None,
                    };
                    for (i, c) in input.scope.columns.iter().enumerate() {
                        if !visible(c) || (q.is_some() && c.qualifier != q) {
                            continue;
                        }
                        if input.rowtime == Some(i) {
                            rowtime = Some(cols.len());
                        }
                        track_window(&input, i, cols.len(), &mut window);
                        exprs.push(runnel_expr::column(i, c.data_type.clone(), c.nullable));
                        cols.push(ScopeColumn {
                            qualifier: None,
                            ..c.clone()
                        });
                    }
                }
                SelectItem::ExprWithAliases { expr, .. } => {
                    return Err(plan_err!(
                        "multiple aliases for one expression are not supported, at {}",
                        where_at(expr)
                    ));
                }
                SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                    let compiled = self.compile(e, &input.scope)?;
                    let name = match item {
                        SelectItem::ExprWithAlias { alias, .. } => alias.value.clone(),
                        _ => match e {
                            Expr::Identifier(i) => i.value.clone(),
                            Expr::CompoundIdentifier(parts) => {
                                parts.last().map(|p| p.value.clone()).unwrap_or_default()
                            }
                            _ => format!("EXPR${pos}"),
                        },
                    };
                    if let Some(i) = plain_column(e, &input.scope) {
                        if input.rowtime == Some(i) {
                            rowtime = Some(cols.len());
                        }
                        track_window(&input, i, cols.len(), &mut window);
                    }
                    cols.push(ScopeColumn {
                        qualifier: None,
                        name,
                        data_type: compiled.data_type().clone(),
                        nullable: compiled.nullable(),
                    });
                    exprs.push(compiled);
                }
            }
        }
        let updating = input.updating;
        let mut p = self.project_columns(&input, "Calc(select)", exprs, cols);
        p.updating = updating;
        p.rowtime = rowtime;
        if let (Some(a), Some(b), c) = window {
            p.window = Some((a, b, c));
        }
        Ok(p)
    }

    fn plan_aggregate(&mut self, input: Planned, group: &[Expr], aggs: &[Expr]) -> Result<Planned> {
        // Split GROUP BY into plain keys and the window (TVF columns or a legacy group window).
        let mut keys: Vec<Expr> = Vec::new();
        let mut tvf_window = Vec::new();
        let mut legacy: Option<(String, WindowSpec, usize, Expr)> = None;
        let mut session: Option<SessionGrouping> = None;
        for g in group {
            if let Some((tcol, gap, _)) = &input.session
                && matches!(g, Expr::Identifier(i) if i.value == "window_start" || i.value == "window_end")
            {
                session = Some((*tcol, *gap, None));
                continue;
            }
            if let Some(i) = plain_column(g, &input.scope)
                && let Some((ws, we, _)) = input.window
                && (i == ws || i == we)
            {
                tvf_window.push(i);
                continue;
            }
            if let Some((kind, spec, col)) = self.legacy_window(g, &input)? {
                if legacy.is_some() || session.is_some() {
                    return Err(plan_err!(
                        "only one group window per GROUP BY, at {}",
                        where_at(g)
                    ));
                }
                match spec {
                    GroupWindow::Assigned(spec) => legacy = Some((kind, spec, col, g.clone())),
                    GroupWindow::Session(gap) => {
                        session = Some((col, gap, Some((kind, g.clone()))))
                    }
                }
                continue;
            }
            keys.push(g.clone());
        }
        if let Some((tcol, gap, legacy)) = session {
            // Sessions are formed per PARTITION BY key (TVF) or per GROUP BY key (legacy); the
            // session key columns go first.
            let session_cols: Option<Vec<usize>> = match (&legacy, &input.session) {
                (None, Some((_, _, partition))) => Some(partition.clone()),
                _ => None,
            };
            let (ordered, session_keys) = match session_cols {
                None => {
                    let n = keys.len();
                    (keys, n)
                }
                Some(part) => {
                    let mut first = Vec::new();
                    let mut rest = Vec::new();
                    for k in keys {
                        if plain_column(&k, &input.scope).is_some_and(|c| part.contains(&c)) {
                            first.push(k);
                        } else {
                            rest.push(k);
                        }
                    }
                    if first.len() != part.len() {
                        return Err(plan_err!(
                            "the PARTITION BY columns of a SESSION window must also be in GROUP BY"
                        ));
                    }
                    let n = first.len();
                    first.extend(rest);
                    (first, n)
                }
            };
            return self.plan_session_aggregate(
                input,
                &ordered,
                session_keys,
                aggs,
                tcol,
                gap,
                legacy,
            );
        }
        if input.session.is_some() {
            return Err(plan_err!(
                "a SESSION window table function must be grouped by window_start and window_end"
            ));
        }
        let mut input = input;
        let windowed = if let Some((_, spec, col, _)) = &legacy {
            input = self.assign_windows(input, *spec, *col, false)?;
            true
        } else {
            if !tvf_window.is_empty() && tvf_window.len() != 2 {
                return Err(plan_err!(
                    "a window aggregation must group by both window_start and window_end"
                ));
            }
            !tvf_window.is_empty()
        };
        if input.updating && windowed {
            return Err(plan_err!(
                "window aggregation over an updating input is not supported"
            ));
        }
        let global = keys.is_empty();
        let pushed = if windowed && legacy.is_none() {
            self.project_then_assign(&input, &keys, aggs)?
        } else {
            None
        };
        let pre = match pushed {
            Some(pre) => pre,
            None => self.pre_aggregate_columns(&input, &keys, aggs, windowed)?,
        };
        let PreAggregate {
            planned: pre_planned,
            scope: pre_scope,
            schema: pre_schema,
            specs,
            partition_columns,
            window_keys,
            key_columns,
        } = pre;
        // Output scope: keys, window bounds and time, aggregates; bindings map the query's
        // expressions onto them.
        let mut out_cols: Vec<ScopeColumn> = pre_scope.columns[..key_columns].to_vec();
        let mut bindings = key_bindings(&keys, &input.scope, 0);
        let mut rowtime = None;
        let mut window = None;
        if windowed {
            let wt_type = match input.window.expect("window").2 {
                Some(c) => input.scope.columns[c].data_type.clone(),
                None => DataType::Timestamp(TimeUnit::Millisecond, None),
            };
            out_cols.push(ScopeColumn::new("$wt", wt_type, false));
            let (s, e, t) = (partition_columns, partition_columns + 1, key_columns);
            rowtime = Some(t);
            if let Some((kind, _, _, gexpr)) = &legacy {
                for (suffix, idx) in [("START", s), ("END", e), ("ROWTIME", t), ("PROCTIME", t)] {
                    bindings.push((rename_call(gexpr, &format!("{kind}_{suffix}")), idx));
                }
            } else {
                let (ws, we, wt) = input.window.expect("window");
                for (src, idx) in [(Some(ws), s), (Some(we), e), (wt, t)] {
                    let Some(src) = src else { continue };
                    let c = &input.scope.columns[src];
                    bindings.push((Expr::Identifier(Ident::new(&c.name)), idx));
                    if let Some(q) = &c.qualifier {
                        bindings.push((
                            Expr::CompoundIdentifier(vec![Ident::new(q), Ident::new(&c.name)]),
                            idx,
                        ));
                    }
                }
                window = Some((s, e, Some(t)));
            }
        }
        let out_scope = aggregate_scope(out_cols, bindings, aggs, &specs);
        let out_schema = schema_of(&Scope {
            columns: out_scope.columns.clone(),
            bindings: vec![],
        });
        let layout = AggregateLayout {
            key_columns,
            partition_columns,
            window: window_keys,
            aggs: specs,
            output_schema: out_schema,
            retractions: input.updating,
        };
        let (partitioning, parallelism) = if global {
            (Partitioning::Single, 1)
        } else {
            let hash: Vec<ExprRef> = (0..partition_columns)
                .map(|i| runnel_expr::column(i, pre_schema.field(i).data_type().clone(), true))
                .collect();
            (Partitioning::Hash(hash), self.config.parallelism)
        };
        let name = format!(
            "{}({})",
            if windowed {
                "WindowAggregate"
            } else {
                "GroupAggregate"
            },
            describe_aggs(&layout.aggs)
        );
        let in_schema = pre_schema.clone();
        let ttl = self.hinted_ttl(&input);
        let mut p = self.exchange(
            &[(&pre_planned, partitioning)],
            parallelism,
            name,
            factory(move |ctx| {
                let mut ctx = ctx.clone();
                ctx.state_ttl = ttl.or(ctx.state_ttl);
                Ok(Box::new(Aggregate::new(
                    layout.clone(),
                    in_schema.clone(),
                    &ctx,
                )?))
            }),
            out_scope,
        );
        p.updating = !windowed || input.updating;
        p.rowtime = rowtime;
        p.window = window;
        Ok(p)
    }

    /// The projection in front of an aggregate, `[keys.., (window_start, window_end), args..]`,
    /// computed after window assignment.
    fn pre_aggregate_columns(
        &mut self,
        input: &Planned,
        keys: &[Expr],
        aggs: &[Expr],
        windowed: bool,
    ) -> Result<PreAggregate> {
        // Pre-aggregation projection: [keys.., window_start, window_end, agg args/filters..].
        let mut pre: Vec<ExprRef> = Vec::new();
        let mut pre_cols: Vec<ScopeColumn> = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            let e = self.compile(k, &input.scope)?;
            pre_cols.push(ScopeColumn::new(
                format!("$k{i}"),
                e.data_type().clone(),
                e.nullable(),
            ));
            pre.push(e);
        }
        let global = keys.is_empty();
        push_global_key(global, &mut pre, &mut pre_cols);
        let partition_columns = pre.len();
        let mut window_keys = None;
        if windowed {
            let (ws, we, _) = input.window.expect("windowed input has window columns");
            window_keys = Some(WindowKeys {
                start: pre.len(),
                end: pre.len() + 1,
            });
            for (n, i) in [("$ws", ws), ("$we", we)] {
                let c = &input.scope.columns[i];
                pre.push(runnel_expr::column(i, c.data_type.clone(), false));
                pre_cols.push(ScopeColumn::new(n, c.data_type.clone(), false));
            }
        }
        let key_columns = pre.len();
        let mut specs = Vec::new();
        for a in aggs {
            specs.push(self.agg_spec(a, &input.scope, &mut pre, &mut pre_cols)?);
        }
        let (planned, scope, schema) = self.pre_aggregate(input, pre, pre_cols);
        Ok(PreAggregate {
            planned,
            scope,
            schema,
            specs,
            partition_columns,
            window_keys,
            key_columns,
        })
    }

    /// The projection in front of an aggregate: its keys and arguments, as columns.
    fn pre_aggregate(
        &mut self,
        input: &Planned,
        exprs: Vec<ExprRef>,
        cols: Vec<ScopeColumn>,
    ) -> (Planned, Scope, SchemaRef) {
        let planned = self.project_columns(input, "Calc(pre-aggregate)", exprs, cols);
        let (scope, schema) = (planned.scope.clone(), planned.schema.clone());
        (planned, scope, schema)
    }

    /// Chains a projection computing `exprs` as the columns `cols`.
    fn project_columns(
        &mut self,
        input: &Planned,
        name: &str,
        exprs: Vec<ExprRef>,
        cols: Vec<ScopeColumn>,
    ) -> Planned {
        let scope = Scope {
            columns: cols,
            bindings: Vec::new(),
        };
        let schema = schema_of(&scope);
        let s2 = schema;
        self.chain(
            input,
            name.to_string(),
            factory(move |_| Ok(Box::new(Calc::new(None, exprs.clone(), s2.clone())))),
            scope,
        )
    }

    fn agg_spec(
        &self,
        a: &Expr,
        scope: &Scope,
        pre: &mut Vec<ExprRef>,
        cols: &mut Vec<ScopeColumn>,
    ) -> Result<AggSpec> {
        let Expr::Function(f) = a else {
            unreachable!("collected aggregates are calls")
        };
        let name = object_name(&f.name).to_ascii_uppercase();
        let FunctionArguments::List(list) = &f.args else {
            return Err(plan_err!("{name} needs an argument at {}", where_at(a)));
        };
        let distinct = matches!(
            list.duplicate_treatment,
            Some(sqlparser::ast::DuplicateTreatment::Distinct)
        );
        let star = matches!(
            list.args.as_slice(),
            [FunctionArg::Unnamed(FunctionArgExpr::Wildcard)]
        ) || list.args.is_empty();
        let mut func = match name.as_str() {
            "COUNT" => AggFunc::Count,
            "SUM" => AggFunc::Sum,
            "AVG" => AggFunc::Avg,
            "MIN" => AggFunc::Min,
            "MAX" => AggFunc::Max,
            _ => {
                return Err(plan_err!(
                    "unknown aggregate function {name} at {}",
                    where_at(a)
                ));
            }
        };
        let (arg, arg_type) = if star {
            if func != AggFunc::Count {
                return Err(plan_err!(
                    "{name}(*) is not allowed; only COUNT(*) at {}",
                    where_at(a)
                ));
            }
            func = AggFunc::CountStar;
            (None, DataType::Int64)
        } else {
            let [FunctionArg::Unnamed(FunctionArgExpr::Expr(x))] = list.args.as_slice() else {
                return Err(plan_err!("{name} takes one argument at {}", where_at(a)));
            };
            let e = self.compile(x, scope)?;
            let t = e.data_type().clone();
            cols.push(ScopeColumn::new(
                format!("$arg{}", pre.len()),
                t.clone(),
                true,
            ));
            pre.push(e);
            (Some(pre.len() - 1), t)
        };
        let filter = match &f.filter {
            None => None,
            Some(cond) => {
                let e = self.compile(cond, scope)?;
                cols.push(ScopeColumn::new(
                    format!("$filter{}", pre.len()),
                    DataType::Boolean,
                    true,
                ));
                pre.push(e);
                Some(pre.len() - 1)
            }
        };
        let output_type = AggSpec::result_type(func, &arg_type)
            .map_err(|e| plan_err!("{e} at {}", where_at(a)))?;
        Ok(AggSpec {
            func,
            distinct,
            arg,
            filter,
            arg_type,
            output_type,
        })
    }

    /// `TUMBLE(ts, size)`, `HOP(ts, slide, size)`, `SESSION(ts, gap)` in GROUP BY.
    fn legacy_window(
        &self,
        g: &Expr,
        input: &Planned,
    ) -> Result<Option<(String, GroupWindow, usize)>> {
        let Expr::Function(f) = g else {
            return Ok(None);
        };
        let name = object_name(&f.name).to_ascii_uppercase();
        if !matches!(name.as_str(), "TUMBLE" | "HOP" | "SESSION") {
            return Ok(None);
        }
        let FunctionArguments::List(list) = &f.args else {
            return Ok(None);
        };
        let args: Vec<&Expr> = list
            .args
            .iter()
            .filter_map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) => Some(x),
                _ => None,
            })
            .collect();
        let Some(first) = args.first() else {
            return Ok(None);
        };
        let Some(col) = plain_column(first, &input.scope) else {
            return Err(plan_err!(
                "{name} needs a time attribute column as first argument at {}",
                where_at(g)
            ));
        };
        if input.rowtime != Some(col) {
            return Err(plan_err!(
                "{name}: `{}` is not a time attribute (declare a WATERMARK for it) at {}",
                input.scope.columns[col].name,
                where_at(g)
            ));
        }
        let ms = |x: &Expr| -> Result<i64> { Ok(interval_millis(x)?) };
        let spec = match (name.as_str(), args.len()) {
            ("TUMBLE", 2) => GroupWindow::Assigned(WindowSpec::Tumble { size: ms(args[1])? }),
            ("HOP", 3) => GroupWindow::Assigned(WindowSpec::Hop {
                slide: ms(args[1])?,
                size: ms(args[2])?,
            }),
            ("SESSION", 2) => GroupWindow::Session(ms(args[1])?),
            _ => {
                return Err(plan_err!(
                    "wrong number of arguments to {name} at {}",
                    where_at(g)
                ));
            }
        };
        Ok(Some((name, spec, col)))
    }

    /// A session-window aggregation: keys, the session bounds, aggregates.
    #[allow(clippy::too_many_arguments)]
    fn plan_session_aggregate(
        &mut self,
        input: Planned,
        keys: &[Expr],
        session_keys: usize,
        aggs: &[Expr],
        time_col: usize,
        gap: i64,
        legacy: Option<(String, Expr)>,
    ) -> Result<Planned> {
        if input.updating {
            return Err(plan_err!("session windows need an append-only input"));
        }
        let mut pre: Vec<ExprRef> = Vec::new();
        let mut pre_cols: Vec<ScopeColumn> = Vec::new();
        // Sessions without a key are global: a constant session key goes first.
        let global = session_keys == 0;
        push_global_key(global, &mut pre, &mut pre_cols);
        let offset = pre.len();
        for (i, k) in keys.iter().enumerate() {
            let e = self.compile(k, &input.scope)?;
            pre_cols.push(ScopeColumn::new(
                format!("$k{i}"),
                e.data_type().clone(),
                e.nullable(),
            ));
            pre.push(e);
        }
        let session_key_columns = session_keys.max(1);
        let key_columns = pre.len();
        let mut specs = Vec::new();
        for a in aggs {
            specs.push(self.agg_spec(a, &input.scope, &mut pre, &mut pre_cols)?);
        }
        let tcol = &input.scope.columns[time_col];
        let time_type = tcol.data_type.clone();
        pre.push(runnel_expr::column(
            time_col,
            time_type.clone(),
            tcol.nullable,
        ));
        pre_cols.push(ScopeColumn::new("$time", time_type.clone(), true));
        let time_column = pre.len() - 1;
        let (pre_planned, pre_scope, pre_schema) = self.pre_aggregate(&input, pre, pre_cols);
        let mut out_cols: Vec<ScopeColumn> = pre_scope.columns[..key_columns].to_vec();
        let mut bindings = key_bindings(keys, &input.scope, offset);
        let (s, e, t) = (key_columns, key_columns + 1, key_columns + 2);
        out_cols.push(ScopeColumn::new(
            "$ws",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ));
        out_cols.push(ScopeColumn::new(
            "$we",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ));
        out_cols.push(ScopeColumn::new("$wt", time_type, false));
        match &legacy {
            Some((kind, gexpr)) => {
                for (suffix, idx) in [("START", s), ("END", e), ("ROWTIME", t), ("PROCTIME", t)] {
                    bindings.push((rename_call(gexpr, &format!("{kind}_{suffix}")), idx));
                }
            }
            None => {
                for (name, idx) in [("window_start", s), ("window_end", e), ("window_time", t)] {
                    bindings.push((Expr::Identifier(Ident::new(name)), idx));
                }
            }
        }
        let out_scope = aggregate_scope(out_cols, bindings, aggs, &specs);
        let layout = SessionLayout {
            key_columns,
            session_key_columns,
            time_column,
            gap,
            aggs: specs,
            output_schema: schema_of(&Scope {
                columns: out_scope.columns.clone(),
                bindings: vec![],
            }),
        };
        let (partitioning, parallelism) = if global {
            (Partitioning::Single, 1)
        } else {
            let hash = (0..session_key_columns)
                .map(|i| runnel_expr::column(i, pre_schema.field(i).data_type().clone(), true))
                .collect();
            (Partitioning::Hash(hash), self.config.parallelism)
        };
        let in_schema = pre_schema.clone();
        let mut p = self.exchange(
            &[(&pre_planned, partitioning)],
            parallelism,
            format!("SessionWindowAggregate({})", describe_aggs(&layout.aggs)),
            factory(move |ctx| {
                Ok(Box::new(SessionAggregate::new(
                    layout.clone(),
                    in_schema.clone(),
                    ctx,
                )?))
            }),
            out_scope,
        );
        p.rowtime = Some(t);
        p.window = if legacy.is_none() {
            Some((s, e, Some(t)))
        } else {
            None
        };
        Ok(p)
    }

    /// Adds a sink for `input`, casting columns to the sink's types.
    pub fn plan_sink(
        &mut self,
        input: Planned,
        table: &str,
        sink: SinkSpec,
        target: &Schema,
    ) -> Result<()> {
        if input.updating && sink.mode == SinkMode::AppendOnly {
            return Err(plan_err!(
                "Table sink '{table}' doesn't support consuming update and delete changes which is produced by the query"
            ));
        }
        if input.scope.columns.len() != target.fields().len() {
            return Err(plan_err!(
                "Column types of query result and sink for '{table}' do not match: the query produces {} columns, the sink has {} ({})",
                input.scope.columns.len(),
                target.fields().len(),
                target
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let mut exprs = Vec::new();
        for (i, (c, f)) in input.scope.columns.iter().zip(target.fields()).enumerate() {
            let col = runnel_expr::column(i, c.data_type.clone(), c.nullable);
            if &c.data_type == f.data_type() {
                exprs.push(col);
            } else if implicit_cast(&c.data_type, f.data_type()) {
                exprs.push(Arc::new(SinkCast {
                    input: col,
                    to: f.data_type().clone(),
                }));
            } else {
                return Err(plan_err!(
                    "Column types of query result and sink for '{table}' do not match: column `{}` is {} but the sink's `{}` is {}",
                    c.name,
                    runnel_types::flink_type_name(&c.data_type),
                    f.name(),
                    runnel_types::flink_type_name(f.data_type())
                ));
            }
        }
        let schema: SchemaRef = Arc::new(target.clone());
        let s2 = schema.clone();
        let cast = self.chain(
            &input,
            "Calc(sink cast)".into(),
            factory(move |_| Ok(Box::new(Calc::new(None, exprs.clone(), s2.clone())))),
            Scope::from_schema(&schema, None),
        );
        let sink_uid = self.op_uid(&format!("Sink: {table}"), &[&schema]);
        let v = &mut self.vertices[cast.vertex];
        v.chain.push(sink.factory);
        v.chain_names.push(format!("Sink: {table}"));
        v.chain_uids.push(sink_uid);
        v.name = format!("{} -> Sink: {table}", v.name);
        Ok(())
    }

    /// Adds the collect sink of a bare SELECT: all rows to one subtask.
    pub fn plan_collect(&mut self, input: Planned, f: OperatorFactory) -> Planned {
        let scope = input.scope.clone();
        let mut p = self.exchange(
            &[(&input, Partitioning::Single)],
            1,
            "Sink: collect".into(),
            f,
            scope,
        );
        p.updating = input.updating;
        p
    }
}

fn track_window(
    input: &Planned,
    src: usize,
    dst: usize,
    w: &mut (Option<usize>, Option<usize>, Option<usize>),
) {
    if let Some((s, e, t)) = input.window {
        if src == s {
            w.0 = Some(dst);
        } else if src == e {
            w.1 = Some(dst);
        } else if Some(src) == t {
            w.2 = Some(dst);
        }
    }
}

/// The column an expression names directly (`a`, `t.a`, or an expression bound to a column
/// such as an aggregate's `window_start`), if it does.
fn plain_column(e: &Expr, scope: &Scope) -> Option<usize> {
    if let Some((_, i)) = scope.bindings.iter().find(|(b, _)| b == e) {
        return Some(*i);
    }
    let (q, n) = match e {
        Expr::Identifier(i) => (None, &i.value),
        Expr::CompoundIdentifier(p) if p.len() == 2 => (Some(&p[0].value), &p[1].value),
        Expr::Nested(inner) => return plain_column(inner, scope),
        _ => return None,
    };
    let mut found = scope
        .columns
        .iter()
        .enumerate()
        .filter(|(_, c)| &c.name == n && (q.is_none() || c.qualifier.as_ref() == q));
    let first = found.next()?;
    if found.next().is_some() {
        return None;
    }
    Some(first.0)
}

/// `TUMBLE(ts, i)` → `TUMBLE_START(ts, i)`: the auxiliary functions of a legacy group window.
fn rename_call(e: &Expr, name: &str) -> Expr {
    let mut e = e.clone();
    if let Expr::Function(f) = &mut e {
        f.name = ObjectName::from(vec![Ident::new(name)]);
    }
    e
}

const AGGREGATES: [&str; 5] = ["COUNT", "SUM", "AVG", "MIN", "MAX"];

/// Collects the aggregate calls of an expression (outermost first, no duplicates).
fn collect_aggs(e: &Expr, out: &mut Vec<Expr>) {
    if let Expr::Function(f) = e {
        let n = object_name(&f.name).to_ascii_uppercase();
        if AGGREGATES.contains(&n.as_str()) && f.over.is_none() {
            if !out.contains(e) {
                out.push(e.clone());
            }
            return;
        }
    }
    visit_children(e, &mut |c| collect_aggs(c, out));
}

fn visit_children(e: &Expr, f: &mut dyn FnMut(&Expr)) {
    match e {
        Expr::BinaryOp { left, right, .. } => {
            f(left);
            f(right);
        }
        Expr::UnaryOp { expr, .. }
        | Expr::Nested(expr)
        | Expr::Cast { expr, .. }
        | Expr::IsNull(expr)
        | Expr::IsNotNull(expr)
        | Expr::IsTrue(expr)
        | Expr::IsFalse(expr)
        | Expr::IsNotTrue(expr)
        | Expr::IsNotFalse(expr) => f(expr),
        Expr::Between {
            expr, low, high, ..
        } => {
            f(expr);
            f(low);
            f(high);
        }
        Expr::InList { expr, list, .. } => {
            f(expr);
            list.iter().for_each(&mut *f);
        }
        Expr::Like { expr, pattern, .. } | Expr::ILike { expr, pattern, .. } => {
            f(expr);
            f(pattern);
        }
        Expr::Case {
            operand,
            conditions,
            else_result,
            ..
        } => {
            if let Some(o) = operand {
                f(o);
            }
            for c in conditions {
                f(&c.condition);
                f(&c.result);
            }
            if let Some(e) = else_result {
                f(e);
            }
        }
        Expr::Function(func) => {
            if let FunctionArguments::List(l) = &func.args {
                for a in &l.args {
                    if let FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) = a {
                        f(x);
                    }
                }
            }
        }
        _ => {}
    }
}

/// The implicit cast of a query column to its sink column's type.
#[derive(Debug)]
struct SinkCast {
    input: ExprRef,
    to: DataType,
}

impl runnel_expr::PhysicalExpr for SinkCast {
    fn data_type(&self) -> &DataType {
        &self.to
    }

    fn nullable(&self) -> bool {
        self.input.nullable()
    }

    fn evaluate_value(
        &self,
        batch: &arrow::record_batch::RecordBatch,
    ) -> std::result::Result<runnel_expr::ColumnarValue, runnel_expr::ExprError> {
        let a = self.input.evaluate(batch)?;
        Ok(runnel_expr::ColumnarValue::Array(runnel_expr::cast_array(
            &a, &self.to,
        )?))
    }
}

fn joined_scope(l: &Scope, r: &Scope) -> Scope {
    Scope {
        columns: l.columns.iter().chain(&r.columns).cloned().collect(),
        bindings: Vec::new(),
    }
}

fn split_conjuncts(e: &Expr, out: &mut Vec<Expr>) {
    match e {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            split_conjuncts(left, out);
            split_conjuncts(right, out);
        }
        Expr::Nested(inner)
            if matches!(
                **inner,
                Expr::BinaryOp {
                    op: BinaryOperator::And,
                    ..
                }
            ) =>
        {
            split_conjuncts(inner, out)
        }
        other => out.push(other.clone()),
    }
}

fn conjoin(mut v: Vec<Expr>) -> Option<Expr> {
    if v.is_empty() {
        return None;
    }
    let first = v.remove(0);
    Some(v.into_iter().fold(first, |acc, e| Expr::BinaryOp {
        left: Box::new(acc),
        op: BinaryOperator::And,
        right: Box::new(e),
    }))
}

fn cast_to(e: ExprRef, t: &DataType) -> ExprRef {
    if e.data_type() == t {
        e
    } else {
        Arc::new(SinkCast {
            input: e,
            to: t.clone(),
        })
    }
}

fn is_row_number(e: &Expr) -> bool {
    matches!(e, Expr::Function(f) if f.over.is_some() && object_name(&f.name).eq_ignore_ascii_case("ROW_NUMBER"))
}

/// The ROW_NUMBER() call of a projection, if any.
fn projection_row_number(items: &[SelectItem]) -> Option<&Expr> {
    items.iter().find_map(|i| match i {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. }
            if is_row_number(e) =>
        {
            Some(e)
        }
        _ => None,
    })
}

/// The column name under which a FROM subquery exposes ROW_NUMBER(), if it does.
fn row_number_alias(from: &[TableWithJoins]) -> Option<String> {
    let [t] = from else { return None };
    if !t.joins.is_empty() {
        return None;
    }
    let TableFactor::Derived { subquery, .. } = &t.relation else {
        return None;
    };
    let SetExpr::Select(inner) = subquery.body.as_ref() else {
        return None;
    };
    inner.projection.iter().find_map(|i| match i {
        SelectItem::ExprWithAlias { expr, alias } if is_row_number(expr) => {
            Some(alias.value.clone())
        }
        SelectItem::UnnamedExpr(e) if is_row_number(e) => Some("EXPR$0".to_string()),
        _ => None,
    })
}

/// `rn <= N`, `rn < N`, `rn = N` (N = 1), `N >= rn`: the Top-N limit.
fn rank_limit(e: &Expr, alias: &str) -> Option<usize> {
    let Expr::BinaryOp { left, op, right } = e else {
        return None;
    };
    let is_rn = |x: &Expr| {
        matches!(x, Expr::Identifier(i) if i.value == alias)
            || matches!(x, Expr::CompoundIdentifier(p) if p.last().is_some_and(|i| i.value == alias))
    };
    let num = |x: &Expr| match x {
        Expr::Value(v) => match &v.value {
            sqlparser::ast::Value::Number(n, _) => n.parse::<usize>().ok(),
            _ => None,
        },
        _ => None,
    };
    let (op, n) = if is_rn(left) {
        (op.clone(), num(right)?)
    } else if is_rn(right) {
        let flipped = match op {
            BinaryOperator::GtEq => BinaryOperator::LtEq,
            BinaryOperator::Gt => BinaryOperator::Lt,
            BinaryOperator::Eq => BinaryOperator::Eq,
            _ => return None,
        };
        (flipped, num(left)?)
    } else {
        return None;
    };
    match op {
        BinaryOperator::LtEq => Some(n),
        BinaryOperator::Lt => n.checked_sub(1),
        BinaryOperator::Eq if n == 1 => Some(1),
        _ => None,
    }
}

/// Whether an expression mentions the column `name` (as a whole word).
fn mentions(e: &Expr, name: &str) -> bool {
    let text = e.to_string();
    text.match_indices(name).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + name.len()..].chars().next();
        let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        !word(before) && !word(after)
    })
}

/// A group window of the legacy `GROUP BY TUMBLE(..)` syntax.
enum GroupWindow {
    /// Rows are assigned to fixed windows.
    Assigned(WindowSpec),
    /// Sessions with this gap (ms).
    Session(i64),
}

/// Keyed operators need a key: a query without GROUP BY keys groups by a constant.
fn push_global_key(global: bool, pre: &mut Vec<ExprRef>, cols: &mut Vec<ScopeColumn>) {
    if global {
        pre.push(runnel_expr::literal(runnel_expr::ScalarValue::Int32(0)));
        cols.push(ScopeColumn::new("$global", DataType::Int32, false));
    }
}

/// A session window found in GROUP BY: time column, gap, and the legacy call if any.
type SessionGrouping = (usize, i64, Option<(String, Expr)>);

/// Bindings for GROUP BY keys at output columns `offset..`: the key as written, and for a plain
/// column also its other spellings (`a` and `t.a`), so SELECT may name it either way.
fn key_bindings(keys: &[Expr], scope: &Scope, offset: usize) -> Vec<(Expr, usize)> {
    let mut out = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        out.push((k.clone(), i + offset));
        if let Some(c) = plain_column(k, scope) {
            let col = &scope.columns[c];
            out.push((Expr::Identifier(Ident::new(&col.name)), i + offset));
            if let Some(q) = &col.qualifier {
                out.push((
                    Expr::CompoundIdentifier(vec![Ident::new(q), Ident::new(&col.name)]),
                    i + offset,
                ));
            }
        }
    }
    out
}

/// Flink's implicit casts when a query column meets its sink column: widening numeric
/// conversions and precision changes, never a change of kind (STRING to BOOLEAN is an error).
fn implicit_cast(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    let rank = |t: &DataType| match t {
        Int8 => Some(1),
        Int16 => Some(2),
        Int32 => Some(3),
        Int64 => Some(4),
        Decimal128(_, _) => Some(5),
        Float32 => Some(6),
        Float64 => Some(7),
        _ => None,
    };
    match (from, to) {
        (Null, _) => true,
        (Decimal128(_, _), Decimal128(_, _)) => true,
        (Timestamp(_, a), Timestamp(_, b)) => a.is_some() == b.is_some(),
        (Utf8 | LargeUtf8 | Utf8View, Utf8 | LargeUtf8 | Utf8View) => true,
        _ => matches!((rank(from), rank(to)), (Some(a), Some(b)) if a <= b),
    }
}

/// The stream in front of an aggregate and how its columns are laid out.
struct PreAggregate {
    planned: Planned,
    scope: Scope,
    schema: SchemaRef,
    specs: Vec<AggSpec>,
    /// Leading key columns that choose the key group (window bounds excluded).
    partition_columns: usize,
    window_keys: Option<WindowKeys>,
    /// All key columns, window bounds included.
    key_columns: usize,
}

/// The output scope of an aggregate: its key (and window) columns, then one column per call,
/// with `bindings` extended so each call's expression names its column.
fn aggregate_scope(
    mut columns: Vec<ScopeColumn>,
    mut bindings: Vec<(Expr, usize)>,
    aggs: &[Expr],
    specs: &[AggSpec],
) -> Scope {
    for (i, (a, spec)) in aggs.iter().zip(specs).enumerate() {
        bindings.push((a.clone(), columns.len()));
        columns.push(ScopeColumn::new(
            format!("$a{i}"),
            spec.output_type.clone(),
            true,
        ));
    }
    Scope { columns, bindings }
}

/// What an aggregating SELECT block computes before HAVING and its projection, as text:
/// FROM, WHERE, GROUP BY and the aggregate calls. `None` when the block does not aggregate.
fn aggregation_digest(s: &Select, conjuncts: &[Expr]) -> Option<String> {
    let group = match &s.group_by {
        GroupByExpr::Expressions(e, _) => e.clone(),
        GroupByExpr::All(_) => return None,
    };
    let mut aggs = Vec::new();
    for item in &s.projection {
        if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = item {
            collect_aggs(e, &mut aggs);
        }
    }
    if let Some(h) = &s.having {
        collect_aggs(h, &mut aggs);
    }
    if (group.is_empty() && aggs.is_empty()) || s.distinct.is_some() {
        return None;
    }
    let join = |v: &[Expr]| {
        v.iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let from: Vec<String> = s.from.iter().map(|t| t.to_string()).collect();
    Some(format!(
        "FROM {} WHERE {} GROUP BY {} AGG {}",
        from.join(", "),
        join(conjuncts),
        join(&group),
        join(&aggs)
    ))
}

/// `COUNT(*), SUM($1), COUNT(DISTINCT $2)`: an aggregate list for names and uids.
fn describe_aggs(aggs: &[crate::operators::AggSpec]) -> String {
    aggs.iter()
        .map(|a| {
            let arg = a.arg.map(|i| format!("${i}")).unwrap_or_else(|| "*".into());
            let distinct = if a.distinct { "DISTINCT " } else { "" };
            let filter = a
                .filter
                .map(|f| format!(" FILTER ${f}"))
                .unwrap_or_default();
            format!("{:?}({distinct}{arg}){filter}", a.func)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Flink's query hints: `STATE_TTL('input' = '1d', ...)`; join strategy hints (BROADCAST,
/// SHUFFLE_HASH, SHUFFLE_MERGE, NEST_LOOP, LOOKUP) only steer batch jobs and are accepted.
fn parse_hints(
    hints: &[sqlparser::ast::OptimizerHint],
) -> Result<std::collections::HashMap<String, Duration>> {
    let mut ttl = std::collections::HashMap::new();
    for h in hints.iter().filter(|h| h.prefix.is_empty()) {
        let text = h.text.trim();
        let mut rest = text;
        while !rest.trim_start().is_empty() {
            let r = rest.trim_start().trim_start_matches(',').trim_start();
            let open = r
                .find('(')
                .ok_or_else(|| plan_err!("malformed query hint '{text}'"))?;
            let name = r[..open].trim().to_ascii_uppercase();
            let close = r[open..]
                .find(')')
                .map(|i| open + i)
                .ok_or_else(|| plan_err!("malformed query hint '{text}': no closing ')'"))?;
            let args = &r[open + 1..close];
            rest = &r[close + 1..];
            match name.as_str() {
                "STATE_TTL" => {
                    for kv in args.split(',').filter(|a| !a.trim().is_empty()) {
                        let (k, v) = kv.split_once('=').ok_or_else(|| {
                            plan_err!(
                                "STATE_TTL hint entries look like 'table' = '1d', got '{}'",
                                kv.trim()
                            )
                        })?;
                        let unquote = |s: &str| s.trim().trim_matches('\'').to_string();
                        let (k, v) = (unquote(k), unquote(v));
                        let d = crate::connectors::parse_duration(&v).ok_or_else(|| {
                            plan_err!("STATE_TTL hint: '{v}' for '{k}' is not a duration such as '1d' or '12 h'")
                        })?;
                        ttl.insert(k, d);
                    }
                }
                "BROADCAST" | "SHUFFLE_HASH" | "SHUFFLE_MERGE" | "NEST_LOOP" | "LOOKUP" => {}
                other => {
                    return Err(plan_err!(
                        "unknown query hint '{other}' (supported: STATE_TTL, and the join \
                         strategy hints BROADCAST, SHUFFLE_HASH, SHUFFLE_MERGE, NEST_LOOP, LOOKUP)"
                    ));
                }
            }
        }
    }
    Ok(ttl)
}
