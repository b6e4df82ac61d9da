//! One client connection: frames in, responses out, in request order. Generic over the
//! stream (TCP or TLS); who the client is, and whether it may send a request yet (SASL), is
//! its [`Session`].
//!
//! Requests are decoded and dispatched as they arrive, so a producer's pipelined requests
//! share fsyncs; replies are written strictly in request order. Anything Kafka answers by
//! closing the connection (an oversize or undecodable frame, an unknown API key, an
//! unsupported version of an API other than ApiVersions) closes this connection only, with a
//! log line saying why.
//!
//! What one connection may hold is bounded (backpressure, not buffering):
//!
//! - frames are read by [`frame::FrameDecoder`], whose buffer grows with the bytes that
//!   arrive, not with the length a client declares;
//! - at most `queued.max.requests` requests await their responses; reading stops at the limit;
//! - a request's *response budget* ([`response_budget`]: for a Fetch, the most bytes its
//!   response may carry) is reserved when it is dispatched and released once its response is
//!   written; a request whose budget would take the connection's pending total past
//!   `queued_max_response_bytes` waits, and nothing more is read, until enough responses are
//!   written (the first request in flight is always admitted, so a single large fetch works);
//! - `connections.max.idle.ms` (0 disables): a connection with nothing in flight that receives
//!   nothing for that long is closed, and so is one whose response write makes no progress
//!   for that long (a client that never reads), counted in
//!   `weir_connections_closed_total{reason="idle"}`.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::stream::{FuturesOrdered, StreamExt};
use futures::FutureExt;
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::Instant;
use tokio_util::codec::FramedRead;
use weir_protocol::request::{self, DecodeError, Request};
use weir_protocol::{frame, response};

use crate::broker::Broker;
use crate::handlers;
use crate::metrics::{ApiMetrics, ConnectionMetrics};
use crate::session::Session;

/// Bytes a fetch response may spend per partition beyond its records (index, error code,
/// offsets, aborted transactions header…), and per topic (name, id, array header).
const FETCH_PARTITION_OVERHEAD: usize = 64;
const FETCH_TOPIC_OVERHEAD: usize = 32;

struct Pending {
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    started: Instant,
    /// Response budget reserved for this request until its response is written.
    budget: usize,
    /// A raw SASL token to send instead of a response (after SaslHandshake v0).
    raw: Option<Vec<u8>>,
}

/// The most bytes the response to `request` may take, as far as the connection accounts for
/// them: for a Fetch, `min(max_bytes, sum of partition_max_bytes, fetch_max_bytes)` plus
/// a fixed overhead per topic and partition; other responses are small and count 0.
pub fn response_budget(request: &Request, fetch_max_bytes: i32) -> usize {
    let RequestKind::Fetch(fetch) = &request.body else {
        return 0;
    };
    let mut partition_sum: usize = 0;
    let mut overhead: usize = 0;
    for topic in &fetch.topics {
        overhead = overhead.saturating_add(FETCH_TOPIC_OVERHEAD + topic.topic.len());
        for p in &topic.partitions {
            partition_sum = partition_sum.saturating_add(p.partition_max_bytes.max(0) as usize);
            overhead = overhead.saturating_add(FETCH_PARTITION_OVERHEAD);
        }
    }
    // Fetch v0-3 (no request-wide max_bytes) never get here: the codec reads v4+ only.
    let records = partition_sum
        .min(fetch_max_bytes.max(0) as usize)
        .min(fetch.max_bytes.max(0) as usize);
    records.saturating_add(overhead)
}

/// The read half, remembering when bytes last arrived (for `connections.max.idle.ms`).
struct ActivityRead<R> {
    inner: R,
    last: Instant,
}

impl<R: AsyncRead + Unpin> AsyncRead for ActivityRead<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.last = Instant::now();
        }
        result
    }
}

/// Writes all of `bytes`, failing with `TimedOut` when no byte goes out for `stall`.
async fn write_response<W: AsyncWrite + Unpin>(
    out: &mut W,
    mut bytes: &[u8],
    stall: Option<Duration>,
) -> io::Result<()> {
    while !bytes.is_empty() {
        let n = match stall {
            Some(stall) => tokio::time::timeout(stall, out.write(bytes))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "client stopped reading"))??,
            None => out.write(bytes).await?,
        };
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        bytes = &bytes[n..];
    }
    Ok(())
}

