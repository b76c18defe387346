//! Where checkpoints and savepoints live: a local folder (`/path`, `file:///path`) or an S3
//! prefix (`s3://bucket/prefix`), with the few operations the checkpoint code needs.
//!
//! S3 goes through `object_store`, configured like the AWS tools from the environment:
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION` (or
//! `AWS_DEFAULT_REGION`), `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT`) for S3-compatible servers, and
//! `AWS_ALLOW_HTTP=true` for plain-HTTP endpoints. Requests use path-style addressing unless
//! `AWS_VIRTUAL_HOSTED_STYLE_REQUEST=true`, and are retried with exponential back-off. The
//! calls block the calling thread, which is a task or the JobMaster on the multi-threaded
//! runtime (or no runtime at all, before a job starts).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::error::{Result, RunnelError};
use crate::execution::block_on;

/// A folder-like place for snapshot files.
#[derive(Clone)]
pub enum Location {
    /// A local folder.
    Local(PathBuf),
    /// A key prefix in an S3 bucket.
    S3 {
        /// The client, shared by every location derived from the same URI.
        store: Arc<AmazonS3>,
        /// The bucket.
        bucket: String,
        /// The key prefix, without leading or trailing `/`.
        prefix: String,
    },
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Local(p) => write!(f, "{}", p.display()),
            Location::S3 { bucket, prefix, .. } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

fn s3_err(what: &str, loc: &Location, e: object_store::Error) -> RunnelError {
    RunnelError::State(format!("{what} {loc}: {e}"))
}

impl Location {
    /// Parses a location option or argument; `name` says where it came from, for errors.
    pub fn parse(name: &str, value: &str) -> Result<Self> {
        let v = value.trim();
        if let Some(path) = v.strip_prefix("file://") {
            return Ok(Location::Local(PathBuf::from(path)));
        }
        if let Some(rest) = v.strip_prefix("s3://").or_else(|| v.strip_prefix("s3a://")) {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(RunnelError::Plan(format!(
                    "{name}: '{value}' names no bucket (want s3://bucket/prefix)"
                )));
            }
            let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
            // The AWS tools' names for an S3-compatible endpoint and the region.
            for var in ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"] {
                if let Ok(url) = std::env::var(var) {
                    builder = builder.with_endpoint(url);
                    break;
                }
            }
            if std::env::var_os("AWS_REGION").is_none()
                && let Ok(region) = std::env::var("AWS_DEFAULT_REGION")
            {
                builder = builder.with_region(region);
            }
            // Transient errors are retried with exponential back-off, but an unreachable
            // endpoint fails within seconds rather than the default minutes.
            let retry = object_store::RetryConfig {
                max_retries: 4,
                retry_timeout: std::time::Duration::from_secs(30),
                ..Default::default()
            };
            let store = builder
                .with_retry(retry)
                .build()
                .map_err(|e| RunnelError::Plan(format!("{name}: cannot use '{value}': {e}")))?;
            return Ok(Location::S3 {
                store: Arc::new(store),
                bucket: bucket.to_string(),
                prefix: prefix.trim_matches('/').to_string(),
            });
        }
        if let Some((scheme, _)) = v.split_once("://") {
            return Err(RunnelError::Plan(format!(
                "{name}: storage '{scheme}://' is not supported (use a local path, file:// or s3://)"
            )));
        }
        Ok(Location::Local(PathBuf::from(v)))
    }

    /// A location for a local path.
    pub fn local(path: impl AsRef<Path>) -> Self {
        Location::Local(path.as_ref().to_path_buf())
    }

    /// The entry `name` inside this location.
    pub fn join(&self, name: &str) -> Location {
        match self {
            Location::Local(p) => Location::Local(p.join(name)),
            Location::S3 {
                store,
                bucket,
                prefix,
            } => Location::S3 {
                store: store.clone(),
                bucket: bucket.clone(),
                prefix: if prefix.is_empty() {
                    name.to_string()
                } else {
                    format!("{prefix}/{name}")
                },
            },
        }
    }

    /// The last component of the location.
    pub fn name(&self) -> String {
        match self {
            Location::Local(p) => p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            Location::S3 { prefix, .. } => prefix.rsplit('/').next().unwrap_or("").to_string(),
        }
    }

    /// The containing location, if any.
    pub fn parent(&self) -> Option<Location> {
        match self {
            Location::Local(p) => p.parent().map(Location::local),
            Location::S3 {
                store,
                bucket,
                prefix,
            } => {
                let (parent, _) = prefix.rsplit_once('/').unwrap_or(("", prefix));
                (!prefix.is_empty()).then(|| Location::S3 {
                    store: store.clone(),
                    bucket: bucket.clone(),
                    prefix: parent.to_string(),
                })
            }
        }
    }

    /// The local path, for local locations.
    pub fn as_local(&self) -> Option<&Path> {
        match self {
            Location::Local(p) => Some(p),
            Location::S3 { .. } => None,
        }
    }

    fn key(&self) -> ObjectPath {
        match self {
            Location::S3 { prefix, .. } => ObjectPath::from(prefix.as_str()),
            Location::Local(_) => unreachable!("only S3 locations have keys"),
        }
    }

    /// Makes sure the location can receive files (a local folder is created).
    pub fn ensure(&self) -> Result<()> {
        match self {
            Location::Local(p) => std::fs::create_dir_all(p)
                .map_err(|e| RunnelError::io(format!("creating {}", p.display()), e)),
            Location::S3 { .. } => Ok(()),
        }
    }

    /// Writes a whole file, durably (fsync locally); replaces what was there.
    pub fn write(&self, bytes: Vec<u8>) -> Result<()> {
        self.write_parts(vec![bytes])
    }

    /// Writes a file made of `parts`, one after another, without joining them in memory.
    pub fn write_parts(&self, parts: Vec<Vec<u8>>) -> Result<()> {
        match self {
            Location::Local(p) => {
                use std::io::Write;
                let f = std::fs::File::create(p)
                    .map_err(|e| RunnelError::io(format!("creating {}", p.display()), e))?;
                let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
                let written: std::io::Result<()> = (|| {
                    for part in &parts {
                        w.write_all(part)?;
                    }
                    w.into_inner().map_err(|e| e.into_error())?.sync_all()
                })();
                written.map_err(|e| RunnelError::io(format!("writing {}", p.display()), e))
            }
            Location::S3 { store, .. } => {
                let payload: PutPayload = parts.into_iter().map(bytes::Bytes::from).collect();
                block_on(store.put(&self.key(), payload))
                    .map(|_| ())
                    .map_err(|e| s3_err("writing", self, e))
            }
        }
    }

    /// Reads a whole file.
    pub fn read(&self) -> Result<Vec<u8>> {
        match self {
            Location::Local(p) => {
                std::fs::read(p).map_err(|e| RunnelError::io(format!("reading {}", p.display()), e))
            }
            Location::S3 { store, .. } => block_on(async {
                let got = store.get(&self.key()).await?;
                got.bytes().await
            })
            .map(|b| b.to_vec())
            .map_err(|e| s3_err("reading", self, e)),
        }
    }

    /// Reads `len` bytes at `offset`.
    pub fn read_range(&self, offset: u64, len: u64) -> Result<Vec<u8>> {
        match self {
            Location::Local(p) => {
                use std::io::{Read, Seek, SeekFrom};
                let mut f = std::fs::File::open(p)
                    .map_err(|e| RunnelError::io(format!("opening {}", p.display()), e))?;
                let mut buf = vec![0; len as usize];
                f.seek(SeekFrom::Start(offset))
                    .and_then(|_| f.read_exact(&mut buf))
                    .map_err(|e| RunnelError::io(format!("reading {}", p.display()), e))?;
                Ok(buf)
            }
            Location::S3 { store, .. } => {
                if len == 0 {
                    return Ok(Vec::new());
                }
                block_on(store.get_range(&self.key(), offset..offset + len))
                    .map(|b| b.to_vec())
                    .map_err(|e| s3_err("reading", self, e))
            }
        }
    }

    /// Moves a file into place atomically where the storage can (rename locally; S3 puts are
    /// atomic, so this is a copy and delete there).
    pub fn rename_to(&self, to: &Location) -> Result<()> {
        match (self, to) {
            (Location::Local(a), Location::Local(b)) => std::fs::rename(a, b).map_err(|e| {
                RunnelError::io(format!("renaming {} to {}", a.display(), b.display()), e)
            }),
            (Location::S3 { store, .. }, Location::S3 { .. }) => {
                block_on(store.copy(&self.key(), &to.key()))
                    .map_err(|e| s3_err("copying", self, e))?;
                self.delete_file()
            }
            _ => Err(RunnelError::State(format!("cannot move {self} to {to}"))),
        }
    }

    /// Deletes one file; missing is fine.
    pub fn delete_file(&self) -> Result<()> {
        match self {
            Location::Local(p) => match std::fs::remove_file(p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(RunnelError::io(format!("deleting {}", p.display()), e))
                }
                _ => Ok(()),
            },
            Location::S3 { store, .. } => match block_on(store.delete(&self.key())) {
                Err(e) if !matches!(e, object_store::Error::NotFound { .. }) => {
                    Err(s3_err("deleting", self, e))
                }
                _ => Ok(()),
            },
        }
    }

    /// The size of a file, in bytes.
    pub fn size(&self) -> Result<u64> {
        match self {
            Location::Local(p) => std::fs::metadata(p)
                .map(|m| m.len())
                .map_err(|e| RunnelError::io(format!("reading {}", p.display()), e)),
            Location::S3 { store, .. } => block_on(store.head(&self.key()))
                .map(|m| m.size)
                .map_err(|e| s3_err("reading", self, e)),
        }
    }

    /// Copies the local file `from` here (durably).
    pub fn upload_from(&self, from: &Path) -> Result<()> {
        match self {
            Location::Local(p) => {
                let copied = std::fs::copy(from, p)
                    .and_then(|_| std::fs::File::open(p))
                    .and_then(|f| f.sync_all());
                copied.map_err(|e| {
                    RunnelError::io(format!("copying {} to {}", from.display(), p.display()), e)
                })
            }
            Location::S3 { .. } => {
                let bytes = std::fs::read(from)
                    .map_err(|e| RunnelError::io(format!("reading {}", from.display()), e))?;
                self.write(bytes)
            }
        }
    }

    /// Copies this file to the local path `to`.
    pub fn download_to(&self, to: &Path) -> Result<()> {
        match self {
            Location::Local(p) => std::fs::copy(p, to).map(|_| ()).map_err(|e| {
                RunnelError::io(format!("copying {} to {}", p.display(), to.display()), e)
            }),
            Location::S3 { .. } => std::fs::write(to, self.read()?)
                .map_err(|e| RunnelError::io(format!("writing {}", to.display()), e)),
        }
    }

    /// Whether a file is there.
    pub fn exists(&self) -> bool {
        match self {
            Location::Local(p) => p.exists(),
            Location::S3 { store, .. } => block_on(store.head(&self.key())).is_ok(),
        }
    }

    /// Deletes everything at and under this location; missing is fine. `_metadata` files go
    /// last, so a deletion cut short leaves a snapshot that is visibly incomplete (and still
    /// recognisable as this job's, to be cleaned up later) rather than an anonymous folder.
    pub fn delete_all(&self) {
        match self {
            Location::Local(p) => {
                if p.is_dir() {
                    for child in self.children() {
                        let name = child.name();
                        if name != super::METADATA_FILE && name != super::FINISHED_FILE {
                            child.delete_all();
                        }
                    }
                }
                let _ = std::fs::remove_dir_all(p).or_else(|_| std::fs::remove_file(p));
            }
            Location::S3 { store, .. } => {
                let _ = block_on(async {
                    use futures_util::StreamExt;
                    let prefix = self.key();
                    let mut keys: Vec<ObjectPath> = Vec::new();
                    let mut listing = store.list(Some(&prefix));
                    while let Some(meta) = listing.next().await {
                        keys.push(meta?.location);
                    }
                    // Markers last: a half-deleted folder never looks complete (`_metadata`)
                    // or loses the note that its job finished (`_finished`) first.
                    keys.sort_by_key(|k| match k.filename() {
                        Some(super::FINISHED_FILE) => 2,
                        Some(super::METADATA_FILE) => 1,
                        _ => 0,
                    });
                    for key in keys {
                        store.delete(&key).await?;
                    }
                    Ok::<(), object_store::Error>(())
                });
            }
        }
    }

    /// The entries directly inside this location (sub-folders and files).
    pub fn children(&self) -> Vec<Location> {
        match self {
            Location::Local(p) => std::fs::read_dir(p)
                .map(|rd| rd.flatten().map(|e| Location::Local(e.path())).collect())
                .unwrap_or_default(),
            Location::S3 { store, .. } => {
                let prefix = (!self.key().as_ref().is_empty()).then(|| self.key());
                block_on(store.list_with_delimiter(prefix.as_ref()))
                    .map(|r| {
                        r.common_prefixes
                            .iter()
                            .chain(r.objects.iter().map(|o| &o.location))
                            .map(|k| {
                                let name = k.filename().unwrap_or_default().to_string();
                                self.join(&name)
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            }
        }
    }
}
