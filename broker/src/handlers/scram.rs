//! AlterUserScramCredentials and DescribeUserScramCredentials: the users of the broker's
//! credential store, managed the way Kafka's AdminClient and `kafka-configs` do. They need
//! Alter and Describe on the cluster (CLUSTER_AUTHORIZATION_FAILED).

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse, ResponseKind,
};
use weir_auth::{AuthError, CredentialStore, Operation, ScramMechanism};

use super::str_bytes;
use crate::access::Access;

/// One change of the request, in request order.
enum Change {
    Delete(ScramMechanism),
    Upsert {
        mechanism: ScramMechanism,
        iterations: u32,
        salt: Vec<u8>,
        salted_password: Vec<u8>,
    },
}

fn refusal(code: ResponseError, message: impl Into<String>) -> (ResponseError, String) {
    (code, message.into())
}

/// Applies the deletions and upsertions, user by user: a user's changes all apply or none
/// does, with Kafka's error codes (UNSUPPORTED_SASL_MECHANISM, UNACCEPTABLE_CREDENTIAL,
/// DUPLICATE_RESOURCE for two changes of one user and mechanism, RESOURCE_NOT_FOUND for
/// deleting what is not there).
pub fn alter(
    store: &CredentialStore,
    access: &Access,
    request: AlterUserScramCredentialsRequest,
) -> ResponseKind {
    let allowed = access.allows_cluster(Operation::Alter);
    let mut changes: BTreeMap<String, Vec<(i8, Change)>> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut note = |user: &str| {
        if !order.iter().any(|u| u == user) {
            order.push(user.to_string());
        }
    };
    for d in request.deletions {
        note(&d.name);
        let mechanism = ScramMechanism::from_kafka_type(d.mechanism);
        changes.entry(d.name.to_string()).or_default().push((
            d.mechanism,
            mechanism.map_or(Change::Delete(ScramMechanism::Sha256), Change::Delete),
        ));
    }
    for u in request.upsertions {
        note(&u.name);
        let mechanism = ScramMechanism::from_kafka_type(u.mechanism);
        changes.entry(u.name.to_string()).or_default().push((
            u.mechanism,
            Change::Upsert {
                mechanism: mechanism.unwrap_or(ScramMechanism::Sha256),
                iterations: u32::try_from(u.iterations).unwrap_or(0),
                salt: u.salt.to_vec(),
                salted_password: u.salted_password.to_vec(),
            },
        ));
    }
    let results = order
        .into_iter()
        .map(|user| {
            let outcome = if allowed {
                apply_user(store, &user, changes.remove(&user).unwrap_or_default())
            } else {
                Err(refusal(
                    ResponseError::ClusterAuthorizationFailed,
                    "not authorized to Alter the cluster",
                ))
            };
            let result = AlterUserScramCredentialsResult::default().with_user(str_bytes(&user));
            match outcome {
                Ok(()) => {
                    tracing::info!(target: "weir::audit", %user, by = %access.principal(), "SCRAM credentials changed");
                    result
                }
                Err((code, message)) => result
                    .with_error_code(code.code())
                    .with_error_message(Some(str_bytes(&message))),
            }
        })
        .collect();
    ResponseKind::AlterUserScramCredentials(
        AlterUserScramCredentialsResponse::default().with_results(results),
    )
}

