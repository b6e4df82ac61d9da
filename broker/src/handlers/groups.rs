//! Group membership APIs: FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
//! ListGroups, DescribeGroups, DeleteGroups. The state machine is in `crate::groups`.
//!
//! Authorization as in Kafka: Read on the group to join, sync, heartbeat and leave, Describe
//! to find its coordinator or describe it, Delete to delete it (GROUP_AUTHORIZATION_FAILED);
//! ListGroups lists every group with Describe on the cluster, else those the principal may
//! Describe.

use std::sync::Arc;
use std::time::Duration;

use futures::future::FutureExt;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use weir_auth::{Operation, Resource};

use super::{ready, str_bytes, Reply};
use crate::access::Access;
use crate::broker::Broker;
use crate::groups::group::{JoinRequest, SyncRequest};

/// Who sent the request: Kafka reports these in DescribeGroups.
pub struct ClientInfo {
    pub client_id: String,
    pub client_host: String,
}

fn code(e: Option<ResponseError>) -> i16 {
    e.map(|e| e.code()).unwrap_or(0)
}

fn opt_str(s: &Option<StrBytes>) -> Option<String> {
    s.as_ref().map(|s| s.as_str().to_string())
}

/// Handles FindCoordinator: this node coordinates every group. Transactions are not
/// implemented, so transaction coordinators are refused.
pub fn find_coordinator(
    broker: &Arc<Broker>,
    access: &Access,
    listener: &crate::listeners::Listener,
    request: FindCoordinatorRequest,
    version: i16,
) -> ResponseKind {
    let node = BrokerId(broker.config.node_id);
    let host = str_bytes(&listener.advertised_host);
    let port = listener.advertised_port;
    // Why a key gets no coordinator: Describe refused on it, or a key type not served.
    let refusal = |key: &str| match request.key_type {
        0 if !access.allows(Operation::Describe, Resource::group(key)) => Some((
            ResponseError::GroupAuthorizationFailed,
            "not authorized to Describe the group",
        )),
        1 if !access.allows(Operation::Describe, Resource::transactional_id(key)) => Some((
            ResponseError::TransactionalIdAuthorizationFailed,
            "not authorized to Describe the transactional id",
        )),
        0 => None,
        1 => Some((
            ResponseError::InvalidRequest,
            "transactions are not supported by this broker",
        )),
        _ => Some((
            ResponseError::InvalidRequest,
            "unsupported coordinator key type",
        )),
    };
    let mut response = FindCoordinatorResponse::default();
    if version >= 4 {
        response.coordinators = request
            .coordinator_keys
            .iter()
            .map(|key| {
                let c = Coordinator::default().with_key(key.clone());
                match refusal(key.as_str()) {
                    None => c.with_node_id(node).with_host(host.clone()).with_port(port),
                    Some((error, why)) => c
                        .with_node_id(BrokerId(-1))
                        .with_port(-1)
                        .with_error_code(error.code())
                        .with_error_message(Some(str_bytes(why))),
                }
            })
            .collect();
    } else {
        match refusal(request.key.as_str()) {
            None => {
                response.node_id = node;
                response.host = host;
                response.port = port;
            }
            Some((error, why)) => {
                response.node_id = BrokerId(-1);
                response.port = -1;
                response.error_code = error.code();
                if version >= 1 {
                    response.error_message = Some(str_bytes(why));
                }
            }
        }
    }
    ResponseKind::FindCoordinator(response)
}