/// Serves one connection until the client closes it, an error or a limit closes it, or
/// `shutdown` fires.
pub async fn serve<S>(
    broker: Arc<Broker>,
    stream: S,
    session: Arc<Session>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let peer = session.peer;
    let config = &broker.config;
    let max_queued = config.queued_max_requests.max(1);
    let max_pending_bytes = config.queued_max_response_bytes;
    let idle = (config.connections_max_idle_ms > 0)
        .then(|| Duration::from_millis(config.connections_max_idle_ms));
    let (read_half, mut write_half) = tokio::io::split(stream);
    let mut frames = FramedRead::new(
        ActivityRead {
            inner: read_half,
            last: Instant::now(),
        },
        frame::FrameDecoder::new(config.socket_request_max_bytes),
    );
    let mut in_flight = FuturesOrdered::new();
    // Bytes of response budget reserved by the requests in flight.
    let mut pending_bytes: usize = 0;
    // A decoded request waiting for response budget; nothing more is read meanwhile.
    let mut held: Option<(Request, usize)> = None;
    let mut last_write = Instant::now();
    let idle_timer = tokio::time::sleep(idle.unwrap_or(Duration::ZERO));
    tokio::pin!(idle_timer);
    let mut reading = true;
    loop {
        if let Some((request, budget)) = held.take() {
            if in_flight.is_empty() || pending_bytes.saturating_add(budget) <= max_pending_bytes {
                let pending = Pending {
                    api_key: request.api_key,
                    version: request.version(),
                    correlation_id: request.header.correlation_id,
                    started: Instant::now(),
                    budget,
                    raw: None,
                };
                pending_bytes += budget;
                let reply = handlers::dispatch(&broker, request, &session).await;
                in_flight.push_back(async move { (pending, reply.await) }.boxed());
            } else {
                held = Some((request, budget));
            }
        }
        let may_read = reading && held.is_none() && in_flight.len() < max_queued;
        let may_idle = idle.is_some() && reading && in_flight.is_empty() && held.is_none();
        tokio::select! {
            biased;
            Some((pending, reply)) = in_flight.next(), if !in_flight.is_empty() => {
                let reply: Option<ResponseKind> = reply;
                let pending: Pending = pending;
                let written = match (reply, &pending.raw) {
                    (_, Some(token)) => {
                        let mut framed = Vec::with_capacity(4 + token.len());
                        framed.extend_from_slice(&(token.len() as u32).to_be_bytes());
                        framed.extend_from_slice(token);
                        write_response(&mut write_half, &framed, idle).await
                    }
                    (None, None) => Ok(()),
                    (Some(body), None) => match response::encode(pending.api_key, pending.version, pending.correlation_id, &body) {
                        Ok(bytes) => {
                            drop(body);
                            ApiMetrics::get(pending.api_key).record(pending.started.elapsed());
                            write_response(&mut write_half, &bytes, idle).await
                        }
                        Err(e) => {
                            tracing::error!(%peer, error = %e, "closing connection: response encoding failed");
                            break;
                        }
                    },
                };
                pending_bytes -= pending.budget;
                last_write = Instant::now();
                if let Err(e) = written {
                    if e.kind() == io::ErrorKind::TimedOut {
                        ConnectionMetrics::get().closed_idle.increment(1);
                        tracing::debug!(%peer, idle_ms = config.connections_max_idle_ms, "closing connection: the client has not read its responses for connections.max.idle.ms");
                    } else {
                        tracing::debug!(%peer, error = %e, "write failed");
                    }
                    break;
                }
                if session.failed() {
                    tracing::debug!(%peer, "closing connection: authentication failed");
                    break;
                }
            }
            next = frames.next(), if may_read => {
                match next {
                    None => reading = false,
                    Some(Err(e)) => {
                        // The decoder reports an oversize or negative length as InvalidData;
                        // anything else is the socket itself (e.g. the peer reset it).
                        if e.kind() == io::ErrorKind::InvalidData {
                            tracing::debug!(%peer, error = %e, "closing connection: bad frame");
                            ConnectionMetrics::get().closed_bad_request.increment(1);
                        } else {
                            tracing::debug!(%peer, error = %e, "connection read failed");
                        }
                        reading = false;
                    }
                    Some(Ok(bytes)) if session.expects_raw_token() => {
                        // SaslHandshake v0: the client's SASL tokens come as raw frames.
                        let session = session.clone();
                        let reauth_ms = config.connections_max_reauth_ms;
                        let token = bytes.freeze();
                        let step = tokio::task::spawn_blocking(move || session.authenticate(&token, reauth_ms));
                        in_flight.push_back(async move {
                            let raw = match step.await {
                                Ok(Ok(outcome)) => Some(outcome.token),
                                _ => None,
                            };
                            let pending = Pending { api_key: ApiKey::SaslAuthenticate, version: 0, correlation_id: 0, started: Instant::now(), budget: 0, raw };
                            (pending, None)
                        }.boxed());
                    }
                    Some(Ok(bytes)) => match request::decode(bytes.freeze(), handlers::accepted) {
                        Ok(req) => match session.admit(req.api_key) {
                            Ok(()) => {
                                let budget = response_budget(&req, config.fetch_max_bytes);
                                held = Some((req, budget));
                            }
                            Err(refused) => {
                                tracing::info!(%peer, listener = %session.listener.name, reason = %refused.0, "closing connection");
                                reading = false;
                            }
                        },
                        Err(DecodeError::UnsupportedApiVersions { version, correlation_id }) => {
                            tracing::debug!(%peer, version, "ApiVersions version not supported, answering in v0");
                            let pending = Pending { api_key: ApiKey::ApiVersions, version: 0, correlation_id, started: Instant::now(), budget: 0, raw: None };
                            let body = handlers::unsupported_api_versions_response();
                            in_flight.push_back(async move { (pending, Some(body)) }.boxed());
                        }
                        Err(e) => {
                            tracing::debug!(%peer, error = %e, "closing connection: undecodable request");
                            ConnectionMetrics::get().closed_bad_request.increment(1);
                            reading = false;
                        }
                    },
                }
            }
            _ = &mut idle_timer, if may_idle => {
                // Only reached with an idle limit set (may_idle).
                let limit = idle.unwrap_or_default();
                let last = frames.get_ref().last.max(last_write);
                if last.elapsed() >= limit {
                    ConnectionMetrics::get().closed_idle.increment(1);
                    tracing::info!(%peer, idle_ms = config.connections_max_idle_ms, "closing connection: idle for connections.max.idle.ms");
                    break;
                }
                idle_timer.as_mut().reset(last + limit);
            }
            _ = shutdown.changed(), if reading => {
                reading = false;
            }
            else => break,
        }
        if !reading && in_flight.is_empty() && held.is_none() {
            break;
        }
    }
    let _ = write_half.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::{FetchRequest, RequestHeader, TopicName};
    use kafka_protocol::protocol::{Encodable, StrBytes};

    fn fetch(version: i16, max_bytes: i32, partition_max: &[i32]) -> Request {
        let topic = FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str("t")))
            .with_partitions(
                partition_max
                    .iter()
                    .enumerate()
                    .map(|(i, &m)| {
                        FetchPartition::default()
                            .with_partition(i as i32)
                            .with_partition_max_bytes(m)
                    })
                    .collect(),
            );
        let body = FetchRequest::default()
            .with_max_bytes(max_bytes)
            .with_topics(vec![topic]);
        let header = RequestHeader::default()
            .with_request_api_key(ApiKey::Fetch as i16)
            .with_request_api_version(version)
            .with_correlation_id(1);
        let mut frame = BytesMut::new();
        header
            .encode(&mut frame, ApiKey::Fetch.request_header_version(version))
            .unwrap();
        body.encode(&mut frame, version).unwrap();
        request::decode(frame.freeze(), |k| Some(k.valid_versions())).unwrap()
    }

    #[test]
    fn fetch_budget_is_capped_by_every_limit() {
        let overhead = FETCH_TOPIC_OVERHEAD + 1 + 2 * FETCH_PARTITION_OVERHEAD;
        let cap = 55 << 20;
        // The request's max_bytes, the partitions' sum and the broker cap all bind.
        assert_eq!(
            response_budget(&fetch(4, i32::MAX, &[i32::MAX, i32::MAX]), cap),
            cap as usize + overhead
        );
        assert_eq!(
            response_budget(&fetch(4, 1000, &[i32::MAX, i32::MAX]), cap),
            1000 + overhead
        );
        assert_eq!(
            response_budget(&fetch(4, i32::MAX, &[300, 400]), cap),
            700 + overhead
        );
        assert_eq!(
            response_budget(&fetch(12, i32::MAX, &[i32::MAX, 5]), 1 << 20),
            (1 << 20) + overhead
        );
        // Negative limits count as nothing.
        assert_eq!(
            response_budget(&fetch(4, -5, &[-1]), cap),
            FETCH_TOPIC_OVERHEAD + 1 + FETCH_PARTITION_OVERHEAD
        );
    }
}
