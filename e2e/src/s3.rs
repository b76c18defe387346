//! A real S3-compatible server for end-to-end tests, started by `e2e/scripts/s3.sh`.
//!
//! The server is versitygw (Apache-2.0) with its posix backend, built from its Go module: it
//! checks SigV4 signatures and implements buckets, listing, ranged reads and multipart uploads
//! the way S3 clients expect, so Runnel's checkpoint storage is tested against real S3 semantics
//! without a cloud account.

use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::process::{self, Service};

/// The server listens well under a second after it starts (the build happens before, in
/// [`install`]); the margin is for loaded CI machines.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the server gets to drain and exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(20);

/// Printed by versitygw when it handles SIGTERM; its absence means the process died otherwise.
const SHUTTING_DOWN: &str = "shutting down";

/// The region the server is started with; SigV4 signatures must name it.
const REGION: &str = "us-east-1";

/// Attempts at starting, since a port picked by [`process::free_port`] can be taken by someone
/// else before the server binds it.
const START_ATTEMPTS: usize = 3;

/// A running S3 server (on 127.0.0.1, or another local address) with a single root account,
/// stopped when dropped.
///
/// Each instance has its own storage folder, port and random credentials, so tests cannot see
/// each other's buckets.
#[derive(Debug)]
pub struct S3 {
    service: Service,
    dir: PathBuf,
    host: IpAddr,
    port: u16,
    access_key: String,
    secret_key: String,
}

impl S3 {
    /// Builds the server if needed (a Go build on first use), then starts a fresh one with new
    /// credentials and returns once it accepts connections.
    pub fn start() -> Result<Self> {
        Self::start_on(IpAddr::from([127, 0, 0, 1]))
    }

    /// [`S3::start`] listening on `host`, a local address (the test cluster's bridge, which its
    /// pods reach).
    pub fn start_on(host: IpAddr) -> Result<Self> {
        install()?;
        process::retry_port_race("the S3 server", START_ATTEMPTS, || Self::start_once(host))
    }

    fn start_once(host: IpAddr) -> Result<Self> {
        let dir = process::scratch_dir("s3")?;
        let port = process::free_port()?;
        // Shaped like AWS keys so clients that sanity-check them accept these.
        let access_key = format!("AKIA{}", random_hex(8)?.to_uppercase());
        let secret_key = random_hex(20)?;
        let mut cmd = Command::new(script());
        cmd.arg("run")
            .arg(&dir)
            .arg(port.to_string())
            .arg(&access_key)
            .arg(&secret_key)
            .arg(host.to_string());
        let service = Service::spawn("s3", cmd, &dir.join("s3.log"), false)?;
        let mut s3 = Self {
            service,
            dir,
            host,
            port,
            access_key,
            secret_key,
        };
        s3.service
            .wait_for_port(s3.addr(), START_TIMEOUT)
            .context("waiting for the S3 server to listen")?;
        Ok(s3)
    }

    /// The base URL for path-style requests (`{endpoint}/{bucket}/{key}`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// The listener's address, for checks that talk TCP directly.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }

    /// The root account's access key id, fresh for each server.
    pub fn access_key(&self) -> &str {
        &self.access_key
    }

    /// The root account's secret key, fresh for each server.
    pub fn secret_key(&self) -> &str {
        &self.secret_key
    }

    /// The region to sign requests for.
    pub fn region(&self) -> &str {
        REGION
    }

    /// The server process id while it runs, so tests can check that it is really gone.
    pub fn pid(&self) -> Option<u32> {
        self.service.pid()
    }

    /// The server's log (one line per request), to quote when a test fails.
    pub fn log_path(&self) -> &Path {
        self.service.log_path()
    }

    /// The folder holding the server's buckets (`data/`), metadata and log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A curl command that signs its requests for this server (SigV4), as a client that shares
    /// no code with Runnel; `secret` overrides the secret key (to test refusals).
    pub fn curl(&self, secret: Option<&str>) -> Command {
        let mut cmd = Command::new("curl");
        cmd.args([
            "-sS",
            "--aws-sigv4",
            &format!("aws:amz:{REGION}:s3"),
            "--user",
        ])
        .arg(format!(
            "{}:{}",
            self.access_key,
            secret.unwrap_or(&self.secret_key)
        ))
        // curl before 8.x does not send the payload hash header that S3 requires; this value
        // is signed along with the other x-amz headers.
        .args(["-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"]);
        cmd
    }

    /// Creates a bucket.
    pub fn create_bucket(&self, bucket: &str) -> Result<()> {
        let url = format!("{}/{bucket}", self.endpoint());
        process::run(
            self.curl(None)
                .args(["--fail-with-body", "-X", "PUT"])
                .arg(&url),
        )
        .with_context(|| format!("creating bucket {bucket}"))?;
        Ok(())
    }

    /// The keys in `bucket` starting with `prefix` (ListObjectsV2, first 1000). The prefix
    /// must need no URL encoding (curl signs the query as written).
    pub fn keys(&self, bucket: &str, prefix: &str) -> Result<Vec<String>> {
        let url = format!("{}/{bucket}?list-type=2&prefix={prefix}", self.endpoint());
        let xml = process::run(self.curl(None).arg("--fail-with-body").arg(&url))?;
        Ok(xml
            .split("<Key>")
            .skip(1)
            .filter_map(|part| part.split_once("</Key>").map(|(k, _)| k.to_string()))
            .collect())
    }

    /// The environment variables that point an AWS client (Runnel's S3 storage) at this
    /// server.
    pub fn client_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", self.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_key.clone()),
            ("AWS_REGION", REGION.to_string()),
            ("AWS_ALLOW_HTTP", "true".to_string()),
        ]
    }

    /// Stops the server with SIGTERM and waits for it to exit. Returns whether the shutdown was
    /// clean: the server handled the signal and exited with status 0 within the grace period.
    pub fn stop(&mut self) -> Result<bool> {
        self.service
            .stop_cleanly(STOP_GRACE, &["exit status: 0"], SHUTTING_DOWN)
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        // Data is only worth keeping to debug a server that did not stop cleanly.
        if let Ok(true) = self.stop() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Builds the server into the cache unless already there; idempotent.
pub fn install() -> Result<()> {
    process::run(Command::new(script()).arg("install"))
        .context("installing the S3 server (e2e/scripts/s3.sh install)")?;
    Ok(())
}

fn script() -> PathBuf {
    process::repo_root().join("e2e/scripts/s3.sh")
}

/// `bytes` random bytes as lowercase hex, from the kernel (no RNG crate needed for credentials).
fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .context("reading /dev/urandom")?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}
