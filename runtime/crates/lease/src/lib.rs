//! Leader election on a Kubernetes Lease (`coordination.k8s.io/v1`): one holder at a time,
//! which renews the Lease while it lives; a candidate takes it once the holder has not renewed
//! it for the lease duration. Used by JobManagers (high availability) and by the operator's
//! replicas.
//!
//! Two leaders must not overlap: a holder gives up when it has not renewed within a deadline
//! shorter than the lease duration (each attempt bounded by what is left of it, so a request
//! that hangs cannot keep it leading), and a candidate judges a Lease expired by its own
//! monotonic clock, from when it saw the Lease last change, not by comparing the holder's
//! wall clock with its own.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::core::ObjectMeta;

/// How long a Lease lasts, how long its holder may fail to renew it before giving up, and how
/// often holders renew and candidates retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

impl Default for Timing {
    /// client-go's defaults: 15 s, 10 s, 2 s (a holder renews five times within its deadline,
    /// so one slow answer does not cost it the Lease).
    fn default() -> Self {
        Timing {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

impl Timing {
    /// The renew deadline a holder keeps: at least a retry period below the lease duration,
    /// so a holder that cannot renew gives up before a candidate may take the Lease (Flink's
    /// defaults, 15 s for both, leave no margin).
    pub fn deadline(&self) -> Duration {
        self.renew_deadline
            .min(self.lease_duration.saturating_sub(self.retry_period))
            .max(Duration::from_millis(1))
    }
}

/// A candidate for one Lease.
#[derive(Clone)]
pub struct Elector {
    api: Api<Lease>,
    name: String,
    identity: String,
    labels: BTreeMap<String, String>,
    timing: Timing,
    /// The other holder's Lease as last seen (its resource version) and when it was first
    /// seen so.
    seen: Arc<Mutex<Option<(String, Instant)>>>,
}

/// Why a leader stopped leading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lost {
    /// Another candidate holds the Lease now.
    TakenBy(String),
    /// The Lease could not be renewed within the renew deadline (the last error, if any).
    NotRenewed(Option<String>),
}

impl std::fmt::Display for Lost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Lost::TakenBy(holder) => write!(f, "{holder} holds the Lease now"),
            Lost::NotRenewed(None) => f.write_str("the Lease could not be renewed in time"),
            Lost::NotRenewed(Some(e)) => write!(f, "the Lease could not be renewed in time: {e}"),
        }
    }
}

impl Elector {
    /// A candidate `identity` for the Lease `name` in `namespace` (created with `labels`).
    pub fn new(
        client: kube::Client,
        namespace: &str,
        name: &str,
        identity: &str,
        labels: BTreeMap<String, String>,
        timing: Timing,
    ) -> Self {
        Elector {
            api: Api::namespaced(client, namespace),
            name: name.into(),
            identity: identity.into(),
            labels,
            timing,
            seen: Arc::default(),
        }
    }

    /// The Lease's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Waits until this candidate holds the Lease; `waiting` hears of the holder once.
    /// Transient API errors (unavailable, timeouts) are tried again; others end the wait.
    pub async fn acquire(&self, mut waiting: impl FnMut(&str)) -> Result<(), kube::Error> {
        let mut told = false;
        loop {
            match tokio::time::timeout(self.timing.lease_duration, self.try_take()).await {
                Ok(Ok(Some(holder))) if holder == self.identity => return Ok(()),
                Ok(Ok(Some(holder))) if !told => {
                    waiting(&holder);
                    told = true;
                }
                Ok(Err(e)) if !transient(&e) => return Err(e),
                _ => {}
            }
            tokio::time::sleep(self.timing.retry_period).await;
        }
    }