/// Handles JoinGroup (the answer may wait for the other members).
pub fn join_group(
    broker: &Arc<Broker>,
    access: &Access,
    request: JoinGroupRequest,
    version: i16,
    client: ClientInfo,
) -> Reply {
    if !access.allows(Operation::Read, Resource::group(&request.group_id)) {
        let mut response = JoinGroupResponse::default()
            .with_error_code(ResponseError::GroupAuthorizationFailed.code())
            .with_generation_id(-1)
            .with_member_id(request.member_id);
        if version < 7 {
            response.protocol_name = Some(StrBytes::default());
        }
        return ready(ResponseKind::JoinGroup(response));
    }
    let rebalance_timeout = if version >= 1 {
        request.rebalance_timeout_ms
    } else {
        request.session_timeout_ms
    };
    let join = JoinRequest {
        member_id: request.member_id.as_str().to_string(),
        instance_id: opt_str(&request.group_instance_id),
        client_id: client.client_id,
        client_host: client.client_host,
        session_timeout: Duration::from_millis(request.session_timeout_ms.max(0) as u64),
        rebalance_timeout: Duration::from_millis(rebalance_timeout.max(0) as u64),
        protocol_type: request.protocol_type.as_str().to_string(),
        protocols: request
            .protocols
            .iter()
            .map(|p| (p.name.as_str().to_string(), p.metadata.clone()))
            .collect(),
        require_known_member_id: version >= 4,
    };
    let rx = broker.groups.join(request.group_id.0.as_str(), join);
    async move {
        let mut outcome = rx.await.ok()?;
        // Before v9 `skip_assignment` cannot be sent; the old leader id in the answer already
        // keeps a rejoining static leader from assigning, so it gets no member list.
        if outcome.skip_assignment && version < 9 {
            outcome.members.clear();
        }
        let members = outcome
            .members
            .into_iter()
            .map(|(id, instance, metadata)| {
                let m = JoinGroupResponseMember::default()
                    .with_member_id(str_bytes(&id))
                    .with_metadata(metadata);
                if version >= 5 {
                    m.with_group_instance_id(instance.map(|i| str_bytes(&i)))
                } else {
                    m
                }
            })
            .collect();
        let mut response = JoinGroupResponse::default()
            .with_error_code(code(outcome.error))
            .with_generation_id(outcome.generation)
            .with_leader(str_bytes(&outcome.leader))
            .with_member_id(str_bytes(&outcome.member_id))
            .with_members(members)
            .with_skip_assignment(outcome.skip_assignment && version >= 9);
        if version >= 7 {
            response.protocol_type = outcome.protocol_type.map(|p| str_bytes(&p));
            response.protocol_name = outcome.protocol.map(|p| str_bytes(&p));
        } else {
            response.protocol_name = Some(str_bytes(&outcome.protocol.unwrap_or_default()));
        }
        Some(ResponseKind::JoinGroup(response))
    }
    .boxed()
}

/// Handles SyncGroup (a follower's answer waits for the leader's assignment).
pub fn sync_group(
    broker: &Arc<Broker>,
    access: &Access,
    request: SyncGroupRequest,
    version: i16,
) -> Reply {
    if !access.allows(Operation::Read, Resource::group(&request.group_id)) {
        return ready(ResponseKind::SyncGroup(
            SyncGroupResponse::default()
                .with_error_code(ResponseError::GroupAuthorizationFailed.code()),
        ));
    }
    let assignments = request
        .assignments
        .iter()
        .map(|a| (a.member_id.as_str().to_string(), a.assignment.clone()))
        .collect();
    let sync = SyncRequest {
        member_id: request.member_id.as_str().to_string(),
        instance_id: opt_str(&request.group_instance_id),
        generation: request.generation_id,
        protocol_type: opt_str(&request.protocol_type),
        protocol: opt_str(&request.protocol_name),
        assignments,
    };
    let rx = broker.groups.sync(request.group_id.0.as_str(), sync);
    async move {
        let outcome = rx.await.ok()?;
        let mut response = SyncGroupResponse::default()
            .with_error_code(code(outcome.error))
            .with_assignment(outcome.assignment);
        if version >= 5 {
            response.protocol_type = outcome.protocol_type.map(|p| str_bytes(&p));
            response.protocol_name = outcome.protocol.map(|p| str_bytes(&p));
        }
        Some(ResponseKind::SyncGroup(response))
    }
    .boxed()
}

/// Handles Heartbeat.
pub fn heartbeat(broker: &Arc<Broker>, access: &Access, request: HeartbeatRequest) -> ResponseKind {
    if !access.allows(Operation::Read, Resource::group(&request.group_id)) {
        return ResponseKind::Heartbeat(
            HeartbeatResponse::default()
                .with_error_code(ResponseError::GroupAuthorizationFailed.code()),
        );
    }
    let result = broker.groups.heartbeat(
        request.group_id.0.as_str(),
        request.member_id.as_str(),
        request.group_instance_id.as_ref().map(|s| s.as_str()),
        request.generation_id,
    );
    ResponseKind::Heartbeat(HeartbeatResponse::default().with_error_code(code(result.err())))
}

/// Handles LeaveGroup: one member (v0-2) or a batch (v3+).
pub fn leave_group(
    broker: &Arc<Broker>,
    access: &Access,
    request: LeaveGroupRequest,
    version: i16,
) -> ResponseKind {
    if !access.allows(Operation::Read, Resource::group(&request.group_id)) {
        return ResponseKind::LeaveGroup(
            LeaveGroupResponse::default()
                .with_error_code(ResponseError::GroupAuthorizationFailed.code()),
        );
    }
    let members: Vec<(String, Option<String>)> = if version >= 3 {
        request
            .members
            .iter()
            .map(|m| {
                (
                    m.member_id.as_str().to_string(),
                    opt_str(&m.group_instance_id),
                )
            })
            .collect()
    } else {
        vec![(request.member_id.as_str().to_string(), None)]
    };
    let mut response = LeaveGroupResponse::default();
    match broker.groups.leave(request.group_id.0.as_str(), &members) {
        Err(e) => response.error_code = e.code(),
        Ok(results) if version >= 3 => {
            response.members = members
                .iter()
                .zip(results)
                .map(|((id, instance), r)| {
                    MemberResponse::default()
                        .with_member_id(str_bytes(id))
                        .with_group_instance_id(instance.as_ref().map(|i| str_bytes(i)))
                        .with_error_code(code(r.err()))
                })
                .collect();
        }
        Ok(results) => response.error_code = code(results.into_iter().next().and_then(|r| r.err())),
    }
    ResponseKind::LeaveGroup(response)
}

