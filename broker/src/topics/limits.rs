//! The partition limits: `max.partitions` (partitions the broker holds in total) and the
//! partitions one admin request may create. A table topic's `T.changelog` partitions count
//! like any other: each partition of a table topic holds two logs.
//!
//! A request over the per-request cap is refused with `INVALID_PARTITIONS`; a creation that
//! would take the broker past `max.partitions` with `POLICY_VIOLATION`. Both say the limit in
//! the error message and count the refused partitions in
//! `weir_partitions_rejected_total{reason}`.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;

use super::Topic;
use crate::config::BrokerConfig;
use crate::errors::{ApiError, ApiResult};
use crate::topic_config;

/// Partitions `topic` holds: its own, plus its changelog's if it is a table topic.
pub(super) fn held_by(topic: &Topic) -> usize {
    let partitions = topic.partitions();
    partitions.len() + partitions.iter().filter(|p| p.table.is_some()).count()
}

/// Partitions held per partition of a topic with explicit `configs`: 2 for a table topic
/// (its log and its changelog), else 1.
pub fn logs_per_partition(configs: &BTreeMap<String, String>, broker: &BrokerConfig) -> usize {
    if topic_config::table_settings(configs, broker).is_some() {
        2
    } else {
        1
    }
}

fn rejected(reason: &'static str, partitions: usize) {
    metrics::counter!("weir_partitions_rejected_total", "reason" => reason)
        .increment(partitions as u64);
}

/// Refuses a request that would create `creating` partitions (changelogs included) when that
/// is more than `max.partitions.per.request`.
pub fn check_request_partitions(broker: &BrokerConfig, creating: usize) -> ApiResult<()> {
    let cap = broker.max_partitions_per_request;
    if creating <= cap {
        return Ok(());
    }
    rejected("max.partitions.per.request", creating);
    Err(ApiError::new(
        ResponseError::InvalidPartitions,
        format!(
            "The request would create {creating} partitions (changelog partitions of table \
             topics included), more than the {cap} one request may create \
             (max.partitions.per.request)"
        ),
    ))
}

/// Refuses adding `adding` partitions to the `held` the broker has when the total would
/// pass `max.partitions`.
pub(super) fn check_total(broker: &BrokerConfig, held: usize, adding: usize) -> ApiResult<()> {
    let cap = broker.max_partitions;
    if held.saturating_add(adding) <= cap {
        return Ok(());
    }
    rejected("max.partitions", adding);
    Err(ApiError::new(
        ResponseError::PolicyViolation,
        format!(
            "Creating {adding} partitions would take the broker to {} partitions, more than \
             max.partitions={cap} ({held} held, changelog partitions of table topics included)",
            held + adding
        ),
    ))
}
