//! Leader election on a Kubernetes Lease (`coordination.k8s.io/v1`): one holder at a time,
//! which renews the Lease while it lives; a candidate takes it once the holder has not renewed
//! it for the lease duration. Used by JobManagers (high availability) and by the operator's
//! replicas.

use std::collections::BTreeMap;
use std::time::Duration;

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
    /// Flink's defaults: 15 s, 15 s, 5 s.
    fn default() -> Self {
        Timing {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(15),
            retry_period: Duration::from_secs(5),
        }
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
        }
    }

    /// The Lease's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Waits until this candidate holds the Lease; `waiting` hears of the holder once.
    pub async fn acquire(&self, mut waiting: impl FnMut(&str)) -> Result<(), kube::Error> {
        let mut told = false;
        loop {
            match self.try_take().await? {
                Some(holder) if holder == self.identity => return Ok(()),
                Some(holder) if !told => {
                    waiting(&holder);
                    told = true;
                }
                _ => {}
            }
            tokio::time::sleep(self.timing.retry_period).await;
        }
    }

    /// Renews the Lease until leadership is lost, and says why.
    pub async fn keep(&self) -> Lost {
        let mut renewed = tokio::time::Instant::now();
        let mut last_error = None;
        loop {
            tokio::time::sleep(self.timing.retry_period).await;
            match self.try_take().await {
                Ok(Some(holder)) if holder == self.identity => {
                    renewed = tokio::time::Instant::now();
                    last_error = None;
                }
                Ok(Some(holder)) => return Lost::TakenBy(holder),
                Ok(None) => {}
                Err(e) => last_error = Some(e.to_string()),
            }
            if renewed.elapsed() > self.timing.renew_deadline {
                return Lost::NotRenewed(last_error);
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
                    && !expired(spec)
                {
                    return Ok(Some(holder.clone()));
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

/// Whether the holder has not renewed the Lease for its duration.
fn expired(spec: &LeaseSpec) -> bool {
    let Some(renewed) = &spec.renew_time else {
        return true;
    };
    let seconds = i64::from(spec.lease_duration_seconds.unwrap_or(15));
    renewed.0.as_second() + seconds < Timestamp::now().as_second()
}
