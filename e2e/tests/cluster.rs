//! The test cluster behaves like Kubernetes where Runnel's operator depends on it: Deployments
//! become running pods behind Services reachable by DNS name, scaling and garbage collection work,
//! Secrets and ConfigMaps reach containers, probes restart containers, kubectl and helm work, and a
//! bad image is reported on the pod instead of breaking the node.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, Pod, Service};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use runnel_e2e::cluster::{Cluster, HTTPD_IMAGE};
use runnel_e2e::k8s::{http_get, namespace, wait_for};

const TIMEOUT: Duration = Duration::from_secs(90);

fn web_manifest(name: &str, replicas: u32) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
        - name: web
          image: {HTTPD_IMAGE}
          args: ["--listen=:8080"]
          ports: [{{name: http, containerPort: 8080}}]
          readinessProbe: {{httpGet: {{path: /healthz, port: http}}, periodSeconds: 1}}
---
apiVersion: v1
kind: Service
metadata: {{name: {name}}}
spec:
  selector: {{app: {name}}}
  ports: [{{name: http, port: 80, targetPort: http}}]
"#
    )
}

/// Pods of `ns` matching `selector` that are Ready, once there are exactly `n`.
async fn ready_pods(pods: &Api<Pod>, selector: &str, n: usize) -> Result<Vec<Pod>> {
    wait_for(
        &format!("{n} ready pods with {selector}"),
        TIMEOUT,
        || async {
            let list = pods.list(&ListParams::default().labels(selector)).await?;
            let ready: Vec<Pod> = list.items.iter().filter(|p| is_ready(p)).cloned().collect();
            if ready.len() == n && list.items.len() == n {
                Ok(Ok(ready))
            } else {
                Ok(Err(list.items.iter().map(summary).collect::<Vec<_>>()))
            }
        },
    )
    .await
}

fn is_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn summary(p: &Pod) -> String {
    let status = p.status.clone().unwrap_or_default();
    let states: Vec<String> = status
        .container_statuses
        .unwrap_or_default()
        .iter()
        .map(|c| format!("{:?}", c.state))
        .collect();
    format!(
        "{} phase={:?} ip={:?} {}",
        p.metadata.name.clone().unwrap_or_default(),
        status.phase,
        status.pod_ip,
        states.join(",")
    )
}

