//! The `runnel` command: run a Flink SQL script locally, with checkpoints and savepoints.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use std::collections::BTreeMap;

use runnel::checkpoint::{FINISHED_FILE, Location, RestorePoint, find_checkpoints, finished_runs};
use runnel::cluster::JobManager;
use runnel::execution::{JobCommand, JobOptions, JobRegistry, new_job_id};
use runnel::sql::{Session, SessionJob};
use tokio::sync::{mpsc, oneshot};

#[derive(Parser)]
#[command(name = "runnel", version, about = "Flink-compatible stream processing")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a Flink SQL script in one process (a JobManager and TaskManagers in-process).
    ///
    /// While it runs, SIGUSR1 takes a savepoint and SIGUSR2 stops the job with a savepoint
    /// (see `runnel savepoint` and `runnel stop`).
    Run(RunArgs),
    /// Starts a JobManager: TaskManagers register with it, jobs come as SQL through its REST
    /// API (`POST /jobs/sql`) or, in application mode, as the script given here (the
    /// JobManager exits when that job ends).
    Jobmanager(ClusterArgs),
    /// Starts a TaskManager that registers with the JobManager at `jobmanager.rpc.address`
    /// and `jobmanager.rpc.port` and runs subtasks in `taskmanager.numberOfTaskSlots` slots.
    Taskmanager {
        /// Configuration `key=value` (Flink's `-D`); may be repeated.
        #[arg(short = 'D', value_name = "KEY=VALUE")]
        config: Vec<String>,
    },
    /// Takes a savepoint of a job running locally (`runnel run`) and prints its path.
    Savepoint {
        /// Process id of the `runnel run` process.
        pid: u32,
    },
    /// Stops a job running locally with a savepoint and prints its path.
    Stop {
        /// Process id of the `runnel run` process.
        pid: u32,
    },
}

#[derive(Args)]
struct RunArgs {
    /// The script.
    script: PathBuf,
    /// Parallelism of every operator (overrides `parallelism.default`).
    #[arg(long, short = 'p')]
    parallelism: Option<u32>,
    /// Print the job graph before running.
    #[arg(long)]
    explain: bool,
    /// Configuration `key=value`, as `SET 'key' = 'value'` at the top of the script
    /// (Flink's `-D`); may be repeated.
    #[arg(short = 'D', value_name = "KEY=VALUE")]
    config: Vec<String>,
    /// Start from this savepoint or checkpoint folder (Flink's `-s`).
    #[arg(
        long,
        short = 's',
        value_name = "PATH",
        conflicts_with = "from_checkpoint"
    )]
    from_savepoint: Option<PathBuf>,
    /// Start from a retained checkpoint: `latest` (newest one of this job in the checkpoint
    /// folder, falling back to older ones when it is unreadable) or a path.
    #[arg(long, value_name = "latest|PATH")]
    from_checkpoint: Option<String>,
    /// Start even if the snapshot has state for operators the job no longer has.
    #[arg(long, short = 'n')]
    allow_non_restored_state: bool,
}

#[derive(Args)]
struct ClusterArgs {
    /// Application mode: the job's script.
    script: Option<PathBuf>,
    /// Configuration `key=value` (Flink's `-D`); may be repeated. Jobs are planned with it.
    #[arg(short = 'D', value_name = "KEY=VALUE")]
    config: Vec<String>,
}

