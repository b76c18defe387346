//! One TCP connection to one broker: framing, correlation ids and version negotiation.

use std::collections::HashMap;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, ApiKey, ApiVersionsRequest, ApiVersionsResponse, EndTxnRequest,
    FetchRequest, FindCoordinatorRequest, InitProducerIdRequest, ListOffsetsRequest,
    MetadataRequest, OffsetCommitRequest, OffsetFetchRequest, ProduceRequest, RequestHeader,
    ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::error::{Error, Result};

/// Highest version of each call this client uses. Later versions change semantics this client
/// does not implement (topic ids instead of names, batched coordinator lookups, the
/// transaction protocol of KIP-890), so they are not taken even when a broker offers them.
fn cap(key: i16) -> i16 {
    match key {
        k if k == MetadataRequest::KEY => 12,
        k if k == FetchRequest::KEY => 12,
        k if k == ProduceRequest::KEY => 9,
        k if k == ListOffsetsRequest::KEY => 7,
        k if k == FindCoordinatorRequest::KEY => 3,
        k if k == InitProducerIdRequest::KEY => 4,
        k if k == AddPartitionsToTxnRequest::KEY => 3,
        k if k == EndTxnRequest::KEY => 3,
        k if k == OffsetFetchRequest::KEY => 7,
        k if k == OffsetCommitRequest::KEY => 8,
        _ => i16::MAX,
    }
}

/// A connection with the versions the broker offered.
pub(crate) struct Connection {
    addr: String,
    stream: BufReader<TcpStream>,
    versions: HashMap<i16, (i16, i16)>,
    next_id: i32,
    client_id: StrBytes,
    timeout: Duration,
}

impl Connection {
    /// Connects and asks the broker which versions it speaks.
    pub(crate) async fn open(addr: &str, client_id: &str, timeout: Duration) -> Result<Self> {
        let io = |source| Error::Io {
            addr: addr.to_string(),
            source,
        };
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| Error::Timeout {
                addr: addr.to_string(),
                api: "connect",
                secs: timeout.as_secs(),
            })?
            .map_err(io)?;
        stream.set_nodelay(true).map_err(io)?;
        let mut conn = Connection {
            addr: addr.to_string(),
            stream: BufReader::with_capacity(1 << 16, stream),
            versions: HashMap::new(),
            next_id: 0,
            client_id: StrBytes::from_string(client_id.to_string()),
            timeout,
        };
        let req = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("runnel"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let resp: ApiVersionsResponse = conn.call_at(&req, 3).await?;
        crate::error::check(resp.error_code, "ApiVersions", || format!("at {addr}"))?;
        conn.versions = resp
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        Ok(conn)
    }

    /// The version `R` is sent at: the highest both sides speak, within [`cap`].
    pub(crate) fn version<R: Request>(&self) -> Result<i16> {
        let unsupported = || Error::Unsupported {
            addr: self.addr.clone(),
            api: api_name(R::KEY),
        };
        let (min, max) = *self.versions.get(&R::KEY).ok_or_else(unsupported)?;
        let v = max.min(R::VERSIONS.max).min(cap(R::KEY));
        if v < min.max(R::VERSIONS.min) {
            return Err(unsupported());
        }
        Ok(v)
    }

    /// Sends `req` at the negotiated version and waits for its response.
    pub(crate) async fn call<R: Request>(&mut self, req: &R) -> Result<R::Response> {
        let v = self.version::<R>()?;
        self.call_at(req, v).await
    }

    async fn call_at<R: Request>(&mut self, req: &R, version: i16) -> Result<R::Response> {
        let api = api_name(R::KEY);
        let secs = self.timeout.as_secs();
        match tokio::time::timeout(self.timeout, self.round_trip(req, version)).await {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout {
                addr: self.addr.clone(),
                api,
                secs,
            }),
        }
    }

    async fn round_trip<R: Request>(&mut self, req: &R, version: i16) -> Result<R::Response> {
        let key = ApiKey::try_from(R::KEY).map_err(|_| self.protocol("unknown API key"))?;
        self.next_id = self.next_id.wrapping_add(1);
        let id = self.next_id;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(id)
            .with_client_id(Some(self.client_id.clone()));
        let mut buf = BytesMut::with_capacity(64);
        buf.put_i32(0);
        header
            .encode(&mut buf, key.request_header_version(version))
            .map_err(|e| self.protocol(&e.to_string()))?;
        req.encode(&mut buf, version)
            .map_err(|e| self.protocol(&e.to_string()))?;
        let len = (buf.len() - 4) as i32;
        buf[..4].copy_from_slice(&len.to_be_bytes());
        let io = |addr: &str| {
            let addr = addr.to_string();
            move |source| Error::Io { addr, source }
        };
        self.stream
            .get_mut()
            .write_all(&buf)
            .await
            .map_err(io(&self.addr))?;
        let len = self.stream.read_i32().await.map_err(io(&self.addr))?;
        if !(0..=(1 << 30)).contains(&len) {
            return Err(self.protocol(&format!("response size {len}")));
        }
        let mut body = vec![0u8; len as usize];
        self.stream
            .read_exact(&mut body)
            .await
            .map_err(io(&self.addr))?;
        let mut body = Bytes::from(body);
        let header = ResponseHeader::decode(&mut body, key.response_header_version(version))
            .map_err(|e| self.protocol(&e.to_string()))?;
        if header.correlation_id != id {
            return Err(self.protocol(&format!(
                "response {} to request {id}",
                header.correlation_id
            )));
        }
        let api = api_name(R::KEY);
        let resp = R::Response::decode(&mut body, version)
            .map_err(|e| self.protocol(&format!("{api} v{version}: {e}")))?;
        if body.has_remaining() {
            return Err(self.protocol(&format!(
                "{api} v{version}: {} bytes left over",
                body.remaining()
            )));
        }
        Ok(resp)
    }

    fn protocol(&self, message: &str) -> Error {
        Error::Protocol {
            addr: self.addr.clone(),
            message: message.to_string(),
        }
    }
}

/// The call's name as Kafka documents it.
pub(crate) fn api_name(key: i16) -> &'static str {
    match ApiKey::try_from(key) {
        Ok(ApiKey::Produce) => "Produce",
        Ok(ApiKey::Fetch) => "Fetch",
        Ok(ApiKey::ListOffsets) => "ListOffsets",
        Ok(ApiKey::Metadata) => "Metadata",
        Ok(ApiKey::OffsetCommit) => "OffsetCommit",
        Ok(ApiKey::OffsetFetch) => "OffsetFetch",
        Ok(ApiKey::FindCoordinator) => "FindCoordinator",
        Ok(ApiKey::ApiVersions) => "ApiVersions",
        Ok(ApiKey::InitProducerId) => "InitProducerId",
        Ok(ApiKey::AddPartitionsToTxn) => "AddPartitionsToTxn",
        Ok(ApiKey::EndTxn) => "EndTxn",
        _ => "request",
    }
}
