//! Child processes that never outlive the test process, with their output kept in a log file.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// A supervised child process: killed (SIGTERM, then SIGKILL) when dropped, and never outliving
/// the test process, so a crashed test leaves nothing running.
#[derive(Debug)]
pub struct Service {
    name: String,
    child: Option<Child>,
    log: PathBuf,
    /// What [`Service::stop_cleanly`] found, so asking again gives the same answer.
    clean: Option<bool>,
}

impl Service {
    /// Starts `cmd` with stdout and stderr appended to `log`. Without `keep_stdin` the kernel kills
    /// the child when the thread that started it ends. With `keep_stdin`, the child's stdin is a
    /// pipe that closes only when this handle is dropped or the test process dies: a child that
    /// watches stdin (the cluster launcher does) then cleans up after itself, and may be shared by
    /// tests running on other threads.
    pub fn spawn(name: &str, mut cmd: Command, log: &Path, keep_stdin: bool) -> Result<Self> {
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let out = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        cmd.stdout(out).stderr(err);
        cmd.stdin(if keep_stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        // SAFETY: prctl and setpgid are async-signal-safe and touch only the new process.
        unsafe {
            cmd.pre_exec(move || {
                if !keep_stdin && libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::setpgid(0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {name} ({:?})", cmd.get_program()))?;
        Ok(Self {
            name: name.to_string(),
            child: Some(child),
            log: log.to_path_buf(),
            clean: None,
        })
    }

    /// The file that receives the process's output.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Fails with the tail of the log when the process has exited.
    pub fn check_running(&mut self) -> Result<()> {
        let child = self.child.as_mut().context("process already stopped")?;
        if let Some(status) = child.try_wait()? {
            bail!(
                "{} exited ({status}); last output:\n{}",
                self.name,
                tail(&self.log, 40)
            );
        }
        Ok(())
    }

    /// Waits until `ready` holds, failing early if the process exits or after `timeout`.
    pub fn wait_until(
        &mut self,
        what: &str,
        timeout: Duration,
        mut ready: impl FnMut() -> bool,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if ready() {
                return Ok(());
            }
            self.check_running()?;
            if Instant::now() > deadline {
                bail!(
                    "{} not {what} after {timeout:?}; last output:\n{}",
                    self.name,
                    tail(&self.log, 40)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the log contains `needle`.
    pub fn wait_for_log(&mut self, needle: &str, timeout: Duration) -> Result<()> {
        let log = self.log.clone();
        self.wait_until(&format!("logging {needle:?}"), timeout, || {
            log_contains(&log, needle)
        })
    }

    /// Waits until a TCP connection to `addr` succeeds.
    pub fn wait_for_port(&mut self, addr: SocketAddr, timeout: Duration) -> Result<()> {
        self.wait_until(&format!("listening on {addr}"), timeout, || port_open(addr))
    }

    /// Stops the process and says whether it went cleanly: an exit status among `ok` and
    /// `needle` in its log (what it prints at the end of an orderly shutdown). Later calls
    /// return the first answer.
    pub fn stop_cleanly(&mut self, grace: Duration, ok: &[&str], needle: &str) -> Result<bool> {
        if let Some(clean) = self.clean {
            return Ok(clean);
        }
        let status = self
            .stop(grace)
            .with_context(|| format!("stopping {}", self.name))?;
        let clean = ok.contains(&status.as_str()) && log_contains(&self.log, needle);
        self.clean = Some(clean);
        Ok(clean)
    }

    /// Stops the process: SIGTERM to its process group, SIGKILL after `grace`. Returns its exit
    /// status description.
    pub fn stop(&mut self, grace: Duration) -> Result<String> {
        let Some(mut child) = self.child.take() else {
            return Ok("already stopped".into());
        };
        if let Some(status) = child.try_wait()? {
            return Ok(status.to_string());
        }
        let pgid = child.id() as libc::pid_t;
        // SAFETY: signalling our own child's process group.
        unsafe { libc::kill(-pgid, libc::SIGTERM) };
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait()? {
                return Ok(status.to_string());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // SAFETY: as above.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        Ok(format!("{} (killed after {grace:?})", child.wait()?))
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.stop(Duration::from_secs(10));
    }
}

/// Calls `start` up to `attempts` times while it fails only because a port picked by
/// [`free_port`] was taken by someone else before the server bound it.
pub fn retry_port_race<T>(
    what: &str,
    attempts: usize,
    mut start: impl FnMut() -> Result<T>,
) -> Result<T> {
    let mut last = None;
    for _ in 0..attempts {
        match start() {
            Ok(v) => return Ok(v),
            Err(e)
                if format!("{e:#}")
                    .to_ascii_lowercase()
                    .contains("address already in use") =>
            {
                last = Some(e)
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.context("no start attempt")?)
        .with_context(|| format!("starting {what}: ports kept being taken"))
}

/// Whether a TCP connection to `addr` succeeds within half a second.
pub fn port_open(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
}

/// A free TCP port on 127.0.0.1 (free now; the caller binds it soon after).
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Whether the file at `path` contains `needle`.
pub fn log_contains(path: &Path, needle: &str) -> bool {
    std::fs::read_to_string(path).is_ok_and(|s| s.contains(needle))
}

/// The last `lines` lines of a text file (empty when it cannot be read).
pub fn tail(path: &Path, lines: usize) -> String {
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(64 * 1024);
    if file.seek(SeekFrom::Start(start)).is_err() {
        return String::new();
    }
    let mut text = String::new();
    let _ = BufReader::new(&mut file).read_to_string(&mut text);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Runs a command to completion and returns its stdout, failing with its stderr and exit status.
pub fn run(cmd: &mut Command) -> Result<String> {
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {:?}", cmd.get_program()))?;
    stdout_of(cmd, output)
}

/// As [`run`], with `input` written to the command's stdin.
pub fn run_with_input(cmd: &mut Command, input: &str) -> Result<String> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {:?}", cmd.get_program()))?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(input.as_bytes())?;
    let output = child.wait_with_output()?;
    stdout_of(cmd, output)
}

fn stdout_of(cmd: &Command, output: std::process::Output) -> Result<String> {
    if !output.status.success() {
        bail!(
            "{:?} {:?} failed ({}):\n{}{}",
            cmd.get_program(),
            cmd.get_args().collect::<Vec<_>>(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The repository root (the folder above `e2e/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("e2e has a parent folder")
        .to_path_buf()
}

/// A new scratch folder for one run of a service, under the system temp dir. Folders left by test
/// processes that no longer run are removed first, so repeated runs do not fill the disk.
pub fn scratch_dir(prefix: &str) -> Result<PathBuf> {
    let base = std::env::temp_dir().join("runnel-e2e");
    std::fs::create_dir_all(&base)?;
    prune_stale(&base);
    for n in 0..10_000u32 {
        let dir = base.join(format!("{prefix}-{}-{n}", std::process::id()));
        if std::fs::create_dir(&dir).is_ok() {
            return Ok(dir);
        }
    }
    bail!("no free scratch folder under {}", base.display())
}

/// Removes `<prefix>-<pid>-<n>` folders whose process has exited.
fn prune_stale(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name.rsplit('-').nth(1).and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid
            && pid != std::process::id()
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
