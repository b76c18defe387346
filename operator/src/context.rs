//! What every reconcile shares: the Kubernetes client, the JobManager REST client, metrics,
//! the event reporter and the operator's settings.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::runtime::events::Reporter;

use crate::metrics::Metrics;
use crate::rest::JobManagerRest;

/// Settings from the command line.
#[derive(Clone, Debug)]
pub struct Settings {
    /// How long a new deployment may take to run its job before it is rolled back.
    pub deployment_timeout: Duration,
    /// How often healthy resources are observed again.
    pub observe_interval: Duration,
}

/// Shared by all reconciles.
pub struct Context {
    pub client: kube::Client,
    pub rest: JobManagerRest,
    pub metrics: Arc<Metrics>,
    pub reporter: Reporter,
    pub settings: Settings,
    /// Consecutive failed reconciles per resource uid.
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    pub fn new(
        client: kube::Client,
        metrics: Arc<Metrics>,
        settings: Settings,
    ) -> anyhow::Result<Self> {
        Ok(Context {
            client,
            rest: JobManagerRest::new()?,
            metrics,
            reporter: Reporter {
                controller: "runnel-operator".into(),
                instance: std::env::var("POD_NAME").ok(),
            },
            settings,
            failures: Mutex::default(),
        })
    }

    /// The next retry delay of resource `uid` (2 s doubling to 5 minutes).
    pub fn backoff(&self, uid: &str) -> Duration {
        let mut failures = self.failures.lock().expect("failures");
        let n = failures.entry(uid.to_string()).or_default();
        *n = n.saturating_add(1);
        Duration::from_secs(2u64.saturating_pow((*n).min(9))).min(Duration::from_secs(300))
    }

    /// Resource `uid` reconciled fine.
    pub fn backoff_reset(&self, uid: &str) {
        self.failures.lock().expect("failures").remove(uid);
    }
}