fn pod_addr(p: &Pod) -> Result<SocketAddr> {
    let ip = p
        .status
        .as_ref()
        .and_then(|s| s.pod_ip.clone())
        .context("pod has no IP")?;
    Ok(format!("{ip}:8080").parse()?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_is_reachable_by_service_dns_name_scales_and_is_garbage_collected() -> Result<()>
{
    let cluster = Cluster::shared();
    let client = cluster.client().await?;
    let ns = namespace(&client, "svc").await?;
    let _dump = cluster.dump_on_failure(&ns);
    cluster.kubectl_stdin(&["apply", "-n", &ns, "-f", "-"], &web_manifest("web", 2))?;
    cluster.kubectl_stdin(&["apply", "-n", &ns, "-f", "-"], &web_manifest("client", 1))?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let web = ready_pods(&pods, "app=web", 2).await?;
    let client_pod = ready_pods(&pods, "app=client", 1).await?.remove(0);
    let names: BTreeSet<String> = web.iter().filter_map(|p| p.metadata.name.clone()).collect();

    // From another pod, by the service's DNS names (full, namespace-relative and short); the
    // service port 80 leads to the pods' port 8080.
    let from = pod_addr(&client_pod)?;
    for host in [
        format!("web.{ns}.svc.cluster.local"),
        format!("web.{ns}"),
        "web".to_string(),
    ] {
        let (status, body) = http_get(from, &format!("/fetch?url=http://{host}/"))?;
        ensure!(
            status == 200,
            "fetching http://{host}/ from a pod: {status} {body}"
        );
        let who = body
            .trim()
            .strip_prefix("hello from ")
            .context("greeting")?;
        ensure!(
            names.contains(who),
            "{host} answered from {who}, not one of {names:?}"
        );
    }
    let (status, body) = http_get(from, "/resolve?name=no-such-service")?;
    ensure!(
        status == 404,
        "an unknown name must not resolve: {status} {body}"
    );

    // From the test process, through the cluster IP; connections spread over the endpoints.
    let svc: Api<Service> = Api::namespaced(client.clone(), &ns);
    let cluster_ip = svc
        .get("web")
        .await?
        .spec
        .and_then(|s| s.cluster_ip)
        .context("cluster IP")?;
    let addr: SocketAddr = format!("{cluster_ip}:80").parse()?;
    let mut seen = BTreeSet::new();
    for _ in 0..20 {
        let (status, body) = http_get(addr, "/")?;
        ensure!(status == 200);
        seen.insert(body.trim().trim_start_matches("hello from ").to_string());
    }
    ensure!(
        seen == names,
        "cluster IP reached {seen:?}, want all of {names:?}"
    );

    // Scale up: a third ready pod, and the service reaches it.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let scale = serde_json::json!({"spec": {"replicas": 3}});
    deployments
        .patch("web", &PatchParams::default(), &Patch::Merge(&scale))
        .await?;
    let web = ready_pods(&pods, "app=web", 3).await?;
    let names: BTreeSet<String> = web.iter().filter_map(|p| p.metadata.name.clone()).collect();
    let seen = wait_for("the service to reach all three pods", TIMEOUT, || {
        let names = names.clone();
        async move {
            let mut seen = BTreeSet::new();
            for _ in 0..30 {
                let (_, body) = http_get(addr, "/")?;
                seen.insert(body.trim().trim_start_matches("hello from ").to_string());
            }
            Ok(if seen == names { Ok(seen) } else { Err(seen) })
        }
    })
    .await?;
    assert_eq!(seen.len(), 3);

    // Delete the Deployment: the garbage collector removes its ReplicaSet and pods, and the pods'
    // processes get SIGTERM (the server logs that it is terminating).
    let victim = web[0].metadata.name.clone().unwrap();
    deployments
        .delete("web", &DeleteParams::background())
        .await?;
    let replicasets: Api<ReplicaSet> = Api::namespaced(client.clone(), &ns);
    wait_for(
        "the ReplicaSet and pods of web to be collected",
        TIMEOUT,
        || async {
            let rs = replicasets
                .list(&ListParams::default().labels("app=web"))
                .await?;
            let left = pods.list(&ListParams::default().labels("app=web")).await?;
            Ok(if rs.items.is_empty() && left.items.is_empty() {
                Ok(())
            } else {
                Err((
                    rs.items.len(),
                    left.items.iter().map(summary).collect::<Vec<_>>(),
                ))
            })
        },
    )
    .await?;
    let log = cluster.container_log(&ns, &victim, "web", 0)?;
    ensure!(
        log.contains("httpd: terminating"),
        "no graceful stop in the log of {victim}:\n{log}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_and_config_maps_reach_the_pod_as_env_and_files() -> Result<()> {
    let cluster = Cluster::shared();
    let client = cluster.client().await?;
    let ns = namespace(&client, "secret").await?;
    let _dump = cluster.dump_on_failure(&ns);
    let manifest = format!(
        r#"
apiVersion: v1
kind: Secret
metadata: {{name: api}}
stringData: {{token: s3cr3t-value, other: second}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: settings}}
data: {{mode: fast, "job.sql": "SELECT 1;"}}
---
apiVersion: v1
kind: Pod
metadata: {{name: reader, labels: {{role: reader}}}}
spec:
  containers:
    - name: main
      image: {HTTPD_IMAGE}
      args: ["--listen=:8080"]
      env:
        - {{name: TOKEN, valueFrom: {{secretKeyRef: {{name: api, key: token}}}}}}
        - {{name: MODE, valueFrom: {{configMapKeyRef: {{name: settings, key: mode}}}}}}
        - {{name: POD_NAME, valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}}}
        - {{name: POD_IP, valueFrom: {{fieldRef: {{fieldPath: status.podIP}}}}}}
        - {{name: GREETING, value: "pod $(POD_NAME) in $(MODE) mode"}}
      envFrom: [{{prefix: CFG_, configMapRef: {{name: settings}}}}]
      readinessProbe: {{tcpSocket: {{port: 8080}}, periodSeconds: 1}}
      livenessProbe:
        exec: {{command: [test, -s, /etc/runnel-secret/token]}}
        periodSeconds: 1
      volumeMounts:
        - {{name: secret, mountPath: /etc/runnel-secret, readOnly: true}}
        - {{name: config, mountPath: /etc/runnel-config}}
        - {{name: info, mountPath: /etc/podinfo}}
        - {{name: scratch, mountPath: /scratch}}
  volumes:
    - {{name: secret, secret: {{secretName: api}}}}
    - {{name: config, configMap: {{name: settings, items: [{{key: job.sql, path: sql/job.sql}}]}}}}
    - name: info
      downwardAPI:
        items: [{{path: labels, fieldRef: {{fieldPath: metadata.labels}}}}]
    - {{name: scratch, emptyDir: {{}}}}
"#
    );
    cluster.kubectl_stdin(&["apply", "-n", &ns, "-f", "-"], &manifest)?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let pod = wait_for("pod reader to run", TIMEOUT, || async {
        let p = pods.get("reader").await?;
        Ok(
            if p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running") {
                Ok(p)
            } else {
                Err(summary(&p))
            },
        )
    })
    .await?;
    let addr = pod_addr(&pod)?;
    let pod_ip = addr.ip().to_string();
    let get = |path: &str| -> Result<String> { wait_for_http(addr, path) };
    assert_eq!(get("/env?name=TOKEN")?, "s3cr3t-value");
    assert_eq!(get("/env?name=MODE")?, "fast");
    assert_eq!(get("/env?name=CFG_mode")?, "fast");
    assert_eq!(get("/env?name=POD_NAME")?, "reader");
    assert_eq!(get("/env?name=POD_IP")?, pod_ip);
    assert_eq!(get("/env?name=GREETING")?, "pod reader in fast mode");
    assert_eq!(get("/file?path=/etc/runnel-secret/token")?, "s3cr3t-value");
    assert_eq!(get("/file?path=/etc/runnel-secret/other")?, "second");
    assert_eq!(
        get("/file?path=/etc/runnel-config/sql/job.sql")?,
        "SELECT 1;"
    );
    assert_eq!(get("/file?path=/etc/podinfo/labels")?, "role=\"reader\"");
    // The pod's hostname and service-account token are in place like on a real node.
    assert!(get("/file?path=/etc/hostname")?.starts_with("reader"));
    let token = get("/file?path=/var/run/secrets/kubernetes.io/serviceaccount/token")?;
    ensure!(token.split('.').count() == 3, "not a JWT: {token}");
    assert_eq!(
        get("/file?path=/var/run/secrets/kubernetes.io/serviceaccount/namespace")?,
        ns
    );
    let restarts = pods
        .get("reader")
        .await?
        .status
        .and_then(|s| s.container_statuses)
        .unwrap_or_default()[0]
        .restart_count;
    assert_eq!(restarts, 0, "the exec liveness probe must pass");
    // The secret value appears in no event of the namespace.
    let events: Api<Event> = Api::namespaced(client.clone(), &ns);
    for e in events.list(&ListParams::default()).await? {
        ensure!(
            !format!("{e:?}").contains("s3cr3t-value"),
            "secret leaked into event {e:?}"
        );
    }
    Ok(())
}