fn main() -> ExitCode {
    // Panics are bugs; the job reports them as internal errors, so keep the default hook's
    // backtrace for those who ask for it explicitly with RUNNEL_BACKTRACE=1.
    if std::env::var_os("RUNNEL_BACKTRACE").is_none() {
        std::panic::set_hook(Box::new(|_| {}));
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(&args),
        Command::Jobmanager(args) => jobmanager(&args),
        Command::Taskmanager { config } => taskmanager(&config),
        Command::Savepoint { pid } => signal_job(pid, false),
        Command::Stop { pid } => signal_job(pid, true),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &RunArgs) -> anyhow::Result<()> {
    let script = &args.script;
    let sql =
        std::fs::read_to_string(script).with_context(|| format!("reading {}", script.display()))?;
    let mut session = Session::new();
    for (key, value) in options(&args.config)? {
        session.set(&key, &value)?;
    }
    if let Some(p) = args.parallelism {
        session.set("parallelism.default", &p.to_string())?;
    }
    let statements =
        runnel::sql::parse_script(&sql).with_context(|| format!("in {}", script.display()))?;
    let rt = runtime()?;
    let mut restore = args.from_savepoint.clone();
    // The REST API, started with the first job that sets `rest.port`, shows every job after.
    let jobs = JobRegistry::default();
    let mut rest: Option<std::net::SocketAddr> = None;
    // Each statement is planned when the ones before it have run, as in Flink's SQL client.
    for stmt in statements {
        let Some(job) = session
            .execute(stmt)
            .with_context(|| format!("in {}", script.display()))?
        else {
            continue;
        };
        if args.explain {
            eprintln!("{}", job.graph.explain());
        }
        let point = match (&args.from_checkpoint, restore.take()) {
            (_, Some(path)) => Some(RestorePoint::open(&Location::parse(
                "--from-savepoint",
                &path.to_string_lossy(),
            )?)?),
            (Some(which), None) => match latest_checkpoint(&job, which)? {
                Recovery::From(p) => Some(p),
                Recovery::Fresh => None,
                Recovery::Finished => {
                    eprintln!(
                        "runnel: {} already finished (a later run without --from-checkpoint \
                         runs it again); nothing to recover",
                        job.graph.name
                    );
                    continue;
                }
            },
            (None, None) => None,
        };
        if args.from_checkpoint.is_none() {
            // A new run of the job: earlier runs' "finished" records no longer apply.
            for dir in finished_runs(&job.checkpoint.dir, &job.graph.name) {
                dir.delete_all();
            }
        }
        if let Some(p) = &point {
            eprintln!(
                "runnel: restoring {} from {} (checkpoint {})",
                job.graph.name, p.dir, p.metadata.checkpoint_id
            );
        }
        if let (None, Some(config)) = (rest, &job.rest) {
            let slots = job.graph.slots_needed();
            let local = std::sync::Arc::new(runnel::rest::LocalCluster { slots });
            let addr = rt.block_on(runnel::rest::serve(config, jobs.clone(), local))?;
            eprintln!("runnel: REST API at http://{addr}");
            rest = Some(addr);
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let job_id = new_job_id();
        if rest.is_some() {
            jobs.attach(&job_id, tx.clone());
        }
        let options = JobOptions {
            job_id: Some(job_id),
            registry: rest.map(|_| jobs.clone()),
            restore: point,
            allow_non_restored_state: args.allow_non_restored_state,
            // Recovering from a retained checkpoint takes it over; a savepoint stays the user's.
            claim_restored: args.from_checkpoint.is_some(),
            commands: Some(rx),
            ..JobOptions::default()
        };
        let outcome = rt.block_on(async move {
            let signals = tokio::spawn(forward_signals(tx));
            let mut out = std::io::stdout();
            let outcome = job.run_local_with(&mut out, options).await;
            signals.abort();
            outcome
        })?;
        if let Some(path) = outcome.stopped_with_savepoint {
            println!("Savepoint completed. Path: {path}");
            break;
        }
        if outcome.cancelled {
            eprintln!("runnel: job {} cancelled", outcome.job_id);
            break;
        }
    }
    Ok(())
}

/// `-D key=value` options as a map.
fn options(config: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    config
        .iter()
        .map(|kv| {
            let (k, v) = kv
                .split_once('=')
                .with_context(|| format!("-D {kv}: expected KEY=VALUE"))?;
            Ok((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?)
}

fn jobmanager(args: &ClusterArgs) -> anyhow::Result<()> {
    let options = options(&args.config)?;
    let script = match &args.script {
        Some(path) => Some(
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        ),
        None => None,
    };
    runtime()?.block_on(async {
        let Some(script) = script else {
            // Session mode: serve until stopped.
            let _jm = JobManager::start(options).await?;
            tokio::signal::ctrl_c().await?;
            return Ok(());
        };
        let (jm, job) = JobManager::start_application(options, script).await?;
        if let Some(job) = job {
            let outcome = job.await.context("the job's JobMaster panicked")?;
            match outcome {
                Ok(outcome) => {
                    if let Some(path) = outcome.stopped_with_savepoint {
                        println!("Savepoint completed. Path: {path}");
                    }
                }
                Err(e) if jm.shutdown_on_application_finish()? => return Err(e.into()),
                // Reported by the REST API (and logged by the JobManager).
                Err(_) => {}
            }
        }
        if !jm.shutdown_on_application_finish()? {
            // The REST API keeps answering for whoever watches the job (the operator).
            eprintln!("runnel: the application's job ended; serving its REST API until stopped");
            std::future::pending::<()>().await;
        }
        Ok(())
    })
}

fn taskmanager(config: &[String]) -> anyhow::Result<()> {
    let options = options(config)?;
    runtime()?.block_on(runnel::cluster::run_task_manager(options))?;
    Ok(())
}

/// What `--from-checkpoint` resolved to.
enum Recovery {
    /// Restore this checkpoint.
    From(RestorePoint),
    /// No checkpoint of the job exists: start without state.
    Fresh,
    /// The job's last run finished; there is nothing to recover.
    Finished,
}

/// The newest usable checkpoint of `job` (`which` = `latest`) or the one at path `which`. An
/// unreadable newest checkpoint is reported and the next older one used.
fn latest_checkpoint(job: &SessionJob, which: &str) -> anyhow::Result<Recovery> {
    if which != "latest" {
        return Ok(Recovery::From(RestorePoint::open(&Location::parse(
            "--from-checkpoint",
            which,
        )?)?));
    }
    let root = &job.checkpoint.dir;
    // The job finished (and was maybe stopped while deleting its checkpoints): finish the
    // cleanup, keeping the markers; there is nothing to recover.
    let finished = finished_runs(root, &job.graph.name);
    if !finished.is_empty() {
        // Each folder once: the finished runs' and those of earlier runs it had taken over.
        let mut dirs: Vec<Location> = find_checkpoints(root, &job.graph.name)
            .into_iter()
            .filter_map(|rp| rp.dir.parent())
            .collect();
        dirs.extend(finished);
        dirs.sort_by_key(|d| d.to_string());
        dirs.dedup_by_key(|d| d.to_string());
        for dir in &dirs {
            for child in dir.children() {
                if child.name() != FINISHED_FILE {
                    child.delete_all();
                }
            }
        }
        return Ok(Recovery::Finished);
    }
    let candidates = find_checkpoints(root, &job.graph.name);
    for point in &candidates {
        match point.verify() {
            Ok(()) => return Ok(Recovery::From(point.clone())),
            Err(e) => eprintln!("runnel: skipping checkpoint {}: {e}", point.dir),
        }
    }
    if candidates.is_empty() {
        eprintln!(
            "runnel: no checkpoint of {} under {root}; starting without state",
            job.graph.name,
        );
        return Ok(Recovery::Fresh);
    }
    bail!(
        "none of the {} checkpoints of {} under {root} can be read",
        candidates.len(),
        job.graph.name,
    )
}

/// Turns SIGUSR1 (savepoint) and SIGUSR2 (stop with savepoint) into job commands, and records
/// each savepoint's path where `runnel savepoint` looks for it.
async fn forward_signals(tx: mpsc::UnboundedSender<JobCommand>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut usr1), Ok(mut usr2)) = (
        signal(SignalKind::user_defined1()),
        signal(SignalKind::user_defined2()),
    ) else {
        return;
    };
    loop {
        let stop = tokio::select! {
            _ = usr1.recv() => false,
            _ = usr2.recv() => true,
        };
        let (reply, answer) = oneshot::channel();
        if tx
            .send(JobCommand::Savepoint {
                dir: None,
                stop,
                reply,
            })
            .is_err()
        {
            return;
        }
        let line = match answer.await {
            Ok(Ok(path)) => format!("ok {path}"),
            Ok(Err(e)) => format!("error {e}"),
            Err(_) => "error the job ended first".to_string(),
        };
        eprintln!("runnel: savepoint: {line}");
        let _ = append_line(&savepoint_log(std::process::id()), &line);
    }
}

/// Where a local job records the outcome of each signalled savepoint.
fn savepoint_log(pid: u32) -> PathBuf {
    runnel::checkpoint::default_checkpoint_dir()
        .parent()
        .unwrap_or(Path::new("."))
        .join("jobs")
        .join(format!("{pid}.savepoints"))
}

fn append_line(path: &Path, line: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    writeln!(f, "{line}")
}

/// Signals a local job and waits for the savepoint's outcome.
fn signal_job(pid: u32, stop: bool) -> anyhow::Result<()> {
    let log = savepoint_log(pid);
    let before = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .count();
    let sig = if stop { libc::SIGUSR2 } else { libc::SIGUSR1 };
    // SAFETY: kill(2) with a pid and signal number has no memory-safety preconditions.
    if unsafe { libc::kill(pid as libc::pid_t, sig) } != 0 {
        bail!(
            "cannot signal process {pid}: {}",
            std::io::Error::last_os_error()
        );
    }
    for _ in 0..6000 {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(line) = text.lines().nth(before) {
            return match line.split_once(' ') {
                Some(("ok", path)) => {
                    println!("Savepoint completed. Path: {path}");
                    Ok(())
                }
                Some((_, e)) => bail!("savepoint failed: {e}"),
                None => bail!("savepoint failed"),
            };
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("no savepoint reported by process {pid} within 10 minutes")
}
