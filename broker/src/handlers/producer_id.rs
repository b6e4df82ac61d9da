//! InitProducerId for idempotent producers: as in Kafka, a request without a transactional id
//! always gets a fresh producer id at epoch 0. Transactions are not implemented (the
//! transaction APIs are not advertised), so a transactional id is refused — after the same
//! authorization as Kafka's: Write on the transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED),
//! or for an idempotent producer IdempotentWrite on the cluster or Write on some topic
//! (CLUSTER_AUTHORIZATION_FAILED).

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    InitProducerIdRequest, InitProducerIdResponse, ProducerId, ResponseKind,
};

use weir_auth::{Operation, Resource, ResourceType};

use crate::access::Access;
use crate::broker::Broker;

/// Handles InitProducerId.
pub fn init(broker: &Arc<Broker>, access: &Access, request: InitProducerIdRequest) -> ResponseKind {
    let failed = |error: ResponseError| {
        ResponseKind::InitProducerId(
            InitProducerIdResponse::default()
                .with_error_code(error.code())
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        )
    };
    let transactional_id = request
        .transactional_id
        .as_ref()
        .map(|t| t.0.as_str())
        .filter(|t| !t.is_empty());
    match transactional_id {
        Some(id) if !access.allows(Operation::Write, Resource::transactional_id(id)) => {
            return failed(ResponseError::TransactionalIdAuthorizationFailed)
        }
        None if !access.quietly_allows(Operation::IdempotentWrite, Resource::cluster())
            && !access.allows_any(Operation::Write, ResourceType::Topic) =>
        {
            access.log_denied(Operation::IdempotentWrite, Resource::cluster());
            return failed(ResponseError::ClusterAuthorizationFailed);
        }
        _ => {}
    }
    if transactional_id.is_some() {
        tracing::info!(
            "InitProducerId with a transactional id refused: transactions are not supported"
        );
        return failed(ResponseError::InvalidRequest);
    }
    match broker.producer_ids.allocate() {
        Ok(id) => ResponseKind::InitProducerId(
            InitProducerIdResponse::default()
                .with_producer_id(ProducerId(id))
                .with_producer_epoch(0),
        ),
        Err(e) => {
            tracing::error!(error = %e, "cannot persist producer id block");
            failed(ResponseError::KafkaStorageError)
        }
    }
}
