use arrow::error::ArrowError;

/// Why an expression cannot be compiled; messages name the expression and where it is.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// A name that matches no column of the scope.
    #[error("unknown column `{name}`{at} (available: {available})")]
    UnknownColumn {
        /// The name as written.
        name: String,
        /// ` at line L, column C`, or empty when the position is unknown.
        at: String,
        /// The visible column names, comma separated.
        available: String,
    },
    /// A function name that Runnel does not know.
    #[error("unknown function `{name}`{at}")]
    UnknownFunction {
        /// The name as written.
        name: String,
        /// ` at line L, column C`, or empty.
        at: String,
    },
    /// Operand types an operator or function does not accept.
    #[error("{0}")]
    Type(String),
    /// Valid SQL that Runnel does not support (yet).
    #[error("{0}")]
    Unsupported(String),
    /// A malformed literal, type or argument.
    #[error("{0}")]
    Invalid(String),
}

/// Why evaluating an expression failed; such an error fails the job, as in Flink.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExprError {
    /// Integer (or decimal) division or modulo by zero, which Flink reports as an
    /// `ArithmeticException`.
    #[error("division by zero in `{0}`")]
    DivideByZero(String),
    /// A CAST whose input is not a valid value of the target type (TRY_CAST gives NULL).
    #[error("cannot cast '{value}' to {target}: {reason} (use TRY_CAST to get NULL instead)")]
    Cast {
        /// The offending input, as text.
        value: String,
        /// The target type, in Flink's spelling.
        target: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Any other evaluation failure.
    #[error("{0}")]
    Eval(String),
    /// An error from an Arrow kernel.
    #[error("arrow: {0}")]
    Arrow(String),
}

impl From<ArrowError> for ExprError {
    fn from(e: ArrowError) -> Self {
        match e {
            ArrowError::DivideByZero => ExprError::DivideByZero("/".into()),
            other => ExprError::Arrow(other.to_string()),
        }
    }
}