/// Handles ListGroups (with the v4 state filter and v5 type filter).
pub fn list_groups(
    broker: &Arc<Broker>,
    access: &Access,
    request: ListGroupsRequest,
    version: i16,
) -> ResponseKind {
    let all = access.quietly_allows(Operation::Describe, Resource::cluster());
    let groups = broker
        .groups
        .list()
        .into_iter()
        .filter(|(id, _, _)| all || access.quietly_allows(Operation::Describe, Resource::group(id)))
        .filter(|(_, _, state)| {
            request.states_filter.is_empty()
                || request
                    .states_filter
                    .iter()
                    .any(|s| s.as_str().eq_ignore_ascii_case(state.name()))
        })
        .filter(|_| {
            request.types_filter.is_empty()
                || request
                    .types_filter
                    .iter()
                    .any(|t| t.as_str().eq_ignore_ascii_case("classic"))
        })
        .map(|(id, protocol_type, state)| {
            let g = ListedGroup::default()
                .with_group_id(GroupId(str_bytes(&id)))
                .with_protocol_type(str_bytes(&protocol_type));
            let g = if version >= 4 {
                g.with_group_state(str_bytes(state.name()))
            } else {
                g
            };
            if version >= 5 {
                g.with_group_type(str_bytes("classic"))
            } else {
                g
            }
        })
        .collect();
    ResponseKind::ListGroups(ListGroupsResponse::default().with_groups(groups))
}

/// Handles DescribeGroups; an unknown group is reported as Dead, as Kafka does.
pub fn describe_groups(
    broker: &Arc<Broker>,
    access: &Access,
    request: DescribeGroupsRequest,
    version: i16,
) -> ResponseKind {
    let groups = request
        .groups
        .iter()
        .map(|id| {
            let mut g = DescribedGroup::default().with_group_id(id.clone());
            if !access.allows(Operation::Describe, Resource::group(id)) {
                return g.with_error_code(ResponseError::GroupAuthorizationFailed.code());
            }
            if version >= 3 && request.include_authorized_operations {
                g.authorized_operations = access.operations(Resource::group(id));
            }
            match broker.groups.describe(id.0.as_str()) {
                None => g.with_group_state(str_bytes("Dead")),
                Some(d) => g
                    .with_group_state(str_bytes(d.state.name()))
                    .with_protocol_type(str_bytes(&d.protocol_type))
                    .with_protocol_data(str_bytes(&d.protocol))
                    .with_members(
                        d.members
                            .into_iter()
                            .map(|m| {
                                let member = DescribedGroupMember::default()
                                    .with_member_id(str_bytes(&m.member_id))
                                    .with_client_id(str_bytes(&m.client_id))
                                    .with_client_host(str_bytes(&m.client_host))
                                    .with_member_metadata(m.metadata)
                                    .with_member_assignment(m.assignment);
                                if version >= 4 {
                                    member.with_group_instance_id(
                                        m.instance_id.map(|i| str_bytes(&i)),
                                    )
                                } else {
                                    member
                                }
                            })
                            .collect(),
                    ),
            }
        })
        .collect();
    ResponseKind::DescribeGroups(DescribeGroupsResponse::default().with_groups(groups))
}

/// Handles DeleteGroups: only empty groups can be deleted.
pub fn delete_groups(broker: &Arc<Broker>, access: &Access, request: DeleteGroupsRequest) -> Reply {
    let broker = broker.clone();
    let access = access.clone();
    let allowed: Vec<bool> = request
        .groups_names
        .iter()
        .map(|id| access.allows(Operation::Delete, Resource::group(id)))
        .collect();
    async move {
        let mut results = Vec::with_capacity(request.groups_names.len());
        for (id, allowed) in request.groups_names.into_iter().zip(allowed) {
            let r = if allowed {
                broker.groups.delete_group(id.0.as_str()).await
            } else {
                Err(ResponseError::GroupAuthorizationFailed)
            };
            if r.is_ok() {
                access.audit("delete group", Resource::group(&id));
            }
            results.push(
                DeletableGroupResult::default()
                    .with_group_id(id)
                    .with_error_code(code(r.err())),
            );
        }
        Some(ResponseKind::DeleteGroups(
            DeleteGroupsResponse::default().with_results(results),
        ))
    }
    .boxed()
}
