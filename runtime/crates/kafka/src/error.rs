use kafka_protocol::ResponseError;

/// What went wrong talking to Kafka, naming the broker or the call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The broker could not be reached or the connection broke.
    #[error("Kafka broker {addr}: {source}")]
    Io {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    /// A call got no answer in time.
    #[error("Kafka broker {addr}: no answer to {api} within {secs} s")]
    Timeout {
        addr: String,
        api: &'static str,
        secs: u64,
    },
    /// None of the bootstrap servers answered.
    #[error("no Kafka broker of '{servers}' could be reached: {last}")]
    Unreachable { servers: String, last: Box<Error> },
    /// The broker answered with an error code.
    #[error("Kafka {api} {context}: {error}")]
    Broker {
        api: &'static str,
        context: String,
        error: ResponseError,
    },
    /// A topic that does not exist (or that this client may not see).
    #[error("Kafka topic '{0}' does not exist")]
    UnknownTopic(String),
    /// The bytes on the wire were not what the protocol says.
    #[error("Kafka protocol error from {addr}: {message}")]
    Protocol { addr: String, message: String },
    /// The broker does not speak a version of a call this client needs.
    #[error("Kafka broker {addr} does not support {api} at a version this client speaks")]
    Unsupported { addr: String, api: &'static str },
}

impl Error {
    /// Whether trying again (after refreshing metadata) may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            Error::Io { .. } | Error::Timeout { .. } | Error::Unreachable { .. } => true,
            Error::Broker { error, .. } => {
                error.is_retriable()
                    || matches!(
                        error,
                        ResponseError::NotCoordinator
                            | ResponseError::CoordinatorNotAvailable
                            | ResponseError::CoordinatorLoadInProgress
                            | ResponseError::ConcurrentTransactions
                    )
            }
            _ => false,
        }
    }

    /// The broker's error code, if this is a broker error.
    pub fn code(&self) -> Option<ResponseError> {
        match self {
            Error::Broker { error, .. } => Some(*error),
            _ => None,
        }
    }
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Turns a response's error code into an error for `api` about `context`.
pub(crate) fn check(code: i16, api: &'static str, context: impl FnOnce() -> String) -> Result<()> {
    match ResponseError::try_from_code(code) {
        None => Ok(()),
        Some(error) => Err(Error::Broker {
            api,
            context: context(),
            error,
        }),
    }
}
