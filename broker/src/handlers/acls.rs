//! CreateAcls, DescribeAcls and DeleteAcls: the broker's ACLs, managed as Kafka's AdminClient,
//! `kafka-acls` and librdkafka do. Creating and deleting need Alter on the cluster, describing
//! Describe (CLUSTER_AUTHORIZATION_FAILED); with no authorizer configured every request
//! answers SECURITY_DISABLED, as Kafka does. Changes are stored (`meta/acls.json`) before the
//! answer and written to the audit log.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{
    CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
    DescribeAclsRequest, DescribeAclsResponse, ResponseKind,
};
use kafka_protocol::protocol::StrBytes;
use weir_auth::{
    AclBinding, AclFilter, Authorizer, InvalidAcl, Operation, PatternType, Permission, ResourceType,
};

use super::str_bytes;
use crate::access::Access;

/// Why a request is refused before any ACL is looked at.
fn refused(
    authorizer: &Authorizer,
    access: &Access,
    operation: Operation,
) -> Option<(ResponseError, &'static str)> {
    if !authorizer.enabled() {
        return Some((
            ResponseError::SecurityDisabled,
            "No Authorizer is configured.",
        ));
    }
    if !access.allows_cluster(operation) {
        return Some((
            ResponseError::ClusterAuthorizationFailed,
            "not authorized to manage ACLs (needs Alter/Describe on the cluster)",
        ));
    }
    None
}

fn code<T>(value: i8, what: &str, parse: impl Fn(i8) -> Option<T>) -> Result<T, InvalidAcl> {
    parse(value).ok_or_else(|| InvalidAcl(format!("unknown {what} code {value}")))
}

/// The binding of one CreateAcls creation, validated as Kafka validates it.
fn binding(
    c: &kafka_protocol::messages::create_acls_request::AclCreation,
) -> Result<AclBinding, InvalidAcl> {
    let b = AclBinding {
        resource_type: code(c.resource_type, "resource type", ResourceType::from_code)?,
        resource_name: c.resource_name.to_string(),
        pattern_type: code(
            c.resource_pattern_type,
            "pattern type",
            PatternType::from_code,
        )?,
        principal: c.principal.to_string(),
        host: c.host.to_string(),
        operation: code(c.operation, "operation", Operation::from_code)?,
        permission: code(c.permission_type, "permission type", Permission::from_code)?,
    };
    b.validate()?;
    Ok(b)
}

/// A DescribeAcls or DeleteAcls filter from its wire fields.
fn filter(
    resource_type: i8,
    name: &Option<StrBytes>,
    pattern_type: i8,
    principal: &Option<StrBytes>,
    host: &Option<StrBytes>,
    operation: i8,
    permission: i8,
) -> Result<AclFilter, InvalidAcl> {
    let f = AclFilter {
        resource_type: code(resource_type, "resource type", ResourceType::from_code)?,
        resource_name: name.as_ref().map(|s| s.to_string()),
        pattern_type: code(pattern_type, "pattern type", PatternType::from_code)?,
        principal: principal.as_ref().map(|s| s.to_string()),
        host: host.as_ref().map(|s| s.to_string()),
        operation: code(operation, "operation", Operation::from_code)?,
        permission: code(permission, "permission type", Permission::from_code)?,
    };
    f.validate()?;
    Ok(f)
}

/// Handles CreateAcls: each creation is checked on its own; the valid ones are stored
/// together.
pub fn create(
    authorizer: &Authorizer,
    access: &Access,
    request: CreateAclsRequest,
) -> ResponseKind {
    let failure = |e: ResponseError, message: &str| {
        AclCreationResult::default()
            .with_error_code(e.code())
            .with_error_message(Some(str_bytes(message)))
    };
    if let Some((e, message)) = refused(authorizer, access, Operation::Alter) {
        let results = request
            .creations
            .iter()
            .map(|_| failure(e, message))
            .collect();
        return ResponseKind::CreateAcls(CreateAclsResponse::default().with_results(results));
    }
    let bindings: Vec<Result<AclBinding, InvalidAcl>> =
        request.creations.iter().map(binding).collect();
    let valid: Vec<AclBinding> = bindings.iter().flatten().cloned().collect();
    let stored = authorizer.acls().add(&valid);
    if stored.is_ok() {
        for b in &valid {
            tracing::info!(target: "weir::audit", by = %access.principal(), acl = %b, "ACL created");
        }
    }
    let results = bindings
        .into_iter()
        .map(|b| match (b, &stored) {
            (Err(e), _) => failure(ResponseError::InvalidRequest, &e.0),
            (Ok(_), Err(e)) => {
                tracing::error!(error = %e, "cannot store ACLs");
                failure(ResponseError::UnknownServerError, &e.to_string())
            }
            (Ok(_), Ok(())) => AclCreationResult::default(),
        })
        .collect();
    ResponseKind::CreateAcls(CreateAclsResponse::default().with_results(results))
}