fn apply_user(
    store: &CredentialStore,
    user: &str,
    changes: Vec<(i8, Change)>,
) -> Result<(), (ResponseError, String)> {
    if user.is_empty() {
        return Err(refusal(
            ResponseError::UnacceptableCredential,
            "the user name is empty",
        ));
    }
    let mut seen = BTreeSet::new();
    for (kind, change) in &changes {
        if ScramMechanism::from_kafka_type(*kind).is_none() {
            return Err(refusal(
                ResponseError::UnsupportedSaslMechanism,
                format!("unknown SCRAM mechanism type {kind}"),
            ));
        }
        if !seen.insert(*kind) {
            return Err(refusal(
                ResponseError::DuplicateResource,
                format!("two changes for user {user} and one mechanism in one request"),
            ));
        }
        if let Change::Upsert { iterations, .. } = change {
            if !(4096..=16384).contains(iterations) {
                return Err(refusal(
                    ResponseError::UnacceptableCredential,
                    format!("iterations {iterations} outside [4096, 16384]"),
                ));
            }
        }
        if let Change::Delete(mechanism) = change {
            if store.credential(user, *mechanism).is_none() {
                return Err(refusal(
                    ResponseError::ResourceNotFound,
                    format!("user {user} has no {} credential", mechanism.name()),
                ));
            }
        }
    }
    for (_, change) in changes {
        let applied = match change {
            Change::Delete(mechanism) => store.delete(user, mechanism),
            Change::Upsert {
                mechanism,
                iterations,
                salt,
                salted_password,
            } => store.upsert_salted(user, mechanism, &salt, &salted_password, iterations),
        };
        applied.map_err(|e| match e {
            AuthError::InvalidCredential(m) => refusal(ResponseError::UnacceptableCredential, m),
            AuthError::NoCredential { .. } => {
                refusal(ResponseError::ResourceNotFound, e.to_string())
            }
            other => refusal(ResponseError::KafkaStorageError, other.to_string()),
        })?;
    }
    Ok(())
}

/// The users asked for (all when the list is null) with each credential's mechanism and
/// iterations; never a secret.
pub fn describe(
    store: &CredentialStore,
    access: &Access,
    request: DescribeUserScramCredentialsRequest,
) -> ResponseKind {
    if !access.allows_cluster(Operation::Describe) {
        let code = ResponseError::ClusterAuthorizationFailed.code();
        let message = Some(str_bytes("not authorized to Describe the cluster"));
        let results = request
            .users
            .iter()
            .flatten()
            .map(|u| {
                DescribeUserScramCredentialsResult::default()
                    .with_user(u.name.clone())
                    .with_error_code(code)
                    .with_error_message(message.clone())
            })
            .collect();
        return ResponseKind::DescribeUserScramCredentials(
            DescribeUserScramCredentialsResponse::default()
                .with_error_code(code)
                .with_error_message(message)
                .with_results(results),
        );
    }
    let all = store.describe();
    let info = |list: &[(ScramMechanism, u32)]| -> Vec<CredentialInfo> {
        list.iter()
            .map(|(m, i)| {
                CredentialInfo::default()
                    .with_mechanism(m.kafka_type())
                    .with_iterations(*i as i32)
            })
            .collect()
    };
    // Null or empty asks for every user (Java's AdminClient sends an empty list), as in Kafka.
    let results = match request.users.filter(|u| !u.is_empty()) {
        None => all
            .iter()
            .map(|(user, list)| {
                DescribeUserScramCredentialsResult::default()
                    .with_user(str_bytes(user))
                    .with_credential_infos(info(list))
            })
            .collect(),
        Some(users) => {
            let mut counts: BTreeMap<String, usize> = BTreeMap::new();
            for u in &users {
                *counts.entry(u.name.to_string()).or_default() += 1;
            }
            let mut done = BTreeSet::new();
            users
                .iter()
                .filter(|u| done.insert(u.name.to_string()))
                .map(|u| {
                    let result =
                        DescribeUserScramCredentialsResult::default().with_user(u.name.clone());
                    if counts[u.name.as_str()] > 1 {
                        return result
                            .with_error_code(ResponseError::DuplicateResource.code())
                            .with_error_message(Some(str_bytes(&format!(
                                "cannot describe user {} more than once in one request",
                                u.name.as_str()
                            ))));
                    }
                    match all.get(u.name.as_str()) {
                        Some(list) => result.with_credential_infos(info(list)),
                        None => result
                            .with_error_code(ResponseError::ResourceNotFound.code())
                            .with_error_message(Some(str_bytes(&format!(
                                "attempt to describe nonexistent user {}",
                                u.name.as_str()
                            )))),
                    }
                })
                .collect()
        }
    };
    ResponseKind::DescribeUserScramCredentials(
        DescribeUserScramCredentialsResponse::default().with_results(results),
    )
}
