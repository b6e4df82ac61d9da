//! The context store's HTTP routes, streaming Arrow IPC (`application/vnd.apache.arrow.stream`)
//! both ways (see `crate::context` for what they compute):
//!
//! - `GET  /v1/tables/{topic}/snapshot[?as_of=<ms>]` — every live row;
//! - `POST /v1/tables/{topic}/as-of-join?key=<col>&timestamp=<col>[&tables=<t>,…]` — the
//!   point-in-time join of an Arrow IPC stream (or, with `Content-Type: application/json`,
//!   a JSON array of objects) with the table and the further `tables`.
//!
//! Neither holds its whole input or output: the request body is decoded message by message
//! (each Arrow message may be at most `http_max_body_bytes`; a JSON body as a whole), joined
//! batch by batch on a blocking thread, and each result batch is written to the response
//! as soon as it is ready, with back-pressure from the client. At most as many exports run
//! at once as the machine has cores; more wait. Errors found before the first result (a
//! missing column, a wrong type, an unreadable body) are answered with a 4xx and a JSON
//! message; an error after the stream started ends the stream early (the IPC stream then
//! lacks its end marker, which readers report).

use std::sync::{Arc, OnceLock};

use arrow_array::RecordBatch;
use arrow_buffer::Buffer;
use arrow_ipc::reader::StreamDecoder;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::SchemaRef;
use axum::body::{Body, Bytes};
use axum::extract::{Extension, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{mpsc, Semaphore};
use weir_typed::ValueCodec;

use crate::context::join::{Join, JoinTable};
use crate::context::{snapshot, ContextError};
use crate::http_auth::HttpCaller;
use crate::http_tables::{table_topic, BrokerCell};

/// The media type of an Arrow IPC stream.
pub const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";

/// The routes of the context store.
pub fn routes() -> Router<BrokerCell> {
    Router::new()
        .route("/v1/tables/{topic}/snapshot", get(snapshot_route))
        .route("/v1/tables/{topic}/as-of-join", post(join_route))
}

fn exports() -> &'static Arc<Semaphore> {
    static SLOTS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    SLOTS.get_or_init(|| {
        Arc::new(Semaphore::new(
            std::thread::available_parallelism().map_or(2, |n| n.get()),
        ))
    })
}