/// Handles DescribeAcls: the matching bindings, grouped by resource pattern.
pub fn describe(
    authorizer: &Authorizer,
    access: &Access,
    request: DescribeAclsRequest,
) -> ResponseKind {
    let response = DescribeAclsResponse::default();
    if let Some((e, message)) = refused(authorizer, access, Operation::Describe) {
        return ResponseKind::DescribeAcls(
            response
                .with_error_code(e.code())
                .with_error_message(Some(str_bytes(message))),
        );
    }
    let wanted = filter(
        request.resource_type_filter,
        &request.resource_name_filter,
        request.pattern_type_filter,
        &request.principal_filter,
        &request.host_filter,
        request.operation,
        request.permission_type,
    );
    let wanted = match wanted {
        Ok(f) => f,
        Err(e) => {
            return ResponseKind::DescribeAcls(
                response
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(str_bytes(&e.0))),
            )
        }
    };
    let mut by_resource: BTreeMap<(i8, String, i8), Vec<AclDescription>> = BTreeMap::new();
    for b in authorizer.acls().list(&wanted) {
        by_resource
            .entry((
                b.resource_type.code(),
                b.resource_name.clone(),
                b.pattern_type.code(),
            ))
            .or_default()
            .push(
                AclDescription::default()
                    .with_principal(str_bytes(&b.principal))
                    .with_host(str_bytes(&b.host))
                    .with_operation(b.operation.code())
                    .with_permission_type(b.permission.code()),
            );
    }
    let resources = by_resource
        .into_iter()
        .map(|((kind, name, pattern), acls)| {
            DescribeAclsResource::default()
                .with_resource_type(kind)
                .with_resource_name(str_bytes(&name))
                .with_pattern_type(pattern)
                .with_acls(acls)
        })
        .collect();
    ResponseKind::DescribeAcls(response.with_resources(resources))
}

/// Handles DeleteAcls: every binding each filter matches is removed (all stored at once), and
/// listed under that filter.
pub fn delete(
    authorizer: &Authorizer,
    access: &Access,
    request: DeleteAclsRequest,
) -> ResponseKind {
    let failure = |e: ResponseError, message: &str| {
        DeleteAclsFilterResult::default()
            .with_error_code(e.code())
            .with_error_message(Some(str_bytes(message)))
    };
    if let Some((e, message)) = refused(authorizer, access, Operation::Alter) {
        let results = request
            .filters
            .iter()
            .map(|_| failure(e, message))
            .collect();
        return ResponseKind::DeleteAcls(
            DeleteAclsResponse::default().with_filter_results(results),
        );
    }
    let filters: Vec<Result<AclFilter, InvalidAcl>> = request
        .filters
        .iter()
        .map(|f| {
            filter(
                f.resource_type_filter,
                &f.resource_name_filter,
                f.pattern_type_filter,
                &f.principal_filter,
                &f.host_filter,
                f.operation,
                f.permission_type,
            )
        })
        .collect();
    let valid: Vec<AclFilter> = filters.iter().flatten().cloned().collect();
    let removed = authorizer.acls().remove(&valid);
    let mut removed_each = match &removed {
        Ok(lists) => lists.clone().into_iter(),
        Err(_) => Vec::new().into_iter(),
    };
    let results = filters
        .into_iter()
        .map(|f| match (f, &removed) {
            (Err(e), _) => failure(ResponseError::InvalidRequest, &e.0),
            (Ok(_), Err(e)) => {
                tracing::error!(error = %e, "cannot store ACLs");
                failure(ResponseError::UnknownServerError, &e.to_string())
            }
            (Ok(_), Ok(_)) => {
                let matching = removed_each
                    .next()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|b| {
                        tracing::info!(target: "weir::audit", by = %access.principal(), acl = %b, "ACL deleted");
                        DeleteAclsMatchingAcl::default()
                            .with_resource_type(b.resource_type.code())
                            .with_resource_name(str_bytes(&b.resource_name))
                            .with_pattern_type(b.pattern_type.code())
                            .with_principal(str_bytes(&b.principal))
                            .with_host(str_bytes(&b.host))
                            .with_operation(b.operation.code())
                            .with_permission_type(b.permission.code())
                    })
                    .collect();
                DeleteAclsFilterResult::default().with_matching_acls(matching)
            }
        })
        .collect();
    ResponseKind::DeleteAcls(DeleteAclsResponse::default().with_filter_results(results))
}
