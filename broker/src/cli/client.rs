//! A tiny async Kafka client for the admin commands: one TCP connection, requests encoded and
//! responses decoded with the `kafka-protocol` crate, versions negotiated through ApiVersions
//! (the highest version both this crate and the broker speak).

use std::collections::HashMap;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{
    Decodable, Encodable, HeaderVersion, Request, StrBytes, VersionRange,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{CliError, Result};

/// How long connecting and each request/response exchange may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest response frame accepted.
const MAX_RESPONSE_BYTES: usize = 256 << 20;
const CLIENT_ID: &str = "weir-cli";
const UNSUPPORTED_VERSION: i16 = 35;

/// The name of an API key, e.g. `CreateTopics`.
pub fn api_name(key: i16) -> String {
    match ApiKey::try_from(key) {
        Ok(k) => format!("{k:?}"),
        Err(()) => format!("API key {key}"),
    }
}

/// A connection to one broker.
pub struct Client {
    stream: TcpStream,
    addr: String,
    correlation: i32,
    versions: HashMap<i16, VersionRange>,
    timeout: Duration,
}

impl Client {
    /// Connects to the first reachable address of a comma-separated bootstrap list and
    /// negotiates API versions.
    pub async fn connect(bootstrap: &str) -> Result<Client> {
        let mut last = None;
        for addr in bootstrap
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
        {
            match tokio::time::timeout(DEFAULT_TIMEOUT, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    let mut client = Client {
                        stream,
                        addr: addr.to_string(),
                        correlation: 0,
                        versions: HashMap::new(),
                        timeout: DEFAULT_TIMEOUT,
                    };
                    client.negotiate().await?;
                    return Ok(client);
                }
                Ok(Err(e)) => last = Some(format!("cannot connect to broker at {addr}: {e}")),
                Err(_) => {
                    last = Some(format!(
                        "cannot connect to broker at {addr}: timed out after {}s",
                        DEFAULT_TIMEOUT.as_secs()
                    ))
                }
            }
        }
        Err(CliError::Connection(last.unwrap_or_else(|| {
            "no broker address given (--bootstrap HOST:PORT)".to_string()
        })))
    }

    /// The address this client is connected to.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    async fn negotiate(&mut self) -> Result<()> {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("weir-cli"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let correlation = self.send(&request, 3).await?;
        let mut body = self.receive::<ApiVersionsRequest>(3, correlation).await?;
        // A broker that does not speak v3 answers in v0 with UNSUPPORTED_VERSION (the error
        // code comes first in every version), listing what it does speak.
        let version =
            if body.len() >= 2 && i16::from_be_bytes([body[0], body[1]]) == UNSUPPORTED_VERSION {
                0
            } else {
                3
            };
        let response = ApiVersionsResponse::decode(&mut body, version)
            .map_err(|e| self.malformed("ApiVersions", e))?;
        CliError::check(response.error_code, None, || "ApiVersions".to_string())?;
        self.versions = response
            .api_keys
            .iter()
            .map(|k| {
                (
                    k.api_key,
                    VersionRange {
                        min: k.min_version,
                        max: k.max_version,
                    },
                )
            })
            .collect();
        Ok(())
    }

    /// The version of `R` to use: the highest both sides speak, within `[min, max]`.
    pub fn version<R: Request>(&self, min: i16, max: i16) -> Result<i16> {
        let ours = R::VERSIONS;
        let name = api_name(R::KEY);
        let theirs = self.versions.get(&R::KEY).ok_or_else(|| {
            CliError::Failed(format!(
                "the broker at {} does not support {name}",
                self.addr
            ))
        })?;
        let hi = ours.max.min(max).min(theirs.max);
        let lo = ours.min.max(min).max(theirs.min);
        if hi < lo {
            return Err(CliError::Failed(format!(
                "the broker at {} supports {name} v{}-{}, this client needs v{}-{}",
                self.addr,
                theirs.min,
                theirs.max,
                ours.min.max(min),
                ours.max.min(max)
            )));
        }
        Ok(hi)
    }

    /// Sends `request` at the highest mutually supported version and returns the response.
    pub async fn call<R: Request>(&mut self, request: &R) -> Result<R::Response> {
        let version = self.version::<R>(i16::MIN, i16::MAX)?;
        self.call_at(request, version).await
    }

    /// Sends `request` at `version` and returns the response.
    pub async fn call_at<R: Request>(&mut self, request: &R, version: i16) -> Result<R::Response> {
        let correlation = self.send(request, version).await?;
        let mut body = self.receive::<R>(version, correlation).await?;
        R::Response::decode(&mut body, version)
            .map_err(|e| self.malformed(&format!("{} v{version}", api_name(R::KEY)), e))
    }

    fn malformed(&self, what: &str, e: impl std::fmt::Display) -> CliError {
        CliError::Connection(format!(
            "malformed {what} response from the broker at {}: {e}",
            self.addr
        ))
    }

    fn broken(&self, e: impl std::fmt::Display) -> CliError {
        CliError::Connection(format!(
            "connection to the broker at {} failed: {e}",
            self.addr
        ))
    }

    async fn send<R: Request>(&mut self, request: &R, version: i16) -> Result<i32> {
        self.correlation = self.correlation.wrapping_add(1);
        let name = api_name(R::KEY);
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(StrBytes::from_static_str(CLIENT_ID)));
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        header
            .encode(&mut buf, R::header_version(version))
            .and_then(|()| request.encode(&mut buf, version))
            .map_err(|e| {
                CliError::Failed(format!("cannot encode a {name} v{version} request: {e}"))
            })?;
        let len = i32::try_from(buf.len() - 4)
            .map_err(|_| CliError::Failed(format!("{name} request too large")))?;
        buf[0..4].copy_from_slice(&len.to_be_bytes());
        match tokio::time::timeout(self.timeout, self.stream.write_all(&buf)).await {
            Ok(Ok(())) => Ok(self.correlation),
            Ok(Err(e)) => Err(self.broken(e)),
            Err(_) => Err(self.broken(format!("timed out sending {name}"))),
        }
    }

    /// Reads one response frame, checks its header and returns the body.
    async fn receive<R: Request>(&mut self, version: i16, correlation: i32) -> Result<Bytes> {
        let name = api_name(R::KEY);
        let frame = match tokio::time::timeout(self.timeout, read_frame(&mut self.stream)).await {
            Ok(Ok(frame)) => frame,
            Ok(Err(e)) => return Err(self.broken(format!("{e} (waiting for the {name} response)"))),
            Err(_) => {
                return Err(self.broken(format!(
                    "no {name} response within {}s",
                    self.timeout.as_secs()
                )))
            }
        };
        let mut body = frame;
        let header = ResponseHeader::decode(&mut body, R::Response::header_version(version))
            .map_err(|e| self.malformed(&name, e))?;
        if header.correlation_id != correlation {
            return Err(self.malformed(
                &name,
                format!(
                    "correlation id {} where {correlation} was expected",
                    header.correlation_id
                ),
            ));
        }
        Ok(body)
    }
}

async fn read_frame(stream: &mut TcpStream) -> std::io::Result<Bytes> {
    let len = match stream.read_i32().await {
        Ok(len) => len,
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the broker closed the connection",
            ))
        }
        Err(e) => return Err(e),
    };
    let len = usize::try_from(len)
        .ok()
        .filter(|&l| l <= MAX_RESPONSE_BYTES)
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("invalid response size {len}"),
            )
        })?;
    let mut buf = vec![0u8; len];
    stream.read_exact(&mut buf).await?;
    Ok(Bytes::from(buf))
}
