//! One client connection: frames in, responses out, in request order.
//!
//! Requests are decoded and dispatched as they arrive (up to [`MAX_IN_FLIGHT`] awaiting their
//! replies), so a producer's pipelined requests share fsyncs; replies are written strictly in
//! request order. Anything Kafka answers by closing the connection (an oversize or undecodable
//! frame, an unknown API key, an unsupported version of an API other than ApiVersions) closes
//! this connection only, with a log line saying why.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use futures::stream::{FuturesOrdered, StreamExt};
use futures::FutureExt;
use kafka_protocol::messages::{ApiKey, ResponseKind};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_util::codec::FramedRead;
use weir_protocol::request::{self, DecodeError};
use weir_protocol::{frame, response};

use crate::broker::Broker;
use crate::handlers;
use crate::metrics::ApiMetrics;

/// Requests of one connection that may await their replies at the same time.
pub const MAX_IN_FLIGHT: usize = 32;

struct Pending {
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    started: Instant,
}

/// Serves one connection until the client closes it, an error closes it, or `shutdown` fires.
pub async fn serve(
    broker: Arc<Broker>,
    stream: TcpStream,
    peer: SocketAddr,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(%peer, error = %e, "set_nodelay failed");
    }
    let (read_half, mut write_half) = stream.into_split();
    let mut frames = FramedRead::new(
        read_half,
        frame::codec(broker.config.socket_request_max_bytes),
    );
    let mut in_flight = FuturesOrdered::new();
    let mut reading = true;
    loop {
        tokio::select! {
            biased;
            Some((pending, reply)) = in_flight.next(), if !in_flight.is_empty() => {
                let reply: Option<ResponseKind> = reply;
                let pending: Pending = pending;
                let Some(body) = reply else { continue };
                let bytes = match response::encode(pending.api_key, pending.version, pending.correlation_id, &body) {
                    Ok(bytes) => bytes,
                    Err(e) => {
                        tracing::error!(%peer, error = %e, "closing connection: response encoding failed");
                        break;
                    }
                };
                ApiMetrics::get(pending.api_key).record(pending.started.elapsed());
                if let Err(e) = write_half.write_all(&bytes).await {
                    tracing::debug!(%peer, error = %e, "write failed");
                    break;
                }
            }
            next = frames.next(), if reading && in_flight.len() < MAX_IN_FLIGHT => {
                match next {
                    None => reading = false,
                    Some(Err(e)) => {
                        // The codec reports an oversize or negative length as InvalidData;
                        // anything else is the socket itself (e.g. the peer reset it).
                        if e.kind() == std::io::ErrorKind::InvalidData {
                            tracing::warn!(%peer, error = %e, "closing connection: bad frame");
                        } else {
                            tracing::debug!(%peer, error = %e, "connection read failed");
                        }
                        reading = false;
                    }
                    Some(Ok(bytes)) => match request::decode(bytes.freeze(), handlers::accepted) {
                        Ok(req) => {
                            let pending = Pending {
                                api_key: req.api_key,
                                version: req.version(),
                                correlation_id: req.header.correlation_id,
                                started: Instant::now(),
                            };
                            let reply = handlers::dispatch(&broker, req, peer).await;
                            in_flight.push_back(async move { (pending, reply.await) }.boxed());
                        }
                        Err(DecodeError::UnsupportedApiVersions { version, correlation_id }) => {
                            tracing::info!(%peer, version, "ApiVersions version not supported, answering in v0");
                            let pending = Pending { api_key: ApiKey::ApiVersions, version: 0, correlation_id, started: Instant::now() };
                            let body = handlers::unsupported_api_versions_response();
                            in_flight.push_back(async move { (pending, Some(body)) }.boxed());
                        }
                        Err(e) => {
                            tracing::warn!(%peer, error = %e, "closing connection: undecodable request");
                            reading = false;
                        }
                    },
                }
            }
            _ = shutdown.changed(), if reading => {
                reading = false;
            }
            else => break,
        }
        if !reading && in_flight.is_empty() {
            break;
        }
    }
    let _ = write_half.shutdown().await;
}
