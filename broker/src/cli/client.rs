//! A tiny async Kafka client for the admin commands: one TCP connection, requests encoded and
//! responses decoded with the `kafka-protocol` crate, versions negotiated through ApiVersions
//! (the highest version both this crate and the broker speak), over TLS and with a SASL login
//! when the security protocol asks for them.

use std::collections::HashMap;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{
    Decodable, Encodable, HeaderVersion, Request, StrBytes, VersionRange,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use weir_auth::SaslClientExchange;

use super::{CliError, ConnectArgs, Result};

/// A plain or TLS connection.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

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
    stream: Box<dyn Stream>,
    addr: String,
    correlation: i32,
    versions: HashMap<i16, VersionRange>,
    timeout: Duration,
}

impl Client {
    /// Connects to the first reachable address of a comma-separated bootstrap list,
    /// negotiates API versions, and logs in as `connect` says.
    pub async fn connect(connect: &ConnectArgs) -> Result<Client> {
        let protocol = connect.security_protocol.to_ascii_uppercase();
        let (tls, sasl) = match protocol.as_str() {
            "PLAINTEXT" => (false, false),
            "SSL" => (true, false),
            "SASL_PLAINTEXT" => (false, true),
            "SASL_SSL" => (true, true),
            other => {
                return Err(CliError::Failed(format!(
                    "--security-protocol {other} is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"
                )))
            }
        };
        let tls = match tls {
            false => None,
            true => {
                let ca = connect.ssl_ca_location.as_deref().ok_or_else(|| {
                    CliError::Failed(format!("{protocol} needs --ssl-ca-location"))
                })?;
                Some(tokio_rustls::TlsConnector::from(
                    weir_auth::tls_client_config(ca)
                        .map_err(|e| CliError::Failed(e.to_string()))?,
                ))
            }
        };
        let mut last = None;
        for addr in connect
            .bootstrap
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
        {
            match tokio::time::timeout(DEFAULT_TIMEOUT, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    let stream: Box<dyn Stream> = match &tls {
                        None => Box::new(stream),
                        Some(connector) => Box::new(handshake(connector, addr, stream).await?),
                    };
                    let mut client = Client {
                        stream,
                        addr: addr.to_string(),
                        correlation: 0,
                        versions: HashMap::new(),
                        timeout: DEFAULT_TIMEOUT,
                    };
                    client.negotiate().await?;
                    if sasl {
                        client.login(connect).await?;
                    }
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

    /// SaslHandshake v1, then SaslAuthenticate until both sides are done.
    async fn login(&mut self, connect: &ConnectArgs) -> Result<()> {
        let (Some(user), Some(password)) = (&connect.sasl_username, &connect.sasl_password) else {
            return Err(CliError::Failed(
                "SASL needs --sasl-username and WEIR_SASL_PASSWORD (or --sasl-password)".into(),
            ));
        };
        let mechanism = connect.sasl_mechanism.as_str();
        let handshake = kafka_protocol::messages::SaslHandshakeRequest::default()
            .with_mechanism(StrBytes::from_string(mechanism.to_string()));
        let response = self.call_at(&handshake, 1).await?;
        CliError::check(response.error_code, None, || {
            format!("SASL mechanism {mechanism}")
        })?;
        let failed = |e: weir_auth::AuthError| CliError::Failed(e.to_string());
        let mut exchange = SaslClientExchange::start(mechanism, user, password).map_err(failed)?;
        let (mut token, mut finished) = exchange.step(None).map_err(failed)?;
        loop {
            let request = kafka_protocol::messages::SaslAuthenticateRequest::default()
                .with_auth_bytes(Bytes::from(token));
            let response = self.call_at(&request, 1).await?;
            CliError::check(
                response.error_code,
                response.error_message.as_deref(),
                || format!("log in as {user}"),
            )?;
            if finished {
                return Ok(());
            }
            (token, finished) = exchange.step(Some(&response.auth_bytes)).map_err(failed)?;
            if finished && token.is_empty() {
                return Ok(());
            }
        }
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

/// The TLS handshake with the broker at `addr` (its host names the certificate).
async fn handshake(
    connector: &tokio_rustls::TlsConnector,
    addr: &str,
    stream: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| CliError::Failed(format!("{host} is not a TLS server name: {e}")))?;
    match tokio::time::timeout(DEFAULT_TIMEOUT, connector.connect(name, stream)).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(CliError::Connection(format!(
            "TLS handshake with the broker at {addr} failed: {e}"
        ))),
        Err(_) => Err(CliError::Connection(format!(
            "TLS handshake with the broker at {addr} timed out"
        ))),
    }
}

async fn read_frame(stream: &mut (impl AsyncRead + Unpin)) -> std::io::Result<Bytes> {
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
