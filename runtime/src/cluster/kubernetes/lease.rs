//! Leadership of a cluster's JobManagers as a Kubernetes Lease
//! (`<cluster-id>-jobmanager-leader`): one holder at a time, renewed while it lives; a standby
//! takes the Lease once the holder stops renewing it. A leader that cannot renew within the
//! deadline exits, so two JobManagers never act as leader at once for long.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::core::ObjectMeta;

use super::KubernetesOptions;
use super::api::{Kube, api_error, conflict};
use crate::cluster::config::duration_option;
use crate::error::Result;

/// Held while this JobManager leads; dropping it stops the renewals.
pub(crate) struct LeaseHolder {
    renew: tokio::task::JoinHandle<()>,
}

impl Drop for LeaseHolder {
    fn drop(&mut self) {
        self.renew.abort();
    }
}

/// Flink's leader-election timing options.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timing {
    /// `high-availability.kubernetes.leader-election.lease-duration` (15 s).
    lease: Duration,
    /// `high-availability.kubernetes.leader-election.renew-deadline` (15 s).
    renew_deadline: Duration,
    /// `high-availability.kubernetes.leader-election.retry-period` (5 s).
    retry: Duration,
}

impl Timing {
    pub(crate) fn from_options(options: &BTreeMap<String, String>) -> Result<Self> {
        let get = |key: &str, default: Duration| duration_option(options, key, default);
        let prefix = "high-availability.kubernetes.leader-election";
        Ok(Timing {
            lease: get(&format!("{prefix}.lease-duration"), Duration::from_secs(15))?,
            renew_deadline: get(&format!("{prefix}.renew-deadline"), Duration::from_secs(15))?,
            retry: get(&format!("{prefix}.retry-period"), Duration::from_secs(5))?,
        })
    }
}

fn lease_name(options: &KubernetesOptions) -> String {
    format!("{}-jobmanager-leader", options.cluster_id)
}

/// Waits until `identity` holds the cluster's Lease, then keeps renewing it.
pub(crate) async fn acquire(
    kube: &Kube,
    options: &KubernetesOptions,
    identity: String,
    timing: Timing,
) -> Result<LeaseHolder> {
    let api: Api<Lease> = Api::namespaced(kube.client(), &options.namespace);
    let name = lease_name(options);
    let labels = options.labels("jobmanager");
    let mut waiting = false;
    loop {
        let (api, lease, id, labels) =
            (api.clone(), name.clone(), identity.clone(), labels.clone());
        let taken =
            Kube::run(async move { try_take(&api, &lease, &id, labels, timing).await }).await?;
        match taken {
            Some(holder) if holder == identity => break,
            holder => {
                if !waiting {
                    eprintln!(
                        "runnel: {} leads cluster {} (Lease {name}); standing by",
                        holder.as_deref().unwrap_or("another JobManager"),
                        options.cluster_id
                    );
                    waiting = true;
                }
                tokio::time::sleep(timing.retry).await;
            }
        }
    }
    let renew = Kube::spawn(renew(api, name, identity, timing));
    Ok(LeaseHolder { renew })
}

/// One attempt to take or renew the Lease; returns its holder afterwards (`None` when a write
/// lost a race, so the caller tries again).
async fn try_take(
    api: &Api<Lease>,
    name: &str,
    identity: &str,
    labels: BTreeMap<String, String>,
    timing: Timing,
) -> Result<Option<String>> {
    let now = MicroTime(Timestamp::now());
    let existing = api
        .get_opt(name)
        .await
        .map_err(|e| api_error(format!("reading Lease {name}"), e))?;
    let result = match existing {
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(name.into()),
                    labels: Some(labels),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(identity.into()),
                    lease_duration_seconds: Some(timing.lease.as_secs().max(1) as i32),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            api.create(&PostParams::default(), &lease).await
        }
        Some(mut lease) => {
            let spec = lease.spec.get_or_insert_with(Default::default);
            let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
            let expired = spec.renew_time.as_ref().is_none_or(|t| {
                let seconds = i64::from(spec.lease_duration_seconds.unwrap_or(15));
                t.0.as_second() + seconds < Timestamp::now().as_second()
            });
            if holder.as_deref() != Some(identity) && holder.is_some() && !expired {
                return Ok(holder);
            }
            if holder.as_deref() != Some(identity) {
                spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
                spec.acquire_time = Some(now.clone());
            }
            spec.holder_identity = Some(identity.into());
            spec.lease_duration_seconds = Some(timing.lease.as_secs().max(1) as i32);
            spec.renew_time = Some(now);
            api.replace(name, &PostParams::default(), &lease).await
        }
    };
    match result {
        Ok(lease) => Ok(lease.spec.and_then(|s| s.holder_identity)),
        Err(e) if conflict(&e) => Ok(None),
        Err(e) => Err(api_error(format!("writing Lease {name}"), e)),
    }
}

/// Renews the Lease every retry period; exits the process when it cannot for longer than the
/// renew deadline, or when another JobManager holds it.
async fn renew(api: Api<Lease>, name: String, identity: String, timing: Timing) {
    let mut renewed = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(timing.retry).await;
        match try_take(&api, &name, &identity, BTreeMap::new(), timing).await {
            Ok(Some(holder)) if holder == identity => renewed = tokio::time::Instant::now(),
            Ok(Some(holder)) => {
                eprintln!("runnel: JobManager lost leadership to {holder} (Lease {name}); exiting");
                std::process::exit(1);
            }
            Ok(None) => {}
            Err(e) => eprintln!("runnel: renewing Lease {name}: {e}"),
        }
        if renewed.elapsed() > timing.renew_deadline {
            eprintln!(
                "runnel: JobManager could not renew Lease {name} for {} s; exiting",
                timing.renew_deadline.as_secs()
            );
            std::process::exit(1);
        }
    }
}
