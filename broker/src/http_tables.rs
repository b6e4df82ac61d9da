//! The table lookup API on the HTTP admin listener, under `/v1/tables/{topic}/…`:
//!
//! - `GET  /v1/tables/{topic}/keys/{key}` — the current row (404 when absent);
//!   `?as_of=<ms>` / `?as_of_offset=<n>` give the row as it was then.
//! - `GET  /v1/tables/{topic}/keys/{key}/history` — every change of the key still within
//!   the changelog's retention.
//! - `POST /v1/tables/{topic}/lookup` with `{"keys": [..]}` — many keys at once (at most
//!   `http_max_lookup_keys`; more is a 400 with a JSON error).
//!
//! Keys are UTF-8 path segments (percent-encoded as usual); other keys are written
//! `b64:<URL-safe base64 without padding>`. A key may live in any partition (clients choose
//! partitions differently), so every partition is searched; the newest row wins.
//!
//! Every route needs Read on the table topic (see `crate::http_auth`): 401 for an anonymous
//! caller without it, 403 for an authenticated one, before the topic's existence is told.

use std::sync::{Arc, OnceLock};

use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};
use weir_storage::table::Change;

use crate::broker::Broker;
use crate::http_auth::HttpCaller;
use crate::metrics::HttpRejection;
use crate::tables::{self, Found, TableReader};
use crate::topics::Topic;

/// The broker, once it has finished opening (the listener starts before recovery ends).
pub type BrokerCell = Arc<OnceLock<Arc<Broker>>>;

type Reply = (StatusCode, Json<Value>);

fn error(status: StatusCode, message: impl Into<String>) -> Reply {
    (status, Json(json!({ "error": message.into() })))
}

/// The routes of the table API.
pub fn routes() -> Router<BrokerCell> {
    Router::new()
        .route("/v1/tables/{topic}/keys/{key}", get(lookup))
        .route("/v1/tables/{topic}/keys/{key}/history", get(history))
        .route("/v1/tables/{topic}/lookup", post(batch_lookup))
}

fn decode_key(key: &str) -> Result<Bytes, Reply> {
    match key.strip_prefix("b64:") {
        Some(encoded) => base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(encoded.trim_end_matches('='))
            .map(Bytes::from)
            .map_err(|e| {
                error(
                    StatusCode::BAD_REQUEST,
                    format!("key {key:?} is not valid base64: {e}"),
                )
            }),
        None => Ok(Bytes::copy_from_slice(key.as_bytes())),
    }
}

fn bytes_json(name: &str, value: &Option<Bytes>) -> (String, Value) {
    match value {
        None => (name.to_string(), Value::Null),
        Some(b) => match std::str::from_utf8(b) {
            Ok(s) => (name.to_string(), Value::String(s.to_string())),
            Err(_) => (
                format!("{name}_base64"),
                Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
            ),
        },
    }
}

/// A value as JSON: the object itself for a `value.format=json` table (the bytes as text
/// should a stored value not parse), else text or base64.
fn value_json(value: &Option<Bytes>, json_values: bool) -> (String, Value) {
    if json_values {
        if let Some(parsed) = value
            .as_ref()
            .and_then(|v| serde_json::from_slice::<Value>(v).ok())
        {
            return ("value".into(), parsed);
        }
    }
    bytes_json("value", value)
}

/// A record's headers: `[{"key": …, "value": …}]` (lineage: who wrote it).
fn headers_json(headers: &[(Bytes, Option<Bytes>)]) -> Value {
    Value::Array(
        headers
            .iter()
            .map(|(k, v)| {
                let (key_name, key) = bytes_json("key", &Some(k.clone()));
                let (name, value) = bytes_json("value", v);
                json!({ key_name: key, name: value })
            })
            .collect(),
    )
}

fn row_json(topic: &str, found: &Found, json_values: bool) -> Value {
    let row = &found.row;
    let mut out = serde_json::Map::new();
    out.insert("topic".into(), json!(topic));
    out.insert("partition".into(), json!(found.partition));
    let (k, v) = bytes_json("key", &Some(row.key.clone()));
    out.insert(k, v);
    let (k, v) = value_json(&row.value, json_values);
    out.insert(k, v);
    out.insert("offset".into(), json!(row.offset));
    out.insert("timestamp".into(), json!(row.timestamp));
    out.insert("headers".into(), headers_json(&row.headers));
    Value::Object(out)
}

fn change_json(partition: i32, c: &Change, json_values: bool) -> Value {
    let mut out = serde_json::Map::new();
    out.insert("op".into(), json!(c.op.as_str()));
    out.insert("partition".into(), json!(partition));
    out.insert("offset".into(), json!(c.source_offset));
    out.insert("timestamp".into(), json!(c.timestamp));
    let (k, v) = value_json(&c.value, json_values);
    out.insert(k, v);
    out.insert("headers".into(), headers_json(&c.headers));
    Value::Object(out)
}

/// Whether `topic`'s values are JSON objects (`value.format=json`).
fn json_values(topic: &Topic) -> bool {
    topic
        .partitions()
        .iter()
        .find_map(|p| p.table.as_ref())
        .is_some_and(|t| t.settings().json_values)
}