fn wait_for_http(addr: SocketAddr, path: &str) -> Result<String> {
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        match http_get(addr, path) {
            Ok((200, body)) => return Ok(body),
            other if std::time::Instant::now() > deadline => {
                anyhow::bail!("GET {addr}{path}: {other:?}")
            }
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_liveness_probe_restarts_the_container() -> Result<()> {
    let cluster = Cluster::shared();
    let client = cluster.client().await?;
    let ns = namespace(&client, "liveness").await?;
    let _dump = cluster.dump_on_failure(&ns);
    let manifest = format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: flaky}}
spec:
  terminationGracePeriodSeconds: 3
  containers:
    - name: main
      image: {HTTPD_IMAGE}
      args: ["--listen=:8080", "--fail-health-after=3s"]
      livenessProbe:
        httpGet: {{path: /healthz, port: 8080}}
        periodSeconds: 1
        failureThreshold: 2
"#
    );
    cluster.kubectl_stdin(&["apply", "-n", &ns, "-f", "-"], &manifest)?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let restarted = wait_for(
        "a restart after failed liveness probes",
        TIMEOUT,
        || async {
            let p = pods.get("flaky").await?;
            let cs = p
                .status
                .as_ref()
                .and_then(|s| s.container_statuses.clone())
                .unwrap_or_default();
            Ok(match cs.first() {
                Some(c)
                    if c.restart_count >= 1
                        && c.state.as_ref().and_then(|s| s.running.as_ref()).is_some() =>
                {
                    Ok(c.clone())
                }
                _ => Err(summary(&p)),
            })
        },
    )
    .await?;
    let last = restarted
        .last_state
        .and_then(|s| s.terminated)
        .context("the previous run's termination is reported")?;
    ensure!(
        last.exit_code != 0 || last.reason.as_deref() == Some("Completed"),
        "{last:?}"
    );
    // Events are recorded asynchronously, like the kubelet's.
    let events: Api<Event> = Api::namespaced(client.clone(), &ns);
    wait_for("probe and restart events", TIMEOUT, || async {
        let reasons: BTreeSet<String> = events
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter_map(|e| e.reason)
            .collect();
        let want = ["Scheduled", "Started", "Unhealthy", "Killing"];
        Ok(if want.iter().all(|w| reasons.contains(*w)) {
            Ok(())
        } else {
            Err(reasons)
        })
    })
    .await?;
    // The first run was stopped gracefully (SIGTERM reached the server) and `kubectl logs
    // --previous` shows it through the API server and the node's log endpoint.
    let previous = cluster.kubectl(&["logs", "-n", &ns, "flaky", "--previous"])?;
    ensure!(
        previous.contains("httpd: terminating"),
        "previous log: {previous}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_apply_and_helm_template_deploy_a_chart() -> Result<()> {
    let cluster = Cluster::shared();
    let client = cluster.client().await?;
    let ns = namespace(&client, "helm").await?;
    let _dump = cluster.dump_on_failure(&ns);
    let chart = runnel_e2e::process::repo_root().join("e2e/tests/charts/hello");
    let rendered = cluster.helm(&[
        "template",
        "greeter",
        chart.to_str().unwrap(),
        "--namespace",
        &ns,
        "--set",
        "replicas=2,greeting=hi from helm",
    ])?;
    ensure!(rendered.contains("kind: Deployment"), "{rendered}");
    let applied = cluster.kubectl_stdin(&["apply", "-n", &ns, "-f", "-"], &rendered)?;
    ensure!(
        applied.contains("deployment.apps/greeter created"),
        "{applied}"
    );
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let ready = ready_pods(&pods, "app=greeter", 2).await?;
    let addr = pod_addr(&ready[0])?;
    assert_eq!(wait_for_http(addr, "/env?name=GREETING")?, "hi from helm");
    // Re-applying the same manifests changes nothing; kubectl sees the server-side state.
    let again = cluster.kubectl_stdin(&["apply", "-n", &ns, "-f", "-"], &rendered)?;
    ensure!(
        again.contains("deployment.apps/greeter unchanged"),
        "{again}"
    );
    let out = cluster.kubectl(&[
        "get",
        "deployment",
        "greeter",
        "-n",
        &ns,
        "-o",
        "jsonpath={.status.readyReplicas}",
    ])?;
    assert_eq!(out.trim(), "2");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_without_a_binary_waits_with_a_clear_reason() -> Result<()> {
    let cluster = Cluster::shared();
    let client = cluster.client().await?;
    let ns = namespace(&client, "badimage").await?;
    let _dump = cluster.dump_on_failure(&ns);
    let manifest = format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: broken}}
