//! `runnel-operator`: runs Runnel on Kubernetes. It reconciles `FlinkJob` (a job with its own
//! cluster, or in a session), `FlinkSession` (a shared cluster) and `Agent` resources; it talks
//! to JobManagers over their REST API only, so it never links the runtime.

mod agent;
mod cluster;
mod context;
mod controller;
mod error;
mod events;
mod flinkjob;
mod health;
mod metrics;
mod rest;
mod session;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use tracing::{error, info, warn};

use crate::context::{Context, Settings};

#[derive(Parser, Debug)]
#[command(
    name = "runnel-operator",
    version,
    about = "Runs Runnel jobs on Kubernetes"
)]
struct Args {
    /// Namespaces to watch (comma-separated); all namespaces when empty.
    #[arg(
        long,
        env = "RUNNEL_WATCH_NAMESPACES",
        value_delimiter = ',',
        default_value = ""
    )]
    watch_namespaces: Vec<String>,
    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    #[arg(long, env = "RUNNEL_HEALTH_ADDRESS", default_value = "0.0.0.0:8080")]
    health_address: SocketAddr,
    /// Log filter (`info`, `debug`, `runnel_operator=debug,kube=info`, ...).
    #[arg(long, env = "RUNNEL_LOG_LEVEL", default_value = "info")]
    log_level: String,
    /// Log as JSON lines (for log collectors) instead of text.
    #[arg(long, env = "RUNNEL_LOG_JSON", default_value_t = false)]
    log_json: bool,
    /// Elect one active replica through a Lease in this namespace (the operator's own).
    #[arg(long, env = "RUNNEL_LEADER_ELECTION_NAMESPACE")]
    leader_election_namespace: Option<String>,
    /// This replica's name in the election (the pod name).
    #[arg(long, env = "POD_NAME", default_value = "runnel-operator")]
    identity: String,
    /// How long a new deployment may take to run its job before it is rolled back.
    #[arg(long, env = "RUNNEL_DEPLOYMENT_TIMEOUT", value_parser = humantime_secs, default_value = "180")]
    deployment_timeout: Duration,
    /// How often healthy resources are observed again.
    #[arg(long, env = "RUNNEL_OBSERVE_INTERVAL", value_parser = humantime_secs, default_value = "10")]
    observe_interval: Duration,
    /// How long the operator's Lease lasts without renewal (a standby takes over after it).
    #[arg(long, env = "RUNNEL_LEASE_DURATION", value_parser = humantime_secs, default_value = "15")]
    lease_duration: Duration,
    /// How long the leader may fail to renew before it stops leading (below the lease
    /// duration by at least the retry period).
    #[arg(long, env = "RUNNEL_RENEW_DEADLINE", value_parser = humantime_secs, default_value = "10")]
    renew_deadline: Duration,
    /// How often the leader renews and a standby tries.
    #[arg(long, env = "RUNNEL_RETRY_PERIOD", value_parser = humantime_secs, default_value = "2")]
    retry_period: Duration,
}

/// Seconds, or a duration with a unit (`90s`, `5m`).
fn humantime_secs(s: &str) -> Result<Duration, String> {
    match s.trim().parse::<u64>() {
        Ok(n) => Ok(Duration::from_secs(n)),
        Err(_) => flinkjob::parse_duration(s)
            .ok_or_else(|| format!("'{s}' is not a duration (seconds, or 90s, 5m)")),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if args.log_json {
        builder.json().init();
    } else {
        builder.with_ansi(false).init();
    }
    match run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            error!("{e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    // Both TLS providers are compiled in (through reqwest); say which one the process uses.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = kube::Client::try_default().await?;
    let metrics = Arc::new(metrics::Metrics::default());
    let health = health::serve(args.health_address, metrics.clone()).await?;
    info!(address = %args.health_address, "serving /metrics, /healthz and /readyz");
    // Ready once it reaches the API server: a standby waiting for the Lease is ready too, so a
    // Deployment of several replicas rolls out.
    client.apiserver_version().await?;
    health.ready();
    let mut leading = None;
    if let Some(ns) = &args.leader_election_namespace {
        let elector = runnel_lease::Elector::new(
            client.clone(),
            ns,
            "runnel-operator-leader",
            &args.identity,
            [(
                "app.kubernetes.io/name".to_string(),
                "runnel-operator".to_string(),
            )]
            .into(),
            runnel_lease::Timing {
                lease_duration: args.lease_duration,
                renew_deadline: args.renew_deadline,
                retry_period: args.retry_period,
            },
        );
        info!(lease = elector.name(), namespace = %ns, "taking the operator's Lease");
        elector
            .acquire(|holder| info!(%holder, "another replica leads; standing by"))
            .await?;
        info!(identity = %args.identity, "leading");
        leading = Some(elector.clone());
        tokio::spawn(async move {
            let lost = elector.keep().await;
            error!(%lost, "lost leadership; exiting so that one replica acts at a time");
            std::process::exit(1);
        });
    }
    let ctx = Arc::new(Context::new(
        client.clone(),
        metrics,
        Settings {
            deployment_timeout: args.deployment_timeout,
            observe_interval: args.observe_interval,
        },
    )?);
    let namespaces: Vec<String> = args
        .watch_namespaces
        .into_iter()
        .filter(|n| !n.is_empty())
        .collect();
    info!(namespaces = ?namespaces, "starting controllers");
    tokio::select! {
        () = flinkjob::run(ctx.clone(), &namespaces) => {}
        () = session::run(ctx.clone(), &namespaces) => {}
        () = agent::run(ctx.clone(), &namespaces) => {}
        r = tokio::signal::ctrl_c() => { r?; info!("interrupted"); }
        () = terminated() => info!("terminated"),
    }
    // Stopped on purpose: a standby takes the Lease at once.
    if let Some(elector) = leading {
        match tokio::time::timeout(Duration::from_secs(2), elector.release()).await {
            Ok(Ok(())) => info!(lease = elector.name(), "released the Lease"),
            _ => warn!(
                lease = elector.name(),
                "the Lease could not be released; a standby takes it when it expires"
            ),
        }
    }
    Ok(())
}

/// Resolves on SIGTERM (a pod being deleted); never where it cannot be listened for.
async fn terminated() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            term.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}
