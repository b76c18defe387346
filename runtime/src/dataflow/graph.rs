use std::fmt;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use runnel_expr::ExprRef;

use crate::connectors::Source;
use crate::error::Result;
use crate::operators::{Operator, SubtaskContext};

/// Index of a vertex in its [`JobGraph`].
pub type VertexId = usize;

/// Makes one subtask's operator; called once per subtask when the job is deployed.
pub type OperatorFactory = Arc<dyn Fn(&SubtaskContext) -> Result<Box<dyn Operator>> + Send + Sync>;

/// Makes one subtask's source reader.
pub type SourceFactory = Arc<dyn Fn(&SubtaskContext) -> Result<Box<dyn Source>> + Send + Sync>;

/// How records leave the subtasks of an edge's upstream vertex.
#[derive(Clone)]
pub enum Partitioning {
    /// Subtask i sends to subtask i (equal parallelism).
    Forward,
    /// By the hash of the key columns, through key groups.
    Hash(Vec<ExprRef>),
    /// Batches round-robin over the downstream subtasks.
    Rebalance,
    /// Every batch to every downstream subtask.
    Broadcast,
    /// Everything to downstream subtask 0 (a vertex of parallelism 1).
    Single,
}

impl fmt::Debug for Partitioning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Partitioning::Forward => write!(f, "FORWARD"),
            Partitioning::Hash(k) => write!(f, "HASH[{}]", k.len()),
            Partitioning::Rebalance => write!(f, "REBALANCE"),
            Partitioning::Broadcast => write!(f, "BROADCAST"),
            Partitioning::Single => write!(f, "GLOBAL"),
        }
    }
}

/// What a vertex runs: a source followed by a chain, or a chain fed by its input edges.
#[derive(Clone)]
pub enum VertexKind {
    /// Reads from outside; no input edges.
    Source(SourceFactory),
    /// Processes its inputs (one per input edge, in `Edge::input` order).
    Operators,
}

/// A node of the job graph: a chain of operators that runs as one task per subtask.
#[derive(Clone)]
pub struct Vertex {
    /// Position in the graph.
    pub id: VertexId,
    /// Human-readable description, as shown by `EXPLAIN` and the REST API.
    pub name: String,
    /// Stable identity derived from the plan, so savepoints map onto operators after edits.
    pub uid: String,
    /// Number of subtasks.
    pub parallelism: u32,
    /// Source or operators.
    pub kind: VertexKind,
    /// Operators applied in order within one subtask (chained: no channel between them).
    pub chain: Vec<OperatorFactory>,
    /// Names of the chained operators, for display.
    pub chain_names: Vec<String>,
    /// Stable ids of the chained operators: their state in a savepoint is found by these, so
    /// they depend on what the operator does and reads, not on where it sits in the plan.
    pub chain_uids: Vec<String>,
    /// Schema of the records the vertex emits.
    pub output_schema: SchemaRef,
    /// For a source: how many leading chain operators belong to the table scan itself
    /// (computed columns, watermarks), so scans of one table can be shared by several readers.
    pub scan_ops: usize,
}

/// A directed edge: records of `source` flow to input `input` of `target`.
#[derive(Clone, Debug)]
pub struct Edge {
    /// Upstream vertex.
    pub source: VertexId,
    /// Downstream vertex.
    pub target: VertexId,
    /// Which input of the downstream vertex (0 for single-input operators; 0/1 for joins).
    pub input: usize,
    /// How records are routed.
    pub partitioning: Partitioning,
}

/// A job: vertices and edges, plus the key-group count shared by all keyed operators.
#[derive(Clone)]
pub struct JobGraph {
    /// The job's name.
    pub name: String,
    /// Vertices, in topological order (sources first).
    pub vertices: Vec<Vertex>,
    /// Edges between vertices.
    pub edges: Vec<Edge>,
    /// Number of key groups (Flink's `maxParallelism`).
    pub max_parallelism: u32,
    /// Idle state retention of non-windowed keyed operators (`table.exec.state.ttl`).
    pub state_ttl: Option<std::time::Duration>,
    /// Where keyed state lives (`state.backend.type`).
    pub state_backend: crate::state::StateBackend,
}

impl JobGraph {
    /// Edges arriving at `v`, ordered by input index.
    pub fn inputs_of(&self, v: VertexId) -> Vec<&Edge> {
        let mut e: Vec<&Edge> = self.edges.iter().filter(|e| e.target == v).collect();
        e.sort_by_key(|e| e.input);
        e
    }

    /// Slots the job takes: its highest parallelism, as its pipelines share slots.
    pub fn slots_needed(&self) -> u32 {
        self.vertices
            .iter()
            .map(|v| v.parallelism)
            .max()
            .unwrap_or(1)
    }

    /// Edges leaving `v`.
    pub fn outputs_of(&self, v: VertexId) -> Vec<&Edge> {
        self.edges.iter().filter(|e| e.source == v).collect()
    }

    /// A plan description like Flink's `EXPLAIN` stream graph section.
    pub fn explain(&self) -> String {
        let mut s = String::new();
        for v in &self.vertices {
            s.push_str(&format!(
                "[{}] {} (parallelism {}, uid {})\n",
                v.id, v.name, v.parallelism, v.uid
            ));
            for e in self.inputs_of(v.id) {
                s.push_str(&format!(
                    "    <- input {} from [{}] {:?}\n",
                    e.input, e.source, e.partitioning
                ));
            }
        }
        s
    }
}
