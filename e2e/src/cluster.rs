//! A whole Kubernetes cluster for a test process: `runnel-kube cluster` (see `e2e/kube`) started
//! once, shared by the tests of one test binary, and torn down by the launcher itself when the test
//! process exits (it watches its stdin, which this process holds open).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::process::{self, Service};

/// The image name that runs the test HTTP server (`runnel-kube httpd`).
pub const HTTPD_IMAGE: &str = "runnel-e2e/httpd:dev";
/// The image name that runs this build's `runnel`.
pub const RUNNEL_IMAGE: &str = "runnel:dev";
/// The image name that runs this build's `runnel-operator`.
pub const OPERATOR_IMAGE: &str = "runnel-operator:dev";

/// What the launcher reports once the cluster is ready.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ready {
    /// Admin kubeconfig with embedded credentials.
    pub kubeconfig: PathBuf,
    /// The API server URL.
    pub server: String,
    /// The bridge address: the pods' gateway, also where the API server and DNS listen.
    pub gateway: String,
    /// The cluster DNS server, `ip:53`.
    pub dns: String,
    /// The Service cluster IP range.
    #[serde(rename = "serviceCIDR")]
    pub service_cidr: String,
    /// Node names.
    pub nodes: Vec<String>,
    /// Control-plane component logs.
    pub log_dir: PathBuf,
    /// Per-node pod folders with container logs.
    pub nodes_dir: PathBuf,
    /// Seconds from launch to ready.
    pub startup_seconds: f64,
}

/// How to start a cluster.
#[derive(Debug, Clone)]
pub struct Options {
    /// Number of fake nodes.
    pub nodes: usize,
    /// Image name → local program and leading arguments (the image's entrypoint).
    pub images: Vec<(String, Vec<String>)>,
    /// First back-off before a crashed container restarts (the kubelet's is 10 s).
    pub restart_backoff: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            nodes: 2,
            images: Vec::new(),
            restart_backoff: Duration::from_secs(2),
        }
    }
}

/// A running cluster.
#[derive(Debug)]
pub struct Cluster {
    launcher: Mutex<Service>,
    dir: PathBuf,
    bin: PathBuf,
    ready: Ready,
}

