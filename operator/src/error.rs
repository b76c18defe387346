//! What goes wrong while reconciling, with enough context to act on.

/// A reconcile error; the controller retries with backoff and writes the reason to status.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Kubernetes API refused or failed a request.
    #[error("Kubernetes API: {what}: {source}")]
    Kube {
        what: String,
        #[source]
        source: kube::Error,
    },
    /// A JobManager's REST API refused or failed a request.
    #[error("JobManager REST API {url}: {message}")]
    Rest { url: String, message: String },
    /// Deletion is under way (a savepoint, objects going); the finalizer stays until it is
    /// done. Not a failure: retried soon, without backoff.
    #[error("deletion in progress: {0}")]
    Deleting(String),
    /// The resource asks for something that cannot be done as written (a missing ConfigMap
    /// or Secret, a state that cannot be found); it waits for the user.
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// Wraps a Kubernetes error with what was being done.
    pub fn kube(what: impl Into<String>, source: kube::Error) -> Self {
        Error::Kube {
            what: what.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
