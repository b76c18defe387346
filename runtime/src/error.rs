//! The runtime's error type: every failure a user can meet, each naming what and where.

use thiserror::Error;

/// Errors of planning and running a job.
#[derive(Debug, Error)]
pub enum RunnelError {
    /// The SQL text does not parse; the message names line and column.
    #[error("SQL parse error: {0}")]
    Parse(String),
    /// The SQL parses but cannot be planned (unknown table, column, function, type mismatch).
    #[error("{0}")]
    Plan(String),
    /// A connector's options are wrong or its endpoint cannot be used.
    #[error("{0}")]
    Connector(String),
    /// A record could not be read or written.
    #[error(transparent)]
    Format(#[from] runnel_formats::FormatError),
    /// An expression failed at run time (a CAST of a bad string, a division by zero).
    #[error(transparent)]
    Expr(#[from] runnel_expr::ExprError),
    /// An expression failed at plan time.
    #[error(transparent)]
    ExprPlan(#[from] runnel_expr::PlanError),
    /// Arrow refused an operation; a bug or an unsupported type combination.
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    /// Reading or writing a file failed.
    #[error("{context}: {error}")]
    Io {
        /// What was being done, with the path.
        context: String,
        /// The underlying error.
        error: std::io::Error,
    },
    /// Checkpoint or savepoint state is missing, corrupt or does not fit the job.
    #[error("{0}")]
    State(String),
    /// The data plane between TaskManagers: a lost connection or a corrupt frame.
    #[error("{0}")]
    Network(String),
    /// The cluster could not do what the job needs: no slots, a TaskManager lost, a
    /// JobManager unreachable.
    #[error("{0}")]
    Cluster(String),
    /// A task on another TaskManager failed; its message, and where it ran.
    #[error("{message} (on TaskManager {task_manager})")]
    Remote {
        /// The TaskManager's id.
        task_manager: String,
        /// The failure as that TaskManager reported it.
        message: String,
    },
    /// A bug: an operator panicked. The message says where; please report it.
    #[error("internal error (a bug in Runnel): {0}")]
    Internal(String),
    /// The job was cancelled.
    #[error("job cancelled")]
    Cancelled,
    /// A subtask failed; the message names the vertex and subtask.
    #[error("{vertex} (subtask {subtask}) failed: {cause}")]
    Task {
        /// Vertex name.
        vertex: String,
        /// Subtask index.
        subtask: u32,
        /// What went wrong.
        cause: Box<RunnelError>,
    },
}

/// Shorthand for results of the runtime.
pub type Result<T, E = RunnelError> = std::result::Result<T, E>;

impl RunnelError {
    /// An I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        RunnelError::Io {
            context: context.into(),
            error: source,
        }
    }

    /// A configuration option with a value it does not take: names both and what it wants.
    pub fn bad_option(name: &str, value: &str, want: &str) -> Self {
        RunnelError::Plan(format!(
            "configuration '{name}' must be {want}, got '{value}'"
        ))
    }
}

/// Builds a [`RunnelError::Plan`] from a format string.
#[macro_export]
macro_rules! plan_err {
    ($($arg:tt)*) => { $crate::error::RunnelError::Plan(format!($($arg)*)) };
}
