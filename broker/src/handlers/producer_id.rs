//! InitProducerId for idempotent producers: as in Kafka, a request without a transactional id
//! always gets a fresh producer id at epoch 0. Transactions are not implemented (the
//! transaction APIs are not advertised), so a transactional id is refused.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    InitProducerIdRequest, InitProducerIdResponse, ProducerId, ResponseKind,
};

use crate::broker::Broker;

/// Handles InitProducerId.
pub fn init(broker: &Arc<Broker>, request: InitProducerIdRequest) -> ResponseKind {
    let failed = |error: ResponseError| {
        ResponseKind::InitProducerId(
            InitProducerIdResponse::default()
                .with_error_code(error.code())
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        )
    };
    if request
        .transactional_id
        .as_ref()
        .is_some_and(|t| !t.0.is_empty())
    {
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