fn error_response(e: &ContextError) -> Response {
    let status = match e {
        ContextError::BadRequest(_) => StatusCode::BAD_REQUEST,
        ContextError::NotFound(_) => StatusCode::NOT_FOUND,
        ContextError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        ContextError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    (status, Json(json!({ "error": e.to_string() }))).into_response()
}

/// Writes record batches as one Arrow IPC stream, handing out the bytes as they are made.
struct IpcOut {
    writer: StreamWriter<Vec<u8>>,
    tx: mpsc::Sender<Result<Bytes, ContextError>>,
}

impl IpcOut {
    fn new(
        schema: &SchemaRef,
        tx: mpsc::Sender<Result<Bytes, ContextError>>,
    ) -> Result<IpcOut, ContextError> {
        Ok(IpcOut {
            writer: StreamWriter::try_new(Vec::new(), schema)?,
            tx,
        })
    }

    /// Sends what was written so far; false when the client went away.
    fn send_pending(&mut self) -> bool {
        let bytes = std::mem::take(self.writer.get_mut());
        bytes.is_empty() || self.tx.blocking_send(Ok(Bytes::from(bytes))).is_ok()
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<bool, ContextError> {
        self.writer.write(batch)?;
        Ok(self.send_pending())
    }

    fn finish(mut self) -> Result<(), ContextError> {
        self.writer.finish()?;
        self.send_pending();
        Ok(())
    }
}

/// Runs `work` on a blocking thread (after waiting for an export slot) and answers with the
/// stream it produces — or with the error it reports before producing anything.
async fn stream_response(
    work: impl FnOnce(mpsc::Sender<Result<Bytes, ContextError>>) + Send + 'static,
) -> Response {
    let Ok(permit) = exports().clone().acquire_owned().await else {
        return error_response(&ContextError::Unavailable("shutting down".into()));
    };
    let (tx, mut rx) = mpsc::channel::<Result<Bytes, ContextError>>(4);
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        work(tx);
    });
    let first = match rx.recv().await {
        Some(Ok(bytes)) => bytes,
        Some(Err(e)) => return error_response(&e),
        None => Bytes::new(),
    };
    let rest = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| {
            let item = item.map_err(|e| std::io::Error::other(e.to_string()));
            (item, rx)
        })
    });
    let body = futures::stream::once(async move { Ok::<_, std::io::Error>(first) }).chain(rest);
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, ARROW_STREAM)
        .body(Body::from_stream(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// The value codec of a table, when its values are typed.
fn codec_of(topic: &crate::topics::Topic) -> Option<ValueCodec> {
    topic
        .partitions()
        .iter()
        .find_map(|p| p.table.as_ref())
        .and_then(|t| t.value_schema())
        .map(ValueCodec::new)
}

/// Query of a snapshot.
#[derive(Deserialize)]
pub struct SnapshotQuery {
    as_of: Option<i64>,
}

async fn snapshot_route(
    State(cell): State<BrokerCell>,
    Extension(caller): Extension<HttpCaller>,
    Path(topic): Path<String>,
    Query(query): Query<SnapshotQuery>,
) -> Response {
    let t = match table_topic(&cell, &caller, &topic) {
        Ok(t) => t,
        Err(reply) => return reply.into_response(),
    };
    let codec = codec_of(&t);
    let string_keys = t
        .partitions()
        .iter()
        .find_map(|p| p.table.as_ref())
        .is_some_and(|table| table.settings().string_keys);
    stream_response(move |tx| {
        let schema = snapshot::schema(string_keys, codec.as_ref());
        let outcome = IpcOut::new(&schema, tx.clone()).and_then(|mut out| {
            let mut failed = None;
            snapshot::export(
                &t,
                query.as_of,
                crate::handlers::now_ms(),
                string_keys,
                codec.as_ref(),
                |batch| match out.write(&batch) {
                    Ok(more) => more,
                    Err(e) => {
                        failed = Some(e);
                        false
                    }
                },
            )?;
            match failed {
                Some(e) => Err(e),
                None => out.finish(),
            }
        });
        if let Err(e) = outcome {
            let _ = tx.blocking_send(Err(e));
        }
    })
    .await
}

/// Query of a join.
#[derive(Deserialize)]
pub struct JoinQuery {
    key: Option<String>,
    timestamp: Option<String>,
    tables: Option<String>,
}

/// Input batches of a join, decoded from the request body as it arrives.
type BatchReceiver = std::sync::mpsc::Receiver<Result<RecordBatch, ContextError>>;

async fn join_route(
    State(cell): State<BrokerCell>,
    Extension(caller): Extension<HttpCaller>,
    Path(topic): Path<String>,
    Query(query): Query<JoinQuery>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let mut names = vec![topic];
    names.extend(
        query
            .tables
            .iter()
            .flat_map(|t| t.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string),
    );
    let mut tables = Vec::with_capacity(names.len());
    for name in &names {
        match table_topic(&cell, &caller, name) {
            Ok(topic) => tables.push(JoinTable {
                codec: codec_of(&topic),
                topic,
            }),
            Err(reply) => return reply.into_response(),
        }
    }
    let join = Join {
        key_column: query.key.unwrap_or_else(|| "key".into()),
        timestamp_column: query.timestamp.unwrap_or_else(|| "timestamp".into()),
        tables,
    };
    let max_message = cell
        .get()
        .map_or(16 << 20, |b| b.config.http_max_body_bytes);
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    let (batch_tx, batch_rx) = std::sync::mpsc::sync_channel(2);
    tokio::spawn(decode_body(body, json, max_message, batch_tx));
    stream_response(move |tx| {
        if let Err(e) = run_join(&join, batch_rx, tx.clone()) {
            let _ = tx.blocking_send(Err(e));
        }
    })
    .await
}

/// Joins the batches `input` delivers, writing the result stream.
fn run_join(
    join: &Join,
    input: BatchReceiver,
    tx: mpsc::Sender<Result<Bytes, ContextError>>,
) -> Result<(), ContextError> {
    let mut out: Option<(IpcOut, SchemaRef)> = None;
    for batch in input {
        let batch = batch?;
        if out.is_none() {
            let schema = join.output_schema(&batch.schema())?;
            out = Some((IpcOut::new(&schema, tx.clone())?, schema));
        }
        let Some((writer, schema)) = out.as_mut() else {
            continue;
        };
        let joined = join.join_batch(&batch, schema, crate::handlers::now_ms())?;
        if !writer.write(&joined)? {
            return Ok(());
        }
    }
    match out {
        Some((writer, _)) => writer.finish(),
        None => Err(ContextError::BadRequest(
            "the request body holds no rows (an Arrow IPC stream without record batches, or an empty JSON array)"
                .into(),
        )),
    }
}

/// Decodes the request body into record batches for the join thread.
async fn decode_body(
    body: Body,
    json: bool,
    max_message: usize,
    tx: std::sync::mpsc::SyncSender<Result<RecordBatch, ContextError>>,
) {
    let send = |item| {
        let tx = tx.clone();
        async move {
            tokio::task::spawn_blocking(move || tx.send(item).is_ok())
                .await
                .unwrap_or(false)
        }
    };
    let outcome = if json {
        match read_json_body(body, max_message).await {
            Ok(batch) => send(Ok(batch)).await.then_some(()).ok_or(None),
            Err(e) => Err(Some(e)),
        }
    } else {
        decode_ipc(body, max_message, &send).await
    };
    if let Err(Some(e)) = outcome {
        send(Err(e)).await;
    }
}

/// Feeds the body to an Arrow IPC stream decoder. `Err(None)`: the join went away.
async fn decode_ipc<F, Fut>(
    body: Body,
    max_message: usize,
    send: &F,
) -> Result<(), Option<ContextError>>
where
    F: Fn(Result<RecordBatch, ContextError>) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut decoder = StreamDecoder::new();
    let mut stream = body.into_data_stream();
    // Bytes of the message being decoded (those since the last record batch).
    let mut in_message = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            Some(ContextError::BadRequest(format!(
                "the request body could not be read: {e}"
            )))
        })?;
        let mut buffer = Buffer::from_vec(chunk.to_vec());
        while !buffer.is_empty() {
            let before = buffer.len();
            let decoded = decoder.decode(&mut buffer).map_err(|e| {
                Some(ContextError::BadRequest(format!(
                    "the request body is not a valid Arrow IPC stream: {e}"
                )))
            })?;
            in_message += before - buffer.len();
            if in_message > max_message {
                return Err(Some(ContextError::TooLarge(format!(
                    "an Arrow IPC message of the request is larger than http_max_body_bytes ({max_message} bytes); send smaller record batches"
                ))));
            }
            if let Some(batch) = decoded {
                in_message = 0;
                if !send(Ok(batch)).await {
                    return Err(None);
                }
            }
        }
    }
    decoder.finish().map_err(|e| {
        Some(ContextError::BadRequest(format!(
            "the request body ends inside an Arrow IPC message: {e}"
        )))
    })
}

/// Reads a JSON array of objects (at most `max_bytes`) into one record batch, with column
/// types inferred by `arrow-json`.
async fn read_json_body(body: Body, max_bytes: usize) -> Result<RecordBatch, ContextError> {
    let bytes = axum::body::to_bytes(body, max_bytes).await.map_err(|_| {
        ContextError::TooLarge(format!(
            "the JSON request body is larger than http_max_body_bytes ({max_bytes} bytes); send Arrow IPC for large inputs"
        ))
    })?;
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&bytes).map_err(|e| {
        ContextError::BadRequest(format!(
            "the request body is not a JSON array of objects: {e}"
        ))
    })?;
    if rows.iter().any(|r| !r.is_object()) {
        return Err(ContextError::BadRequest(
            "the request body is not a JSON array of objects: an element is not an object".into(),
        ));
    }
    let schema = arrow_json::reader::infer_json_schema_from_iterator(rows.iter().map(Ok))?;
    let mut decoder = arrow_json::ReaderBuilder::new(Arc::new(schema))
        .with_batch_size(rows.len().max(1))
        .build_decoder()?;
    decoder.serialize(&rows)?;
    decoder
        .flush()?
        .ok_or_else(|| ContextError::BadRequest("the JSON array is empty".into()))
}
