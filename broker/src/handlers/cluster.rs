//! DescribeCluster: one broker, which is also the controller. As in Kafka it is never refused;
//! the cluster's authorized operations (when asked) are 0 without Describe on the cluster.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{
    BrokerId, DescribeClusterRequest, DescribeClusterResponse, ResponseKind,
};

use weir_auth::{Operation, Resource};

use super::str_bytes;
use crate::access::Access;
use crate::broker::Broker;
use crate::listeners::Listener;

const BROKERS_ENDPOINT: i8 = 1;

/// Handles DescribeCluster.
pub fn describe(
    broker: &Arc<Broker>,
    access: &Access,
    listener: &Listener,
    request: DescribeClusterRequest,
) -> ResponseKind {
    let node = BrokerId(broker.config.node_id);
    let mut response = DescribeClusterResponse::default()
        .with_endpoint_type(BROKERS_ENDPOINT)
        .with_cluster_id(str_bytes(&broker.cluster_id))
        .with_controller_id(node)
        .with_cluster_authorized_operations(i32::MIN);
    if request.endpoint_type != BROKERS_ENDPOINT {
        response.error_code = ResponseError::MismatchedEndpointType.code();
        response.error_message = Some(str_bytes("The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER"));
        return ResponseKind::DescribeCluster(response);
    }
    if request.include_cluster_authorized_operations {
        response.cluster_authorized_operations = cluster_operations(access);
    }
    response.brokers = vec![DescribeClusterBroker::default()
        .with_broker_id(node)
        .with_host(str_bytes(&listener.advertised_host))
        .with_port(listener.advertised_port)];
    ResponseKind::DescribeCluster(response)
}

/// The cluster's authorized operations as Kafka reports them: 0 without Describe on it.
pub fn cluster_operations(access: &Access) -> i32 {
    if access.quietly_allows(Operation::Describe, Resource::cluster()) {
        access.operations(Resource::cluster())
    } else {
        0
    }
}
