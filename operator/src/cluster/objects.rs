//! Builds the objects of a cluster from its spec.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EnvVar, EnvVarSource,
    HTTPGetAction, KeyToPath, ObjectFieldSelector, Pod, PodSpec, PodTemplateSpec, Probe,
    ResourceRequirements, SecretKeySelector, Service, ServicePort, ServiceSpec, Volume,
    VolumeMount,
};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, ServiceBackendPort,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::core::ObjectMeta;
use runnel_crds::{ImagePullPolicy, Resource, ServiceType};

use super::merge::merge;
use super::options::{CONF_DIR, JOB_DIR, JOB_FILE, RPC_PORT, TM_TEMPLATE, flink_configuration};
use super::{Cluster, GENERATION_ANNOTATION, Script, Workload, labels};
use crate::rest::REST_PORT;

/// The service account JobManagers run as unless the spec names one (the chart creates it,
/// with rights on TaskManager pods, ConfigMaps and Leases only).
pub const DEFAULT_SERVICE_ACCOUNT: &str = "runnel-jobmanager";

/// The JobManager's environment variable with its REST token.
pub const TOKEN_ENV: &str = "RUNNEL_REST_TOKEN";

/// Every object of a cluster.
#[derive(Clone, Debug)]
pub struct Objects {
    pub name: String,
    pub config_map: ConfigMap,
    pub deployment: Deployment,
    pub service: Service,
    pub rest_service: Service,
    pub ingress: Option<Ingress>,
}

