//! [`Access`]: the authorizer as one request sees it — who asks (the session's principal and
//! host) — with the audit line Kafka's authorizer logger writes for every denial. Handlers ask
//! it and map a refusal to their API's error code; they never read the ACLs themselves.
//!
//! Table topics: `T.changelog` may be read and described by whoever may do so on `T`.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use weir_auth::{Authorizer, Operation, Principal, Resource, ResourceType};

use crate::session::Session;
use crate::topics::TopicRegistry;

/// Who a request comes from, and the authorizer that decides for it. The principal is read
/// from the session only when something asks for it, so requests on a broker without an
/// authorizer never take the session's lock for it.
#[derive(Clone)]
pub struct Access {
    authorizer: Arc<Authorizer>,
    session: Option<Arc<Session>>,
    principal: OnceLock<Principal>,
    host: IpAddr,
}

impl Access {
    /// The access of a request on `session`.
    pub fn new(authorizer: Arc<Authorizer>, session: &Arc<Session>) -> Access {
        Access {
            authorizer,
            host: session.peer.ip(),
            session: Some(session.clone()),
            principal: OnceLock::new(),
        }
    }

    /// The access of `principal` calling from `host` (an HTTP request).
    pub fn for_caller(authorizer: Arc<Authorizer>, principal: Principal, host: IpAddr) -> Access {
        Access {
            authorizer,
            session: None,
            principal: OnceLock::from(principal),
            host,
        }
    }

    /// The principal asking (for audit lines of admin changes).
    pub fn principal(&self) -> &Principal {
        self.principal.get_or_init(|| {
            self.session
                .as_ref()
                .map_or_else(Principal::anonymous, |s| s.principal())
        })
    }

    /// Writes the audit line of an admin change this access made (`action` on `resource`).
    pub fn audit(&self, action: &str, resource: Resource<'_>) {
        tracing::info!(
            target: "weir::audit",
            principal = %self.principal(),
            host = %self.host,
            action,
            resource = %resource,
            "admin change"
        );
    }

    /// Whether ACLs are enforced at all.
    pub fn enforced(&self) -> bool {
        self.authorizer.enabled()
    }

    /// Whether `operation` on `resource` is allowed; a denial is logged to `weir::audit`.
    pub fn allows(&self, operation: Operation, resource: Resource<'_>) -> bool {
        let allowed = self.quietly_allows(operation, resource);
        if !allowed {
            self.log_denied(operation, resource);
        }
        allowed
    }

    /// The audit line of a denial of `operation` on `resource`.
    pub fn log_denied(&self, operation: Operation, resource: Resource<'_>) {
        tracing::info!(
            target: "weir::audit",
            principal = %self.principal(),
            host = %self.host,
            operation = %operation,
            resource = %resource,
            "authorization denied"
        );
    }

    /// Whether `operation` on `resource` is allowed, without an audit line (for filtering a
    /// listing, as Kafka does for Metadata of all topics and ListGroups).
    pub fn quietly_allows(&self, operation: Operation, resource: Resource<'_>) -> bool {
        !self.enforced()
            || self
                .authorizer
                .allowed(self.principal(), self.host, operation, resource)
    }

    /// Whether `operation` on the cluster is allowed (audited).
    pub fn allows_cluster(&self, operation: Operation) -> bool {
        self.allows(operation, Resource::cluster())
    }

    /// Whether `operation` on topic `name` is allowed (audited). For a changelog view,
    /// Read, Describe and DescribeConfigs are also allowed by that right on its table.
    pub fn allows_topic(&self, topics: &TopicRegistry, operation: Operation, name: &str) -> bool {
        self.topic_check(topics, operation, name, true)
    }

    /// [`Access::allows_topic`] without an audit line.
    pub fn quietly_allows_topic(
        &self,
        topics: &TopicRegistry,
        operation: Operation,
        name: &str,
    ) -> bool {
        self.topic_check(topics, operation, name, false)
    }

    fn topic_check(
        &self,
        topics: &TopicRegistry,
        operation: Operation,
        name: &str,
        audit: bool,
    ) -> bool {
        if !self.enforced() {
            return true;
        }
        let through_table = matches!(
            operation,
            Operation::Read | Operation::Describe | Operation::DescribeConfigs
        );
        if through_table {
            if let Some(table) = topics.get(name).and_then(|t| t.changelog_of.clone()) {
                if self.quietly_allows(operation, Resource::topic(&table)) {
                    return true;
                }
            }
        }
        if audit {
            self.allows(operation, Resource::topic(name))
        } else {
            self.quietly_allows(operation, Resource::topic(name))
        }
    }

    /// Whether `operation` is allowed on at least one resource of `kind` (Kafka's
    /// `authorizeByResourceType`).
    pub fn allows_any(&self, operation: Operation, kind: ResourceType) -> bool {
        !self.enforced()
            || self
                .authorizer
                .allowed_on_any(self.principal(), self.host, operation, kind)
    }

    /// The `authorized_operations` bit field of `resource` (every operation of its type when
    /// no authorizer is configured, as Kafka answers).
    pub fn operations(&self, resource: Resource<'_>) -> i32 {
        self.authorizer
            .authorized_operations(self.principal(), self.host, resource)
    }
}