    /// Renews the Lease until leadership is lost, and says why. The deadline runs from the
    /// start of the last renewal that succeeded (the Lease's renew time is no earlier), and
    /// no attempt outlasts it.
    pub async fn keep(&self) -> Lost {
        let deadline = self.timing.deadline();
        let mut renewed = Instant::now();
        let mut last_error = None;
        loop {
            let left = deadline.saturating_sub(renewed.elapsed());
            tokio::time::sleep(self.timing.retry_period.min(left)).await;
            let left = deadline.saturating_sub(renewed.elapsed());
            if left.is_zero() {
                return Lost::NotRenewed(last_error);
            }
            let started = Instant::now();
            match tokio::time::timeout(left, self.try_take()).await {
                Ok(Ok(Some(holder))) if holder == self.identity => {
                    renewed = started;
                    last_error = None;
                }
                Ok(Ok(Some(holder))) => return Lost::TakenBy(holder),
                Ok(Ok(None)) => {}
                Ok(Err(e)) => last_error = Some(e.to_string()),
                Err(_) => {
                    last_error = Some(format!("no answer within {} ms", left.as_millis()));
                }
            }
        }
    }

    /// Gives the Lease up, for a holder that stops on purpose: a candidate takes it at once
    /// rather than after the lease duration.
    pub async fn release(&self) -> Result<(), kube::Error> {
        // A renewal may write between the read and the write: read again then.
        loop {
            let Some(mut lease) = self.api.get_opt(&self.name).await? else {
                return Ok(());
            };
            let spec = lease.spec.get_or_insert_with(Default::default);
            if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
                return Ok(());
            }
            spec.holder_identity = None;
            spec.renew_time = Some(MicroTime(Timestamp::now()));
            match self
                .api
                .replace(&self.name, &PostParams::default(), &lease)
                .await
            {
                Err(kube::Error::Api(s)) if s.code == 409 => continue,
                result => return result.map(|_| ()),
            }
        }
    }

    /// One attempt to take or renew the Lease; returns its holder afterwards (`None` when a
    /// write lost a race).
    async fn try_take(&self) -> Result<Option<String>, kube::Error> {
        let now = MicroTime(Timestamp::now());
        let seconds = self.timing.lease_duration.as_secs().max(1) as i32;
        let result = match self.api.get_opt(&self.name).await? {
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.name.clone()),
                        labels: Some(self.labels.clone()),
                        ..Default::default()
                    },
                    spec: Some(LeaseSpec {
                        holder_identity: Some(self.identity.clone()),
                        lease_duration_seconds: Some(seconds),
                        acquire_time: Some(now.clone()),
                        renew_time: Some(now),
                        lease_transitions: Some(0),
                        ..Default::default()
                    }),
                };
                self.api.create(&PostParams::default(), &lease).await
            }
            Some(mut lease) => {
                let spec = lease.spec.get_or_insert_with(Default::default);
                let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
                if let Some(holder) = &holder
                    && *holder != self.identity
                {
                    let version = lease.metadata.resource_version.clone().unwrap_or_default();
                    if !self.expired(version, spec) {
                        return Ok(Some(holder.clone()));
                    }
                }
                if holder.as_deref() != Some(&self.identity) {
                    spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
                    spec.acquire_time = Some(now.clone());
                }
                spec.holder_identity = Some(self.identity.clone());
                spec.lease_duration_seconds = Some(seconds);
                spec.renew_time = Some(now);
                self.api
                    .replace(&self.name, &PostParams::default(), &lease)
                    .await
            }
        };
        match result {
            Ok(lease) => Ok(lease.spec.and_then(|s| s.holder_identity)),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl Elector {
    /// Whether another holder has not renewed the Lease for its duration: judged by this
    /// candidate's monotonic clock since it first saw the Lease at `version`, or (for a Lease
    /// left by a holder long gone) by a renew time older than twice the duration, which clock
    /// skew below a lease duration cannot fake.
    fn expired(&self, version: String, spec: &LeaseSpec) -> bool {
        let seconds = spec.lease_duration_seconds.unwrap_or(15).max(1);
        let duration = Duration::from_secs(seconds.unsigned_abs().into());
        let unchanged_for = {
            let mut seen = self.seen.lock().expect("seen lease");
            match &*seen {
                Some((v, at)) if *v == version => at.elapsed(),
                _ => {
                    *seen = Some((version, Instant::now()));
                    Duration::ZERO
                }
            }
        };
        let long_gone = spec.renew_time.as_ref().is_none_or(|renewed| {
            renewed.0.as_second() + 2 * i64::from(seconds) < Timestamp::now().as_second()
        });
        unchanged_for > duration || long_gone
    }
}

/// Errors worth trying again: the API server unavailable or overloaded, or no answer.
fn transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => s.code >= 500 || s.code == 429,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}
