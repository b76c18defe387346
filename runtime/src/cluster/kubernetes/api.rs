//! The Kubernetes API client of a JobManager. It lives on a runtime of its own so the
//! synchronous parts of the JobManager (the HA store's writes at each checkpoint, the slot
//! pool's requests) can use it from any thread, and so a client is never tied to a job's runtime.

use std::future::Future;
use std::sync::OnceLock;

use crate::error::{Result, RunnelError};

/// The longest a request to the API server may go unanswered (it is then an error, and
/// retried where its caller retries).
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// A Kubernetes client and the runtime its requests run on.
#[derive(Clone)]
pub(crate) struct Kube {
    client: kube::Client,
}

impl std::fmt::Debug for Kube {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kube")
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("runnel-kubernetes")
            .enable_all()
            .build()
            .expect("starting the Kubernetes client's runtime")
    })
}

impl Kube {
    /// The process's client, made on first use with the pod's service account (or
    /// `KUBECONFIG` outside a cluster).
    pub(crate) fn connect() -> Result<Self> {
        static KUBE: OnceLock<std::result::Result<Kube, String>> = OnceLock::new();
        KUBE.get_or_init(|| {
            // Other dependencies compile in another TLS provider; say which one this process uses.
            let _ = rustls::crypto::ring::default_provider().install_default();
            Self::block(async {
                let mut config = kube::Config::infer()
                    .await
                    .map_err(|e| format!("Kubernetes configuration: {e}"))?;
                // No request may hang: the HA store writes at each checkpoint wait for it.
                config.read_timeout = Some(REQUEST_TIMEOUT);
                config.write_timeout = Some(REQUEST_TIMEOUT);
                kube::Client::try_from(config)
                    .map(|client| Kube { client })
                    .map_err(|e| format!("Kubernetes client: {e}"))
            })
        })
        .clone()
        .map_err(RunnelError::Cluster)
    }

    /// The client (use it inside [`Kube::block`] or [`Kube::run`]).
    pub(crate) fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// Runs `f` on the client's runtime and waits for it, from any thread.
    pub(crate) fn block<T: Send + 'static>(f: impl Future<Output = T> + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        runtime().spawn(async move {
            let _ = tx.send(f.await);
        });
        rx.recv().expect("the Kubernetes client's runtime stopped")
    }

    /// Runs `f` on the client's runtime and awaits it.
    pub(crate) async fn run<T: Send + 'static>(f: impl Future<Output = T> + Send + 'static) -> T {
        runtime()
            .spawn(f)
            .await
            .expect("a Kubernetes request panicked")
    }

    /// Starts `f` on the client's runtime.
    pub(crate) fn spawn(
        f: impl Future<Output = ()> + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        runtime().spawn(f)
    }
}

/// An API error with what was being done.
pub(crate) fn api_error(what: impl std::fmt::Display, e: kube::Error) -> RunnelError {
    RunnelError::Cluster(format!("Kubernetes API: {what}: {e}"))
}

/// Whether an API error is a 404.
pub(crate) fn not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// Whether an API error is a 409 (a write lost a race, or the object exists).
pub(crate) fn conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}