impl Cluster {
    /// The cluster shared by all tests of this test binary, started on first use with the test
    /// HTTP server image, `runnel:dev` and `runnel-operator:dev` (for the binaries of this
    /// build that have been built).
    pub fn shared() -> &'static Cluster {
        static SHARED: OnceLock<std::result::Result<Cluster, String>> = OnceLock::new();
        let shared = SHARED.get_or_init(|| {
            let mut opts = Options::default();
            for (image, program) in [
                (RUNNEL_IMAGE, "runnel"),
                (OPERATOR_IMAGE, "runnel-operator"),
            ] {
                if let Some(path) = built_binary(program) {
                    opts.images
                        .push((image.into(), vec![path.to_string_lossy().into_owned()]));
                }
            }
            Cluster::start(opts).map_err(|e| format!("{e:#}"))
        });
        match shared {
            Ok(cluster) => cluster,
            Err(e) => panic!("starting the test cluster: {e}"),
        }
    }

    /// Builds the binaries when needed (cached) and starts a cluster, waiting until its nodes are
    /// Ready.
    pub fn start(opts: Options) -> Result<Self> {
        let bin = binaries()?;
        let dir = process::scratch_dir("cluster")?;
        let mut cmd = Command::new(bin.join("runnel-kube"));
        cmd.arg("cluster")
            .arg("--dir")
            .arg(&dir)
            .arg(format!("--nodes={}", opts.nodes))
            .arg(format!(
                "--restart-backoff={}ms",
                opts.restart_backoff.as_millis()
            ))
            .arg("--watch-stdin");
        let httpd = format!("{HTTPD_IMAGE}={} httpd", bin.join("runnel-kube").display());
        cmd.arg("--image").arg(httpd);
        for (name, entrypoint) in &opts.images {
            cmd.arg("--image")
                .arg(format!("{name}={}", entrypoint.join(" ")));
        }
        let mut launcher = Service::spawn("cluster", cmd, &dir.join("cluster.log"), true)?;
        let ready_file = dir.join("ready.json");
        launcher.wait_until("ready", Duration::from_secs(180), || ready_file.exists())?;
        let ready: Ready = serde_json::from_slice(&std::fs::read(&ready_file)?)
            .with_context(|| format!("reading {}", ready_file.display()))?;
        eprintln!(
            "runnel-e2e: cluster ready in {:.1}s ({}); KUBECONFIG={}",
            ready.startup_seconds,
            dir.display(),
            ready.kubeconfig.display()
        );
        Ok(Self {
            launcher: Mutex::new(launcher),
            dir,
            bin,
            ready,
        })
    }

    /// What the launcher reported.
    pub fn ready(&self) -> &Ready {
        &self.ready
    }

    /// The cluster's state folder (certificates, etcd, logs, pod folders).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The admin kubeconfig.
    pub fn kubeconfig(&self) -> &Path {
        &self.ready.kubeconfig
    }

    /// The folder with `runnel-kube`, `kubectl` and `helm`.
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }

    /// A client for the API server with admin rights. Make one per test: a client belongs to the
    /// async runtime it was made on.
    pub async fn client(&self) -> Result<kube::Client> {
        // Other crates of the workspace enable rustls's aws-lc-rs provider too; with two
        // compiled in, rustls needs to be told which one is the process default.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let kubeconfig = kube::config::Kubeconfig::read_from(self.kubeconfig())?;
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
        Ok(kube::Client::try_from(config)?)
    }

    /// Fails when the launcher has exited (a control-plane component died).
    pub fn check_running(&self) -> Result<()> {
        self.launcher
            .lock()
            .map_err(|_| anyhow::anyhow!("cluster handle poisoned"))?
            .check_running()
    }

    /// Runs kubectl against this cluster and returns its stdout.
    pub fn kubectl(&self, args: &[&str]) -> Result<String> {
        process::run(self.kubectl_command().args(args))
    }

    /// Runs kubectl with `input` on stdin (e.g. `apply -f -`).
    pub fn kubectl_stdin(&self, args: &[&str], input: &str) -> Result<String> {
        process::run_with_input(self.kubectl_command().args(args), input)
    }

    fn kubectl_command(&self) -> Command {
        let mut cmd = Command::new(self.bin.join("kubectl"));
        cmd.env("KUBECONFIG", self.kubeconfig());
        cmd
    }

    /// Runs helm against this cluster and returns its stdout.
    pub fn helm(&self, args: &[&str]) -> Result<String> {
        let home = self.dir.join("helm");
        let mut cmd = Command::new(self.bin.join("helm"));
        cmd.env("KUBECONFIG", self.kubeconfig())
            .env("HELM_CACHE_HOME", home.join("cache"))
            .env("HELM_CONFIG_HOME", home.join("config"))
            .env("HELM_DATA_HOME", home.join("data"))
            .args(args);
        process::run(&mut cmd)
    }

    /// The output of one run of a container (`restart` 0 is the first), read from the node's
    /// log files.
    pub fn container_log(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        restart: u32,
    ) -> Result<String> {
        let prefix = format!("{namespace}_{pod}_");
        for node in std::fs::read_dir(&self.ready.nodes_dir)? {
            let pods = node?.path().join("pods");
            let Ok(entries) = std::fs::read_dir(&pods) else {
                continue;
            };
            for entry in entries {
                let entry = entry?;
                if entry.file_name().to_string_lossy().starts_with(&prefix) {
                    let path = entry
                        .path()
                        .join("logs")
                        .join(container)
                        .join(format!("{restart}.log"));
                    return std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()));
                }
            }
        }
        bail!("no log folder for pod {namespace}/{pod} on any node")
    }

    /// Everything useful for understanding a failure in `namespace`: objects, descriptions,
    /// events, container logs and the tails of the control-plane logs.
    pub fn diagnostics(&self, namespace: &str) -> String {
        let mut out = String::new();
        let sections: [&[&str]; 4] = [
            &[
                "get",
                "all,endpointslices,configmaps,secrets,events",
                "-n",
                namespace,
                "-o",
                "wide",
            ],
            &[
                "describe",
                "pods,deployments,replicasets,services",
                "-n",
                namespace,
            ],
            &["get", "nodes", "-o", "wide"],
            &["get", "events", "-A", "--sort-by=.lastTimestamp"],
        ];
        for args in sections {
            let _ = writeln!(out, "\n===== kubectl {}", args.join(" "));
            match self.kubectl(args) {
                Ok(s) => out.push_str(&s),
                Err(e) => {
                    let _ = writeln!(out, "(failed: {e:#})");
                }
            }
        }
        if let Ok(nodes) = std::fs::read_dir(&self.ready.nodes_dir) {
            for node in nodes.flatten() {
                for log in walk(&node.path().join("pods")) {
                    let name = log.to_string_lossy();
                    if name.contains(&format!("/{namespace}_")) && name.ends_with(".log") {
                        let _ = writeln!(
                            out,
                            "\n===== {}\n{}",
                            log.display(),
                            process::tail(&log, 50)
                        );
                    }
                }
            }
        }
        for component in [
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "etcd",
        ] {
            let log = self.ready.log_dir.join(format!("{component}.log"));
            let _ = writeln!(
                out,
                "\n===== {} (tail)\n{}",
                log.display(),
                process::tail(&log, 20)
            );
        }
        let log = self.dir.join("cluster.log");
        let _ = writeln!(
            out,
            "\n===== {} (tail)\n{}",
            log.display(),
            process::tail(&log, 40)
        );
        out
    }

    /// A guard that prints [`Cluster::diagnostics`] for `namespace` if the test panics while it
    /// is alive.
    pub fn dump_on_failure<'a>(&'a self, namespace: &str) -> FailureDump<'a> {
        FailureDump {
            cluster: self,
            namespace: namespace.to_string(),
        }
    }

    /// Stops the cluster now and waits for the launcher's teardown.
    pub fn stop(self) -> Result<String> {
        let mut launcher = self
            .launcher
            .into_inner()
            .map_err(|_| anyhow::anyhow!("cluster handle poisoned"))?;
        launcher.stop(Duration::from_secs(60))
    }
}

