//! Native Kubernetes: the JobManager creates its TaskManager pods through the Kubernetes API
//! (`execution.target: kubernetes-application` or `kubernetes-session`), and high availability
//! keeps leadership in a Lease and the jobs in a ConfigMap (`high-availability.type:
//! kubernetes`). The option names are Flink's.

mod api;
mod lease;
mod resources;
mod store;

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use crate::error::{Result, RunnelError};

pub(crate) use api::Kube;
pub(crate) use lease::{LeaseHolder, timing};
pub(crate) use resources::KubernetesResources;
pub(crate) use store::KubeStore;

/// Where the JobManager's pod runs a service account's namespace file.
const NAMESPACE_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// The Kubernetes options of a cluster.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct KubernetesOptions {
    /// `kubernetes.cluster-id`: names the pods, the Lease and the ConfigMap, and labels them.
    pub(crate) cluster_id: String,
    /// `kubernetes.namespace`, else the pod's own namespace.
    pub(crate) namespace: String,
    /// `kubernetes.jobmanager.owner.reference`: owners of the TaskManager pods (the
    /// JobManager's Deployment, so deleting it deletes them).
    pub(crate) owners: Vec<OwnerReference>,
}

impl KubernetesOptions {
    /// Reads the options; `kubernetes.cluster-id` is required.
    pub(crate) fn from_options(options: &BTreeMap<String, String>) -> Result<Self> {
        let cluster_id = options
            .get("kubernetes.cluster-id")
            .map(|s| s.trim().to_string())
            .ok_or_else(|| {
                RunnelError::Plan(
                    "native Kubernetes needs 'kubernetes.cluster-id' (it names the pods, \
                     Lease and ConfigMaps of the cluster)"
                        .into(),
                )
            })?;
        if !is_dns_label(&cluster_id) || cluster_id.len() > 45 {
            return Err(RunnelError::bad_option(
                "kubernetes.cluster-id",
                &cluster_id,
                "a DNS label of at most 45 characters (lower-case letters, digits and '-')",
            ));
        }
        let namespace = match options.get("kubernetes.namespace") {
            Some(ns) => ns.trim().to_string(),
            None => std::fs::read_to_string(NAMESPACE_FILE)
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "default".into()),
        };
        let owners = match options.get("kubernetes.jobmanager.owner.reference") {
            Some(v) => parse_owner_references(v)?,
            None => own_pod().into_iter().collect(),
        };
        Ok(Self {
            cluster_id,
            namespace,
            owners,
        })
    }

    /// Labels every object of the cluster carries (Flink's).
    pub(crate) fn labels(&self, component: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("app".into(), self.cluster_id.clone()),
            ("type".into(), "runnel-native-kubernetes".into()),
            ("component".into(), component.into()),
        ])
    }
}

/// Whether the options ask for the native Kubernetes resource manager.
pub(crate) fn is_native(options: &BTreeMap<String, String>) -> Result<bool> {
    match options.get("execution.target").map(|s| s.trim()) {
        None | Some("remote" | "local") => Ok(false),
        Some("kubernetes-application" | "kubernetes-session") => Ok(true),
        Some(other) => Err(RunnelError::bad_option(
            "execution.target",
            other,
            "remote, kubernetes-application or kubernetes-session",
        )),
    }
}

/// The JobManager's own pod (from `POD_NAME` and `POD_UID`, set through the downward API):
/// the owner of its TaskManager pods unless the options name others, so a JobManager pod that
/// goes takes its TaskManagers with it and its successor starts fresh ones.
fn own_pod() -> Option<OwnerReference> {
    let (name, uid) = (
        std::env::var("POD_NAME").ok()?,
        std::env::var("POD_UID").ok()?,
    );
    Some(OwnerReference {
        api_version: "v1".into(),
        kind: "Pod".into(),
        name,
        uid,
        controller: Some(true),
        block_owner_deletion: None,
    })
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Flink's format: owner references separated by `;`, each `key:value` pairs separated by `,`
/// (`apiVersion:apps/v1,kind:Deployment,name:x,uid:...,controller:true`).
fn parse_owner_references(value: &str) -> Result<Vec<OwnerReference>> {
    let bad =
        |why: &str| RunnelError::bad_option("kubernetes.jobmanager.owner.reference", value, why);
    let mut owners = Vec::new();
    for one in value.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let mut owner = OwnerReference::default();
        for pair in one.split(',') {
            let (k, v) = pair
                .split_once(':')
                .ok_or_else(|| bad("key:value pairs separated by ','"))?;
            let (k, v) = (k.trim(), v.trim());
            let flag = || match v {
                "true" => Ok(Some(true)),
                "false" => Ok(Some(false)),
                _ => Err(bad("true or false for controller and blockOwnerDeletion")),
            };
            match k {
                "apiVersion" => owner.api_version = v.into(),
                "kind" => owner.kind = v.into(),
                "name" => owner.name = v.into(),
                "uid" => owner.uid = v.into(),
                "controller" => owner.controller = flag()?,
                "blockOwnerDeletion" => owner.block_owner_deletion = flag()?,
                _ => return Err(bad(&format!("unknown key '{k}'"))),
            }
        }
        if owner.api_version.is_empty()
            || owner.kind.is_empty()
            || owner.name.is_empty()
            || owner.uid.is_empty()
        {
            return Err(bad("each owner needs apiVersion, kind, name and uid"));
        }
        owners.push(owner);
    }
    Ok(owners)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::options;

    #[test]
    fn options_are_read_and_checked() {
        let o = KubernetesOptions::from_options(&options(&[
            ("kubernetes.cluster-id", "orders"),
            ("kubernetes.namespace", "team-a"),
            (
                "kubernetes.jobmanager.owner.reference",
                "apiVersion:apps/v1,kind:Deployment,name:orders,uid:u-1,controller:true",
            ),
        ]))
        .unwrap();
        assert_eq!(
            (o.cluster_id.as_str(), o.namespace.as_str()),
            ("orders", "team-a")
        );
        assert_eq!(o.owners.len(), 1);
        assert_eq!(o.owners[0].kind, "Deployment");
        assert_eq!(o.owners[0].controller, Some(true));
        assert_eq!(o.labels("taskmanager")["app"], "orders");
        for (kv, want) in [
            (vec![], "needs 'kubernetes.cluster-id'"),
            (vec![("kubernetes.cluster-id", "Orders_1")], "a DNS label"),
            (
                vec![
                    ("kubernetes.cluster-id", "a"),
                    ("kubernetes.jobmanager.owner.reference", "kind:Deployment"),
                ],
                "needs apiVersion, kind, name and uid",
            ),
        ] {
            let e = KubernetesOptions::from_options(&options(&kv))
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{e}");
        }
        assert!(is_native(&options(&[("execution.target", "kubernetes-session")])).unwrap());
        assert!(!is_native(&options(&[])).unwrap());
        assert!(is_native(&options(&[("execution.target", "yarn")])).is_err());
    }
}
