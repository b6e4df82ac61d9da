//! Request handlers, one file per API family, and the table of what this broker advertises.
//!
//! [`dispatch`] runs the part of a request that must happen in arrival order (a produce's
//! append, an admin change) — the connection awaits it before reading its next request, and
//! blocking work in it runs off the async workers (`spawn_blocking`) — and returns a [`Reply`]
//! future for the rest (waiting for fsync, a fetch's long poll), so a connection can pipeline
//! requests while keeping its responses in order.
//!
//! Each handler gets the [`Access`] of its request (who asks, and the authorizer) and checks
//! it exactly where Kafka does, answering with Kafka's authorization error codes.

mod acls;
mod api_versions;
mod cluster;
mod configs;
mod fetch;
mod groups;
mod list_offsets;
mod metadata;
mod offsets;
mod produce;
mod producer_id;
mod records_admin;
mod sasl;
mod scram;
mod topics_admin;

use std::sync::Arc;

use futures::future::{BoxFuture, FutureExt};
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};
use kafka_protocol::protocol::VersionRange;
use weir_protocol::request::Request;

use crate::access::Access;
use crate::broker::Broker;
use crate::session::Session;

pub use api_versions::{supported_versions, unsupported_api_versions_response};

/// The eventual answer to one request: `None` for requests Kafka does not answer (acks=0).
pub type Reply = BoxFuture<'static, Option<ResponseKind>>;

fn ready(response: ResponseKind) -> Reply {
    futures::future::ready(Some(response)).boxed()
}

/// Runs a handler that blocks (disk, fsync, RocksDB) on the blocking pool and waits for it,
/// so it keeps its place in the connection's order without holding an async worker. A panic
/// in it propagates as it would have inline (the connection closes).
async fn blocking(
    broker: &Arc<Broker>,
    handler: impl FnOnce(&Arc<Broker>) -> ResponseKind + Send + 'static,
) -> Reply {
    let broker = broker.clone();
    match tokio::task::spawn_blocking(move || handler(&broker)).await {
        Ok(response) => ready(response),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => {
            tracing::error!(error = %e, "blocking handler cancelled");
            futures::future::ready(None).boxed()
        }
    }
}

/// Starts handling `request` from the client of `session` (see the module docs for what runs
/// now and what later).
pub async fn dispatch(broker: &Arc<Broker>, request: Request, session: &Arc<Session>) -> Reply {
    let peer = session.peer;
    let listener = &session.listener;
    let access = Access::new(broker.authorizer.clone(), session);
    let version = request.version();
    let api_key = request.api_key;
    let client = || groups::ClientInfo {
        client_id: request
            .header
            .client_id
            .as_ref()
            .map(|c| c.as_str().to_string())
            .unwrap_or_default(),
        client_host: format!("/{}", peer.ip()),
    };
    match request.body {
        RequestKind::ApiVersions(r) => ready(api_versions::handle(r, version)),
        RequestKind::Metadata(r) if metadata::may_create(broker, &r, version) => {
            let listener = listener.clone();
            blocking(broker, move |b| {
                metadata::handle(b, &access, &listener, r, version)
            })
            .await
        }
        RequestKind::Metadata(r) => ready(metadata::handle(broker, &access, listener, r, version)),
        RequestKind::Produce(r) => produce::handle(broker, access, r, version).await,
        RequestKind::Fetch(r) => fetch::handle(broker.clone(), access, r, version),
        RequestKind::ListOffsets(r) => list_offsets::handle(broker.clone(), access, r, version),
        RequestKind::CreateTopics(r) => {
            blocking(broker, move |b| {
                topics_admin::create_topics(b, &access, r, version)
            })
            .await
        }
        RequestKind::DeleteTopics(r) => {
            blocking(broker, move |b| {
                topics_admin::delete_topics(b, &access, r, version)
            })
            .await
        }
        RequestKind::CreatePartitions(r) => {
            blocking(broker, move |b| {
                topics_admin::create_partitions(b, &access, r)
            })
            .await
        }
        RequestKind::DescribeConfigs(r) => ready(configs::describe(broker, &access, r, version)),
        RequestKind::AlterConfigs(r) => {
            blocking(broker, move |b| configs::alter(b, &access, r)).await
        }
        RequestKind::IncrementalAlterConfigs(r) => {
            blocking(broker, move |b| configs::incremental_alter(b, &access, r)).await
        }
        RequestKind::DescribeCluster(r) => ready(cluster::describe(broker, &access, listener, r)),
        RequestKind::DeleteRecords(r) => records_admin::delete_records(broker, access, r).await,
        RequestKind::OffsetForLeaderEpoch(r) => {
            ready(records_admin::offset_for_leader_epoch(broker, &access, r))
        }
        RequestKind::InitProducerId(r) => ready(producer_id::init(broker, &access, r)),
        RequestKind::FindCoordinator(r) => ready(groups::find_coordinator(
            broker, &access, listener, r, version,
        )),
        RequestKind::SaslHandshake(r) => {
            ready(sasl::handshake(&broker.authenticator, session, r, version))
        }
        RequestKind::SaslAuthenticate(r) => {
            let reauth_ms = broker.config.connections_max_reauth_ms;
            sasl::authenticate(session.clone(), r, reauth_ms)
                .map(Some)
                .boxed()
        }
        RequestKind::AlterUserScramCredentials(r) => {
            blocking(broker, move |b| scram::alter(&b.credentials, &access, r)).await
        }
        RequestKind::DescribeUserScramCredentials(r) => {
            ready(scram::describe(&broker.credentials, &access, r))
        }
        RequestKind::CreateAcls(r) => {
            blocking(broker, move |b| acls::create(&b.authorizer, &access, r)).await
        }
        RequestKind::DescribeAcls(r) => ready(acls::describe(&broker.authorizer, &access, r)),
        RequestKind::DeleteAcls(r) => {
            blocking(broker, move |b| acls::delete(&b.authorizer, &access, r)).await
        }
        RequestKind::JoinGroup(r) => {
            let client = client();
            groups::join_group(broker, &access, r, version, client)
        }
        RequestKind::SyncGroup(r) => groups::sync_group(broker, &access, r, version),
        RequestKind::Heartbeat(r) => ready(groups::heartbeat(broker, &access, r)),
        RequestKind::LeaveGroup(r) => ready(groups::leave_group(broker, &access, r, version)),
        RequestKind::ListGroups(r) => ready(groups::list_groups(broker, &access, r, version)),
        RequestKind::DescribeGroups(r) => {
            ready(groups::describe_groups(broker, &access, r, version))
        }
        RequestKind::DeleteGroups(r) => groups::delete_groups(broker, &access, r),
        RequestKind::OffsetCommit(r) => offsets::commit(broker, &access, r, version),
        RequestKind::OffsetFetch(r) => ready(offsets::fetch(broker, &access, r, version)),
        RequestKind::OffsetDelete(r) => offsets::delete(broker, &access, r),
        _ => {
            // decode() only lets through what supported_versions() lists, and every listed API
            // has an arm above; reaching this is a broker bug, answered by closing the connection.
            tracing::error!(?api_key, "no handler for an advertised API");
            futures::future::ready(None).boxed()
        }
    }
}

/// The version range this broker accepts for `key`, if it implements it.
pub fn accepted(key: ApiKey) -> Option<VersionRange> {
    supported_versions()
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, r)| *r)
}

/// Owned protocol string from a `&str`.
fn str_bytes(s: &str) -> kafka_protocol::protocol::StrBytes {
    kafka_protocol::protocol::StrBytes::from_string(s.to_string())
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
