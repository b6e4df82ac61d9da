//! ApiVersions: the APIs and version ranges this broker implements.
//!
//! Ranges overlap what Java 3.9/4.x, librdkafka 2.0–2.16 and kafka-python 3.x use. Produce is
//! advertised from v0 because librdkafka disables compression otherwise, but v0–2 requests are
//! refused as Kafka 4 does (the connection is closed; see `connection`).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse, ResponseKind};
use kafka_protocol::protocol::VersionRange;

const fn range(min: i16, max: i16) -> VersionRange {
    VersionRange { min, max }
}

/// Every implemented API with its advertised version range.
const SUPPORTED: &[(ApiKey, VersionRange)] = &[
    (ApiKey::Produce, range(0, 11)),
    (ApiKey::Fetch, range(4, 16)),
    (ApiKey::ListOffsets, range(1, 9)),
    (ApiKey::Metadata, range(0, 12)),
    (ApiKey::ApiVersions, range(0, 3)),
    (ApiKey::CreateTopics, range(2, 7)),
    (ApiKey::DeleteTopics, range(1, 6)),
    (ApiKey::DeleteRecords, range(0, 2)),
    (ApiKey::InitProducerId, range(0, 4)),
    (ApiKey::OffsetForLeaderEpoch, range(2, 4)),
    (ApiKey::DescribeConfigs, range(1, 4)),
    (ApiKey::AlterConfigs, range(0, 2)),
    (ApiKey::CreatePartitions, range(0, 3)),
    (ApiKey::IncrementalAlterConfigs, range(0, 1)),
    (ApiKey::DescribeCluster, range(0, 1)),
    (ApiKey::FindCoordinator, range(0, 4)),
    (ApiKey::JoinGroup, range(0, 9)),
    (ApiKey::SyncGroup, range(0, 5)),
    (ApiKey::Heartbeat, range(0, 4)),
    (ApiKey::LeaveGroup, range(0, 5)),
    (ApiKey::OffsetCommit, range(2, 9)),
    (ApiKey::OffsetFetch, range(1, 9)),
    (ApiKey::ListGroups, range(0, 5)),
    (ApiKey::DescribeGroups, range(0, 5)),
    (ApiKey::DeleteGroups, range(0, 2)),
    (ApiKey::OffsetDelete, range(0, 0)),
    (ApiKey::SaslHandshake, range(0, 1)),
    (ApiKey::SaslAuthenticate, range(0, 2)),
    (ApiKey::DescribeUserScramCredentials, range(0, 0)),
    (ApiKey::AlterUserScramCredentials, range(0, 0)),
    (ApiKey::DescribeAcls, range(0, 3)),
    (ApiKey::CreateAcls, range(0, 3)),
    (ApiKey::DeleteAcls, range(0, 3)),
];

/// Every implemented API with its advertised version range.
pub fn supported_versions() -> &'static [(ApiKey, VersionRange)] {
    SUPPORTED
}

fn api_list() -> Vec<ApiVersion> {
    supported_versions()
        .iter()
        .map(|(key, r)| {
            ApiVersion::default()
                .with_api_key(*key as i16)
                .with_min_version(r.min)
                .with_max_version(r.max)
        })
        .collect()
}

/// Answers a supported ApiVersions request.
pub fn handle(_request: ApiVersionsRequest, _version: i16) -> ResponseKind {
    ResponseKind::ApiVersions(
        ApiVersionsResponse::default()
            .with_error_code(0)
            .with_api_keys(api_list()),
    )
}

/// The v0 answer to an ApiVersions request of a version we do not speak.
pub fn unsupported_api_versions_response() -> ResponseKind {
    ResponseKind::ApiVersions(
        ApiVersionsResponse::default()
            .with_error_code(ResponseError::UnsupportedVersion.code())
            .with_api_keys(api_list()),
    )
}
