//! Leadership of a cluster's JobManagers: the Lease `<cluster-id>-jobmanager-leader`. A leader
//! that loses it (another holds it, or it could not renew it in time) exits, so two
//! JobManagers never act as leader at once for long; Kubernetes restarts it as a standby.

use std::collections::BTreeMap;
use std::time::Duration;

use runnel_lease::Elector;

use super::KubernetesOptions;
use super::api::{Kube, api_error};
use crate::cluster::config::duration_option;
use crate::error::Result;

/// How long a JobManager stopping on purpose tries to give its Lease up.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(2);

/// Held while this JobManager leads; dropping it stops the renewals.
pub(crate) struct LeaseHolder {
    renew: tokio::task::JoinHandle<()>,
}

impl Drop for LeaseHolder {
    fn drop(&mut self) {
        self.renew.abort();
    }
}

/// Flink's leader-election options
/// (`high-availability.kubernetes.leader-election.{lease-duration,renew-deadline,retry-period}`).
pub(crate) fn timing(options: &BTreeMap<String, String>) -> Result<runnel_lease::Timing> {
    let d = runnel_lease::Timing::default();
    let get = |key: &str, default: Duration| {
        duration_option(
            options,
            &format!("high-availability.kubernetes.leader-election.{key}"),
            default,
        )
    };
    Ok(runnel_lease::Timing {
        lease_duration: get("lease-duration", d.lease_duration)?,
        renew_deadline: get("renew-deadline", d.renew_deadline)?,
        retry_period: get("retry-period", d.retry_period)?,
    })
}

/// Waits until `identity` holds the cluster's Lease, then keeps renewing it.
pub(crate) async fn acquire(
    kube: &Kube,
    options: &KubernetesOptions,
    identity: String,
    timing: runnel_lease::Timing,
) -> Result<LeaseHolder> {
    let elector = Elector::new(
        kube.client(),
        &options.namespace,
        &format!("{}-jobmanager-leader", options.cluster_id),
        &identity,
        options.labels("jobmanager"),
        timing,
    );
    let candidate = elector.clone();
    let cluster = options.cluster_id.clone();
    Kube::run(async move {
        candidate
            .acquire(|holder| {
                eprintln!(
                    "runnel: {holder} leads cluster {cluster} (Lease {}); standing by",
                    candidate.name()
                )
            })
            .await
    })
    .await
    .map_err(|e| api_error(format!("taking Lease {}", elector.name()), e))?;
    let releaser = elector.clone();
    Kube::spawn(async move {
        // Stopped on purpose (its pod deleted): the Lease goes to a standby at once.
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut terminate) = signal(SignalKind::terminate()) else {
            return;
        };
        terminate.recv().await;
        let released = tokio::time::timeout(RELEASE_TIMEOUT, releaser.release()).await;
        if !matches!(released, Ok(Ok(()))) {
            eprintln!(
                "runnel: the Lease {} could not be released; a standby takes it when it expires",
                releaser.name()
            );
        }
        std::process::exit(143);
    });
    let renew = Kube::spawn(async move {
        let lost = elector.keep().await;
        eprintln!(
            "runnel: JobManager lost leadership (Lease {}): {lost}; exiting",
            elector.name()
        );
        std::process::exit(1);
    });
    Ok(LeaseHolder { renew })
}
