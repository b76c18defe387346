//! The `runnel` command: run a Flink SQL script locally.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use runnel::sql::Session;

#[derive(Parser)]
#[command(name = "runnel", version, about = "Flink-compatible stream processing")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a Flink SQL script in one process (a JobManager and TaskManagers in-process).
    Run {
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
    },
}

fn main() -> ExitCode {
    // Panics are bugs; the job reports them as internal errors, so keep the default hook's
    // backtrace for those who ask for it explicitly with RUNNEL_BACKTRACE=1.
    if std::env::var_os("RUNNEL_BACKTRACE").is_none() {
        std::panic::set_hook(Box::new(|_| {}));
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            script,
            parallelism,
            explain,
            config,
        } => match run(&script, parallelism, explain, &config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

fn run(
    script: &PathBuf,
    parallelism: Option<u32>,
    explain: bool,
    config: &[String],
) -> anyhow::Result<()> {
    use anyhow::Context;
    let sql =
        std::fs::read_to_string(script).with_context(|| format!("reading {}", script.display()))?;
    let mut session = Session::new();
    for kv in config {
        let (key, value) = kv
            .split_once('=')
            .with_context(|| format!("-D {kv}: expected KEY=VALUE"))?;
        session.set(key.trim(), value.trim())?;
    }
    if let Some(p) = parallelism {
        session.set("parallelism.default", &p.to_string())?;
    }
    let statements =
        runnel::sql::parse_script(&sql).with_context(|| format!("in {}", script.display()))?;
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;
    // Each statement is planned when the ones before it have run, as in Flink's SQL client.
    for stmt in statements {
        let Some(job) = session
            .execute(stmt)
            .with_context(|| format!("in {}", script.display()))?
        else {
            continue;
        };
        if explain {
            eprintln!("{}", job.graph.explain());
        }
        let mut out = std::io::stdout();
        rt.block_on(job.run_local(&mut out))?;
    }
    Ok(())
}