/// The table topic `topic`, once the caller may read it: 503 while the broker starts, 401/403
/// without Read, 404 for no such topic, 400 for a topic that is not a table.
pub(crate) fn table_topic(
    cell: &BrokerCell,
    caller: &HttpCaller,
    topic: &str,
) -> Result<Arc<Topic>, Reply> {
    let broker = cell.get().ok_or_else(|| {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the broker is still starting",
        )
    })?;
    if !caller
        .access(broker)
        .allows_topic(&broker.topics, weir_auth::Operation::Read, topic)
    {
        return Err(caller.refusal(&format!("read table {topic}")));
    }
    let t = broker
        .topics
        .get(topic)
        .ok_or_else(|| error(StatusCode::NOT_FOUND, format!("no topic {topic}")))?;
    if t.partitions().iter().all(|p| p.table.is_none()) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!("{topic} is not a table topic (cleanup.policy does not include compact)"),
        ));
    }
    Ok(t)
}

/// Query parameters of a point lookup.
#[derive(Deserialize, Default)]
pub struct AsOf {
    as_of: Option<i64>,
    as_of_offset: Option<i64>,
}

impl AsOf {
    fn moment(&self) -> tables::AsOf {
        match (self.as_of, self.as_of_offset) {
            (_, Some(offset)) => tables::AsOf::Offset(offset),
            (Some(ts), None) => tables::AsOf::Timestamp(ts),
            (None, None) => tables::AsOf::Now,
        }
    }
}

fn find(topic: &Topic, key: &[u8], as_of: &AsOf) -> Result<Option<Value>, Reply> {
    let partitions = topic.partitions();
    let unavailable =
        |e: crate::errors::ApiError| error(StatusCode::SERVICE_UNAVAILABLE, e.message);
    let found = TableReader::new(
        partitions
            .iter()
            .filter_map(|p| p.table.as_deref().map(|t| (p.index, t))),
        crate::handlers::now_ms(),
    )
    .map_err(unavailable)?
    .get(key, as_of.moment())
    .map_err(unavailable)?;
    Ok(found.map(|f| row_json(&topic.name, &f, json_values(topic))))
}

async fn lookup(
    State(cell): State<BrokerCell>,
    Extension(caller): Extension<HttpCaller>,
    Path((topic, key)): Path<(String, String)>,
    Query(as_of): Query<AsOf>,
) -> Reply {
    let result = (|| {
        let t = table_topic(&cell, &caller, &topic)?;
        let key = decode_key(&key)?;
        find(&t, &key, &as_of)?.ok_or_else(|| error(StatusCode::NOT_FOUND, "key not found"))
    })();
    match result {
        Ok(row) => (StatusCode::OK, Json(row)),
        Err(reply) => reply,
    }
}

async fn history(
    State(cell): State<BrokerCell>,
    Extension(caller): Extension<HttpCaller>,
    Path((topic, key)): Path<(String, String)>,
) -> Reply {
    let result = (|| {
        let t = table_topic(&cell, &caller, &topic)?;
        let raw = decode_key(&key)?;
        let json_values = json_values(&t);
        let mut changes = Vec::new();
        for p in t.partitions().iter() {
            let Some(table) = &p.table else { continue };
            for c in table
                .history(&raw)
                .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
            {
                changes.push((
                    c.timestamp,
                    p.index,
                    c.source_offset,
                    change_json(p.index, &c, json_values),
                ));
            }
        }
        changes.sort_by_key(|(ts, p, off, _)| (*ts, *p, *off));
        let (k, v) = bytes_json("key", &Some(raw));
        let mut out = serde_json::Map::new();
        out.insert(k, v);
        out.insert(
            "changes".into(),
            Value::Array(changes.into_iter().map(|(_, _, _, c)| c).collect()),
        );
        Ok(Value::Object(out))
    })();
    match result {
        Ok(v) => (StatusCode::OK, Json(v)),
        Err(reply) => reply,
    }
}

/// Body of a batch lookup.
#[derive(Deserialize)]
pub struct BatchLookup {
    keys: Vec<String>,
    as_of: Option<i64>,
    as_of_offset: Option<i64>,
}

async fn batch_lookup(
    State(cell): State<BrokerCell>,
    Extension(caller): Extension<HttpCaller>,
    Path(topic): Path<String>,
    Json(body): Json<BatchLookup>,
) -> Reply {
    let result = (|| {
        let max_keys = cell
            .get()
            .map_or(usize::MAX, |b| b.config.http_max_lookup_keys);
        if body.keys.len() > max_keys {
            HttpRejection::TooManyKeys.count();
            return Err(error(
                StatusCode::BAD_REQUEST,
                format!(
                    "batch lookup of {} keys exceeds http_max_lookup_keys ({max_keys}); split it into smaller batches",
                    body.keys.len()
                ),
            ));
        }
        let t = table_topic(&cell, &caller, &topic)?;
        let as_of = AsOf {
            as_of: body.as_of,
            as_of_offset: body.as_of_offset,
        };
        let mut results = Vec::with_capacity(body.keys.len());
        for key in &body.keys {
            let raw = decode_key(key)?;
            results.push(match find(&t, &raw, &as_of)? {
                Some(mut row) => {
                    row["found"] = json!(true);
                    row
                }
                None => json!({ "key": key, "found": false }),
            });
        }
        Ok(json!({ "results": results }))
    })();
    match result {
        Ok(v) => (StatusCode::OK, Json(v)),
        Err(reply) => reply,
    }
}