spec:
  containers:
    - {{name: main, image: "registry.example/no-such-image:1.0"}}
---
apiVersion: v1
kind: Pod
metadata: {{name: fine}}
spec:
  containers:
    - {{name: main, image: {HTTPD_IMAGE}, args: ["--listen=:8080"]}}
"#
    );
    cluster.kubectl_stdin(&["apply", "-n", &ns, "-f", "-"], &manifest)?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let waiting = wait_for("pod broken to wait on its image", TIMEOUT, || async {
        let p = pods.get("broken").await?;
        let w = p
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.clone())
            .and_then(|cs| cs.first().and_then(|c| c.state.clone()))
            .and_then(|s| s.waiting);
        Ok(match w {
            Some(w)
                if matches!(
                    w.reason.as_deref(),
                    Some("ErrImagePull" | "ImagePullBackOff")
                ) =>
            {
                Ok((p, w))
            }
            _ => Err(summary(&p)),
        })
    })
    .await?;
    let (pod, w) = waiting;
    let msg = w.message.unwrap_or_default();
    ensure!(
        msg.contains("no-such-image") && msg.contains("maps to no local binary"),
        "{msg}"
    );
    assert_eq!(pod.status.and_then(|s| s.phase).as_deref(), Some("Pending"));
    // The node keeps working: the other pod runs.
    wait_for("pod fine to run", TIMEOUT, || async {
        let p = pods.get("fine").await?;
        Ok(
            if p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running") {
                Ok(())
            } else {
                Err(summary(&p))
            },
        )
    })
    .await?;
    cluster.check_running()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runnel_image_runs_a_sql_job_and_exit_codes_set_the_pod_phase() -> Result<()> {
    let cluster = Cluster::shared();
    ensure!(
        runnel_e2e::cluster::runnel_binary().is_some(),
        "the runnel binary is not built; `cargo test --workspace` builds it (or `cargo build -p runnel`)"
    );
    let client = cluster.client().await?;
    let ns = namespace(&client, "runnel").await?;
    let _dump = cluster.dump_on_failure(&ns);
    // `runnel:dev` maps to this build's runnel binary; the job's SQL comes from a ConfigMap. A pod
    // whose program fails under restartPolicy Never ends Failed with the exit code reported.
    let manifest = format!(
        r#"
apiVersion: v1
kind: ConfigMap
metadata: {{name: job}}
data:
  job.sql: |
    CREATE TABLE src (n BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '5',
      'fields.n.kind' = 'sequence', 'fields.n.start' = '1', 'fields.n.end' = '5');
    CREATE TABLE squares (n BIGINT, sq BIGINT) WITH ('connector' = 'print');
    INSERT INTO squares SELECT n, n * n FROM src;
---
apiVersion: v1
kind: Pod
metadata: {{name: squares}}
spec:
  restartPolicy: Never
  containers:
    - name: runnel
      image: runnel:dev
      args: [run, /opt/job/job.sql]
      volumeMounts: [{{name: job, mountPath: /opt/job}}]
  volumes: [{{name: job, configMap: {{name: job}}}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: bad-flag}}
spec:
  restartPolicy: Never
  containers:
    - {{name: main, image: {HTTPD_IMAGE}, args: ["--no-such-flag"]}}
"#
    );
    cluster.kubectl_stdin(&["apply", "-n", &ns, "-f", "-"], &manifest)?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let phase_of = |name: &'static str, want: &'static str| {
        let pods = pods.clone();
        async move {
            wait_for(&format!("pod {name} to be {want}"), TIMEOUT, || async {
                let p = pods.get(name).await?;
                Ok(
                    if p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some(want) {
                        Ok(p)
                    } else {
                        Err(summary(&p))
                    },
                )
            })
            .await
        }
    };
    let done = phase_of("squares", "Succeeded").await?;
    let output = cluster.kubectl(&["logs", "-n", &ns, "squares"])?;
    let rows: Vec<&str> = output.lines().filter(|l| l.starts_with("+I[")).collect();
    assert_eq!(
        rows,
        ["+I[1, 1]", "+I[2, 4]", "+I[3, 9]", "+I[4, 16]", "+I[5, 25]"],
        "{output}"
    );
    let term = terminated(&done).context("squares terminated")?;
    assert_eq!(
        (term.exit_code, term.reason.as_deref()),
        (0, Some("Completed"))
    );

    let failed = phase_of("bad-flag", "Failed").await?;
    let term = terminated(&failed).context("bad-flag terminated")?;
    assert_eq!((term.exit_code, term.reason.as_deref()), (2, Some("Error")));
    let restarts = failed
        .status
        .and_then(|s| s.container_statuses)
        .unwrap_or_default()[0]
        .restart_count;
    assert_eq!(restarts, 0, "restartPolicy Never must not restart");
    Ok(())
}

fn terminated(p: &Pod) -> Option<k8s_openapi::api::core::v1::ContainerStateTerminated> {
    p.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .first()?
        .state
        .as_ref()?
        .terminated
        .clone()
}