/// Prints a namespace's diagnostics when dropped during a panic.
#[derive(Debug)]
pub struct FailureDump<'a> {
    cluster: &'a Cluster,
    namespace: String,
}

impl Drop for FailureDump<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "runnel-e2e: test failed; cluster state of namespace {}:\n{}",
                self.namespace,
                self.cluster.diagnostics(&self.namespace)
            );
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Runs `e2e/scripts/build-kube.sh` once per process and returns the folder it prints.
pub fn binaries() -> Result<PathBuf> {
    static BIN: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| {
        let started = Instant::now();
        let script = process::repo_root().join("e2e/scripts/build-kube.sh");
        let out = Command::new("bash")
            .arg(&script)
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("running {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!("{} failed ({})", script.display(), out.status));
        }
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        eprintln!(
            "runnel-e2e: cluster binaries in {} ({:.1}s)",
            dir.display(),
            started.elapsed().as_secs_f64()
        );
        Ok(dir)
    })
    .clone()
    .map_err(|e| anyhow::anyhow!(e))
}

/// The `runnel` binary of the current build profile, when it has been built.
pub fn runnel_binary() -> Option<PathBuf> {
    built_binary("runnel")
}

/// A binary of this workspace in the current build profile, when it has been built.
pub fn built_binary(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    // Test binaries live in <target>/<profile>/deps/.
    let profile_dir = exe.parent()?.parent()?;
    let candidate = profile_dir.join(name);
    candidate.is_file().then_some(candidate)
}