impl Cluster<'_> {
    fn meta(&self, name: String, component: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name),
            namespace: Some(self.namespace.into()),
            labels: Some(labels(self.name, component)),
            owner_references: Some(vec![self.owner.clone()]),
            ..Default::default()
        }
    }

    /// The objects to apply.
    pub fn objects(&self) -> Objects {
        Objects {
            name: self.name.into(),
            config_map: self.config_map(),
            deployment: self.deployment(),
            service: self.service(),
            rest_service: self.rest_service(),
            ingress: self.ingress(),
        }
    }

    fn pull_policy(&self) -> Option<String> {
        self.spec.image_pull_policy.map(|p| {
            match p {
                ImagePullPolicy::Always => "Always",
                ImagePullPolicy::IfNotPresent => "IfNotPresent",
                ImagePullPolicy::Never => "Never",
            }
            .into()
        })
    }

    /// The JobManager's environment: its pod's identity, its REST token (from the Secret the
    /// operator made), and the user's variables (Secrets arrive this way).
    fn env(&self) -> Vec<EnvVar> {
        let token = EnvVar {
            name: TOKEN_ENV.into(),
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: super::token_secret(self.name),
                    key: "token".into(),
                    optional: None,
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut env = vec![
            field_env("POD_NAME", "metadata.name"),
            field_env("POD_UID", "metadata.uid"),
            token,
        ];
        env.extend(self.spec.env.iter().cloned());
        env
    }

    fn config_map(&self) -> ConfigMap {
        let mut data = BTreeMap::new();
        let template =
            serde_yaml::to_string(&self.taskmanager_template()).expect("pods encode as YAML");
        data.insert(TM_TEMPLATE.to_string(), template);
        if let Workload::Application {
            script: Script::Inline(sql),
            ..
        } = &self.workload
        {
            data.insert(JOB_FILE.to_string(), sql.clone());
        }
        ConfigMap {
            metadata: self.meta(format!("{}-config", self.name), "jobmanager"),
            data: Some(data),
            ..Default::default()
        }
    }

    /// The pod the JobManager makes each TaskManager from.
    fn taskmanager_template(&self) -> Pod {
        let tm = self.spec.task_manager.clone().unwrap_or_default();
        let ours = Pod {
            metadata: ObjectMeta {
                labels: Some(labels(self.name, "taskmanager")),
                ..Default::default()
            },
            spec: Some(PodSpec {
                // TaskManagers do not call the Kubernetes API.
                automount_service_account_token: Some(false),
                containers: vec![Container {
                    name: "taskmanager".into(),
                    image: self.spec.image.clone(),
                    image_pull_policy: self.pull_policy(),
                    env: Some(self.spec.env.clone()).filter(|e| !e.is_empty()),
                    env_from: Some(self.spec.env_from.clone()).filter(|e| !e.is_empty()),
                    resources: resources(tm.resource.as_ref()),
                    ..Default::default()
                }],
                termination_grace_period_seconds: Some(10),
                ..Default::default()
            }),
            ..Default::default()
        };
        match &tm.pod_template {
            Some(user) => with_template(user, ours),
            None => ours,
        }
    }

    fn deployment(&self) -> Deployment {
        let jm = self.spec.job_manager.clone().unwrap_or_default();
        let mut args = vec!["jobmanager".to_string()];
        let mut mounts = vec![VolumeMount {
            name: "runnel-config".into(),
            mount_path: CONF_DIR.into(),
            read_only: Some(true),
            ..Default::default()
        }];
        let mut volumes = vec![Volume {
            name: "runnel-config".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: format!("{}-config", self.name),
                ..Default::default()
            }),
            ..Default::default()
        }];
        if let Workload::Application { script, .. } = &self.workload {
            match script {
                Script::Inline(_) => args.push(format!("{CONF_DIR}/{JOB_FILE}")),
                Script::ConfigMap { name, key } => {
                    args.push(format!("{JOB_DIR}/{JOB_FILE}"));
                    mounts.push(VolumeMount {
                        name: "runnel-job".into(),
                        mount_path: JOB_DIR.into(),
                        read_only: Some(true),
                        ..Default::default()
                    });
                    volumes.push(Volume {
                        name: "runnel-job".into(),
                        config_map: Some(ConfigMapVolumeSource {
                            name: name.clone(),
                            items: Some(vec![KeyToPath {
                                key: key.clone(),
                                path: JOB_FILE.into(),
                                ..Default::default()
                            }]),
                            ..Default::default()
                        }),
                        ..Default::default()
                    });
                }
                Script::Args(user) => args.extend(user.iter().cloned()),
            }
        }
        for (k, v) in flink_configuration(self) {
            args.push("-D".into());
            args.push(format!("{k}={v}"));
        }
        let probe = |initial: i32, failures: i32| Probe {
            http_get: Some(HTTPGetAction {
                path: Some("/config".into()),
                port: IntOrString::String("rest".into()),
                ..Default::default()
            }),
            initial_delay_seconds: Some(initial),
            period_seconds: Some(2),
            // A busy node answers late; a standby never answers at all.
            timeout_seconds: Some(5),
            failure_threshold: Some(failures),
            ..Default::default()
        };
        let container = Container {
            name: "jobmanager".into(),
            image: self.spec.image.clone(),
            image_pull_policy: self.pull_policy(),
            args: Some(args),
            env: Some(self.env()),
            env_from: Some(self.spec.env_from.clone()).filter(|e| !e.is_empty()),
            ports: Some(vec![port("rpc", RPC_PORT), port("rest", REST_PORT)]),
            // Only the leader serves REST, so a standby is never ready behind the Services.
            readiness_probe: Some(probe(0, 3)),
            resources: resources(jm.resource.as_ref()),
            volume_mounts: Some(mounts),
            ..Default::default()
        };
        let mut pod_labels = labels(self.name, "jobmanager");
        pod_labels.remove("app.kubernetes.io/managed-by");
        let ours = PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some(pod_labels.clone()),
                annotations: Some(BTreeMap::from([(
                    GENERATION_ANNOTATION.to_string(),
                    self.generation.to_string(),
                )])),
                ..Default::default()
            }),
            spec: Some(PodSpec {
                service_account_name: Some(
                    self.spec
                        .service_account
                        .clone()
                        .unwrap_or_else(|| DEFAULT_SERVICE_ACCOUNT.into()),
                ),
                containers: vec![container],
                volumes: Some(volumes),
                termination_grace_period_seconds: Some(10),
                ..Default::default()
            }),
        };
        let template = match &jm.pod_template {
            Some(user) => with_template(user, ours),
            None => ours,
        };
        let mut meta = self.meta(self.name.into(), "jobmanager");
        meta.annotations = Some(BTreeMap::from([(
            GENERATION_ANNOTATION.to_string(),
            self.generation.to_string(),
        )]));
        Deployment {
            metadata: meta,
            spec: DeploymentSpec {
                replicas: Some(jm.replicas.unwrap_or(1)),
                selector: LabelSelector {
                    match_labels: Some(BTreeMap::from([
                        ("app".to_string(), self.name.to_string()),
                        ("component".to_string(), "jobmanager".to_string()),
                    ])),
                    ..Default::default()
                },
                // Never two JobManagers of different specs at once.
                strategy: Some(DeploymentStrategy {
                    type_: Some("Recreate".into()),
                    ..Default::default()
                }),
                template,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn selector(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("app".to_string(), self.name.to_string()),
            ("component".to_string(), "jobmanager".to_string()),
        ])
    }

    /// `<name>`: what TaskManagers connect to (control plane) and the operator calls.
    fn service(&self) -> Service {
        Service {
            metadata: self.meta(self.name.into(), "jobmanager"),
            spec: Some(ServiceSpec {
                selector: Some(self.selector()),
                ports: Some(vec![
                    service_port("rpc", RPC_PORT),
                    service_port("rest", REST_PORT),
                ]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// `<name>-rest`: the REST API and dashboard, exposed as the spec says.
    fn rest_service(&self) -> Service {
        let service_type = self
            .spec
            .rest
            .as_ref()
            .and_then(|r| r.service_type)
            .map(|t| {
                match t {
                    ServiceType::ClusterIP => "ClusterIP",
                    ServiceType::NodePort => "NodePort",
                    ServiceType::LoadBalancer => "LoadBalancer",
                }
                .to_string()
            });
        Service {
            metadata: self.meta(format!("{}-rest", self.name), "jobmanager"),
            spec: Some(ServiceSpec {
                type_: service_type,
                selector: Some(self.selector()),
                ports: Some(vec![service_port("rest", REST_PORT)]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn ingress(&self) -> Option<Ingress> {
        let spec = self.spec.rest.as_ref()?.ingress.as_ref()?;
        let mut meta = self.meta(format!("{}-rest", self.name), "jobmanager");
        if !spec.annotations.is_empty() {
            meta.annotations = Some(spec.annotations.clone());
        }
        Some(Ingress {
            metadata: meta,
            spec: Some(IngressSpec {
                ingress_class_name: spec.class_name.clone(),
                rules: Some(vec![IngressRule {
                    host: Some(spec.host.clone()),
                    http: Some(HTTPIngressRuleValue {
                        paths: vec![HTTPIngressPath {
                            path: Some("/".into()),
                            path_type: "Prefix".into(),
                            backend: IngressBackend {
                                service: Some(IngressServiceBackend {
                                    name: format!("{}-rest", self.name),
                                    port: Some(ServiceBackendPort {
                                        number: Some(i32::from(REST_PORT)),
                                        ..Default::default()
                                    }),
                                }),
                                ..Default::default()
                            },
                        }],
                    }),
                }]),
                ..Default::default()
            }),
            ..Default::default()
        })
    }
}

/// The user's template with the operator's object laid over it.
fn with_template<T: serde::Serialize + serde::de::DeserializeOwned>(
    user: &impl serde::Serialize,
    ours: T,
) -> T {
    let merged = merge(
        serde_json::to_value(user).expect("templates encode as JSON"),
        serde_json::to_value(&ours).expect("objects encode as JSON"),
    );
    // Both sides are valid objects of the type, and merging keeps the type's shape.
    serde_json::from_value(merged).unwrap_or(ours)
}

fn field_env(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn port(name: &str, port: u16) -> ContainerPort {
    ContainerPort {
        name: Some(name.into()),
        container_port: i32::from(port),
        ..Default::default()
    }
}

fn service_port(name: &str, port: u16) -> ServicePort {
    ServicePort {
        name: Some(name.into()),
        port: i32::from(port),
        target_port: Some(IntOrString::String(name.into())),
        ..Default::default()
    }
}

/// Requests and limits from Flink's `resource` (`memory: 2048m` means MiB, as in Flink).
fn resources(r: Option<&Resource>) -> Option<ResourceRequirements> {
    let r = r?;
    let mut amounts = BTreeMap::new();
    if let Some(cpu) = r.cpu {
        amounts.insert("cpu".to_string(), Quantity(format!("{cpu}")));
    }
    if let Some(memory) = &r.memory {
        amounts.insert("memory".to_string(), Quantity(memory_quantity(memory)));
    }
    (!amounts.is_empty()).then(|| ResourceRequirements {
        requests: Some(amounts.clone()),
        limits: Some(amounts),
        ..Default::default()
    })
}

/// Flink writes `2048m` and `2g` for MiB and GiB; Kubernetes reads `m` as thousandths.
fn memory_quantity(flink: &str) -> String {
    let lower = flink.trim().to_ascii_lowercase();
    for (suffix, k8s) in [
        ("mb", "Mi"),
        ("gb", "Gi"),
        ("kb", "Ki"),
        ("m", "Mi"),
        ("g", "Gi"),
        ("k", "Ki"),
    ] {
        if let Some(n) = lower.strip_suffix(suffix)
            && !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        {
            return format!("{n}{k8s}");
        }
    }
    flink.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flink_memory_sizes_become_kubernetes_quantities() {
        assert_eq!(memory_quantity("2048m"), "2048Mi");
        assert_eq!(memory_quantity("2g"), "2Gi");
        assert_eq!(memory_quantity("1.5gb"), "1.5Gi");
        assert_eq!(memory_quantity("512Mi"), "512Mi");
    }
}
