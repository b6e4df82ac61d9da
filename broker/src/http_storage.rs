//! `GET /v1/topics/{topic}/storage` on the HTTP admin listener: per partition, where the
//! data is — the local log (start, end, bytes, segments) and the tiered part in the object
//! store (start, end, bytes, segments, and the backlog waiting for upload). `weir topic
//! describe` prints it. Needs Describe on the topic (see `crate::http_auth`).

use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::http_auth::HttpCaller;
use crate::http_tables::BrokerCell;

/// The routes of the storage API.
pub fn routes() -> Router<BrokerCell> {
    Router::new().route("/v1/topics/{topic}/storage", get(storage))
}

async fn storage(
    State(cell): State<BrokerCell>,
    Extension(caller): Extension<HttpCaller>,
    Path(topic): Path<String>,
) -> (StatusCode, Json<Value>) {
    let Some(broker) = cell.get() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": "the broker is still starting" })),
        );
    };
    if !caller
        .access(broker)
        .allows_topic(&broker.topics, weir_auth::Operation::Describe, &topic)
    {
        return caller.refusal(&format!("describe topic {topic}"));
    }
    let Some(t) = broker.topics.get(&topic) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": format!("unknown topic {topic}") })),
        );
    };
    let partitions: Vec<Value> = t
        .partitions()
        .iter()
        .map(|p| {
            let log = &p.log;
            let manifest = p.tiered.manifest();
            let (pending_segments, pending_bytes) = p.tiered.pending();
            json!({
                "partition": p.index,
                "local_start_offset": log.log_start_offset(),
                "log_end_offset": log.log_end_offset(),
                "local_bytes": log.size_bytes(),
                "local_segments": log.segment_count(),
                "remote_start_offset": manifest.start_offset(),
                "remote_end_offset": manifest.end_offset(),
                "remote_bytes": manifest.size_bytes(),
                "remote_segments": manifest.segments.len(),
                "pending_upload_segments": pending_segments,
                "pending_upload_bytes": pending_bytes,
            })
        })
        .collect();
    (
        StatusCode::OK,
        Json(json!({
            "topic": t.name,
            "remote_storage_enable": remote_enabled(&t),
            "object_store": broker.config.object_store,
            "partitions": partitions,
        })),
    )
}

/// Whether the topic tiers (the setting is per topic; every partition has it).
fn remote_enabled(t: &crate::topics::Topic) -> bool {
    t.partitions()
        .first()
        .is_some_and(|p| p.log.config().remote_storage_enable)
}
