//! The CRD YAML the Helm chart installs, made from the types. `cargo run -p runnel-crds --bin
//! crdgen` rewrites the files; a test fails when they differ from what the types give.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

use crate::{Agent, FlinkJob, FlinkSession};

/// Where the chart keeps its CRDs, relative to the repository root.
pub const CHART_CRDS_DIR: &str = "charts/runnel-operator/crds";

/// `kubectl apply` keeps the whole object in an annotation, and annotations together may not
/// exceed this many bytes.
pub const ANNOTATION_LIMIT: usize = 262_144;

/// Every CRD with the name of its file in [`CHART_CRDS_DIR`].
pub fn crds() -> Vec<(&'static str, CustomResourceDefinition)> {
    vec![
        ("flinkjobs.yaml", FlinkJob::crd()),
        ("flinksessions.yaml", FlinkSession::crd()),
        ("agents.yaml", Agent::crd()),
    ]
}

/// The YAML of one CRD file, with a header that says it is generated.
pub fn render(crd: &CustomResourceDefinition) -> Result<String, serde_yaml::Error> {
    Ok(format!(
        "# Generated from crds/src by `cargo run -p runnel-crds --bin crdgen`; do not edit.\n{}",
        serde_yaml::to_string(crd)?
    ))
}

/// The size `kubectl apply` stores for a CRD: its JSON.
pub fn applied_size(crd: &CustomResourceDefinition) -> Result<usize, serde_json::Error> {
    Ok(serde_json::to_vec(crd)?.len())
}
