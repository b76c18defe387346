//! The supporting services behave like the real thing: a Kafka broker that stores and serves
//! records across partitions, and an S3 server that enforces signatures and round-trips bytes.
//! Both must also go away completely when stopped, or later tests would inherit their ports.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, ensure};
use runnel_e2e::kafka::Kafka;
use runnel_e2e::process::{port_open, run};
use runnel_e2e::s3::S3;

#[test]
fn kafka_round_trips_records_on_a_partitioned_topic_and_stops_cleanly() -> Result<()> {
    let mut kafka = Kafka::start()?;
    assert!(
        port_open(kafka.addr()),
        "broker not listening on {}",
        kafka.bootstrap()
    );
    assert!(kafka.bootstrap().starts_with("127.0.0.1:"));

    kafka.create_topic("e2e-lines", 3)?;
    // A second create must fail: the broker really keeps topic metadata.
    assert!(kafka.create_topic("e2e-lines", 3).is_err());

    let lines: Vec<String> = (0..60)
        .map(|i| format!("record-{i:03} päyload ✓"))
        .collect();
    // Two producer runs: the consumer must see what separate producers wrote.
    kafka.produce("e2e-lines", &lines[..30])?;
    kafka.produce("e2e-lines", &lines[30..])?;

    let got = kafka.consume("e2e-lines", lines.len())?;
    assert_eq!(
        got.len(),
        lines.len(),
        "exactly the records produced, no duplicates"
    );
    let got: BTreeSet<_> = got.into_iter().collect();
    let want: BTreeSet<_> = lines.iter().cloned().collect();
    assert_eq!(got, want);

    let pid = kafka.pid().context("broker pid")?;
    let addr = kafka.addr();
    assert!(
        kafka.stop()?,
        "broker did not shut down cleanly; log: {}",
        kafka.log_path().display()
    );
    assert!(!port_open(addr), "port {addr} still open after stop");
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "broker process {pid} still exists"
    );
    assert!(kafka.pid().is_none());
    Ok(())
}

#[test]
fn s3_enforces_signatures_and_round_trips_objects() -> Result<()> {
    let mut s3 = S3::start()?;
    assert_eq!(s3.region(), "us-east-1");
    let client = Curl::new(&s3, s3.secret_key());
    let bucket = format!("{}/e2e-bucket", s3.endpoint());

    assert_eq!(client.status("PUT", &bucket, None)?, 200, "create bucket");

    // Every byte value, then some more, so encoding or truncation bugs show.
    let dir = tempdir(&s3)?;
    let body: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let upload = dir.join("upload.bin");
    std::fs::write(&upload, &body)?;
    let object = format!("{bucket}/dir/object.bin");
    assert_eq!(
        client.status("PUT", &object, Some(&upload))?,
        200,
        "put object"
    );

    let listing = client.body(&format!("{bucket}?list-type=2"))?;
    assert!(
        listing.contains("<Key>dir/object.bin</Key>"),
        "listing lacks the object:\n{listing}"
    );
    assert!(
        listing.contains(&format!("<Size>{}</Size>", body.len())),
        "listing:\n{listing}"
    );

    let download = dir.join("download.bin");
    client.download(&object, &download)?;
    assert_eq!(
        std::fs::read(&download)?,
        body,
        "object bytes differ after a round trip"
    );

    assert_eq!(
        client.status("DELETE", &object, None)?,
        204,
        "delete object"
    );
    let listing = client.body(&format!("{bucket}?list-type=2"))?;
    assert!(
        !listing.contains("<Key>"),
        "listing still has keys after delete:\n{listing}"
    );
    assert_eq!(
        client.status("GET", &object, None)?,
        404,
        "get after delete"
    );

    // The same request signed with the wrong secret is refused.
    let forger = Curl::new(&s3, "not-the-secret");
    assert_eq!(
        forger.status("GET", &format!("{bucket}?list-type=2"), None)?,
        403
    );

    let pid = s3.pid().context("server pid")?;
    let addr = s3.addr();
    assert!(
        s3.stop()?,
        "server did not shut down cleanly; log: {}",
        s3.log_path().display()
    );
    assert!(!port_open(addr), "port {addr} still open after stop");
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "server process {pid} still exists"
    );
    Ok(())
}

/// curl with SigV4 signing, as a client that shares no code with Runnel.
struct Curl {
    user: String,
    sigv4: String,
}

impl Curl {
    fn new(s3: &S3, secret: &str) -> Self {
        Self {
            user: format!("{}:{secret}", s3.access_key()),
            sigv4: format!("aws:amz:{}:s3", s3.region()),
        }
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--aws-sigv4", &self.sigv4, "--user", &self.user])
            // curl before 8.x does not send the payload hash header that S3 requires; this value
            // is signed along with the other x-amz headers.
            .args(["-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"]);
        cmd
    }

    /// The HTTP status of a request, with an optional file as the body.
    fn status(&self, method: &str, url: &str, upload: Option<&Path>) -> Result<u16> {
        let mut cmd = self.command();
        cmd.args(["-X", method, "-o", "/dev/null", "-w", "%{http_code}"]);
        if let Some(file) = upload {
            cmd.arg("--upload-file").arg(file);
        }
        let code = run(cmd.arg(url))?;
        code.trim()
            .parse()
            .with_context(|| format!("status of {method} {url}: {code:?}"))
    }

    /// The body of a GET that must succeed.
    fn body(&self, url: &str) -> Result<String> {
        run(self.command().arg("--fail-with-body").arg(url))
    }

    /// Saves the body of a GET that must succeed.
    fn download(&self, url: &str, to: &Path) -> Result<()> {
        run(self.command().arg("--fail").arg("-o").arg(to).arg(url))?;
        ensure!(to.exists(), "curl wrote nothing to {}", to.display());
        Ok(())
    }
}

/// A folder for request bodies next to the server's own data (removed with it).
fn tempdir(s3: &S3) -> Result<std::path::PathBuf> {
    let dir = s3.dir().join("client");
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
