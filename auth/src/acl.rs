//! Kafka's ACL model: [`AclBinding`] (a resource pattern and an entry: principal, host,
//! operation, permission) and [`AclFilter`] (what DescribeAcls and DeleteAcls match), with
//! Kafka's wire codes and names for every enum.

use serde::{Deserialize, Serialize};

/// The name of the one Cluster resource, as Kafka spells it.
pub const CLUSTER_NAME: &str = "kafka-cluster";
/// A LITERAL resource name matching every resource of its type.
pub const WILDCARD: &str = "*";

macro_rules! kafka_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $code:literal, $text:literal;)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant,)*
        }

        impl $name {
            /// Kafka's wire code.
            pub fn code(self) -> i8 {
                match self { $($name::$variant => $code,)* }
            }

            /// From Kafka's wire code; `None` for codes Kafka calls UNKNOWN or never defined.
            pub fn from_code(code: i8) -> Option<$name> {
                match code { $($code => Some($name::$variant),)* _ => None }
            }

            /// Kafka's name (`TOPIC`, `PREFIXED`, `DESCRIBE_CONFIGS`, `ALLOW`…).
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }

            /// From Kafka's name, ignoring case and `-`/`_` (`Read`, `describe-configs`).
            pub fn parse(text: &str) -> Option<$name> {
                let wanted: String = text
                    .chars()
                    .filter(|c| *c != '_' && *c != '-')
                    .flat_map(char::to_uppercase)
                    .collect();
                [$($name::$variant),*]
                    .into_iter()
                    .find(|v| v.name().replace('_', "") == wanted)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

kafka_enum! {
    /// What kind of resource an ACL protects (Kafka's `ResourceType`; ANY only in filters).
    ResourceType {
        /// Filters only: any type.
        Any = 1, "ANY";
        /// A topic.
        Topic = 2, "TOPIC";
        /// A consumer group.
        Group = 3, "GROUP";
        /// The cluster (`kafka-cluster`).
        Cluster = 4, "CLUSTER";
        /// A transactional id.
        TransactionalId = 5, "TRANSACTIONAL_ID";
        /// A delegation token.
        DelegationToken = 6, "DELEGATION_TOKEN";
        /// A user (for token APIs).
        User = 7, "USER";
    }
}

kafka_enum! {
    /// How an ACL's resource name matches (Kafka's `PatternType`; ANY and MATCH only in
    /// filters).
    PatternType {
        /// Filters only: either pattern type, the name compared literally.
        Any = 1, "ANY";
        /// Filters only: every ACL that would apply to the named resource.
        Match = 2, "MATCH";
        /// The exact name, or `*` for all.
        Literal = 3, "LITERAL";
        /// Every name starting with this one.
        Prefixed = 4, "PREFIXED";
    }
}

kafka_enum! {
    /// What a request does to a resource (Kafka's `AclOperation`; ANY only in filters).
    Operation {
        /// Filters only: any operation.
        Any = 1, "ANY";
        /// Every operation.
        All = 2, "ALL";
        /// Read.
        Read = 3, "READ";
        /// Write.
        Write = 4, "WRITE";
        /// Create.
        Create = 5, "CREATE";
        /// Delete.
        Delete = 6, "DELETE";
        /// Alter.
        Alter = 7, "ALTER";
        /// Describe.
        Describe = 8, "DESCRIBE";
        /// Inter-broker actions.
        ClusterAction = 9, "CLUSTER_ACTION";
        /// Describe configs.
        DescribeConfigs = 10, "DESCRIBE_CONFIGS";
        /// Alter configs.
        AlterConfigs = 11, "ALTER_CONFIGS";
        /// Idempotent produce.
        IdempotentWrite = 12, "IDEMPOTENT_WRITE";
        /// Create delegation tokens.
        CreateTokens = 13, "CREATE_TOKENS";
        /// Describe delegation tokens.
        DescribeTokens = 14, "DESCRIBE_TOKENS";
    }
}

kafka_enum! {
    /// Whether an ACL allows or denies (Kafka's `AclPermissionType`; ANY only in filters).
    Permission {
        /// Filters only: either.
        Any = 1, "ANY";
        /// Deny (beats every Allow).
        Deny = 2, "DENY";
        /// Allow.
        Allow = 3, "ALLOW";
    }
}

impl Operation {
    /// The operations that, when allowed, also allow this one: Kafka lets Read, Write,
    /// Delete and Alter imply Describe, and AlterConfigs imply DescribeConfigs.
    pub fn implied_by(self) -> &'static [Operation] {
        match self {
            Operation::Describe => &[
                Operation::Describe,
                Operation::Read,
                Operation::Write,
                Operation::Delete,
                Operation::Alter,
            ],
            Operation::DescribeConfigs => &[Operation::DescribeConfigs, Operation::AlterConfigs],
            Operation::Read => &[Operation::Read],
            Operation::Write => &[Operation::Write],
            Operation::Create => &[Operation::Create],
            Operation::Delete => &[Operation::Delete],
            Operation::Alter => &[Operation::Alter],
            Operation::ClusterAction => &[Operation::ClusterAction],
            Operation::AlterConfigs => &[Operation::AlterConfigs],
            Operation::IdempotentWrite => &[Operation::IdempotentWrite],
            Operation::CreateTokens => &[Operation::CreateTokens],
            Operation::DescribeTokens => &[Operation::DescribeTokens],
            Operation::Any | Operation::All => &[],
        }
    }
}

impl ResourceType {
    /// The operations Kafka reports in `authorized_operations` for this resource type.
    pub fn operations(self) -> &'static [Operation] {
        match self {
            ResourceType::Topic => &[
                Operation::Read,
                Operation::Write,
                Operation::Create,
                Operation::Delete,
                Operation::Alter,
                Operation::Describe,
                Operation::DescribeConfigs,
                Operation::AlterConfigs,
            ],
            ResourceType::Group => &[Operation::Read, Operation::Describe, Operation::Delete],
            ResourceType::Cluster => &[
                Operation::Create,
                Operation::ClusterAction,
                Operation::DescribeConfigs,
                Operation::AlterConfigs,
                Operation::IdempotentWrite,
                Operation::Alter,
                Operation::Describe,
            ],
            ResourceType::TransactionalId => &[Operation::Describe, Operation::Write],
            ResourceType::DelegationToken => &[Operation::Describe],
            ResourceType::User => &[Operation::CreateTokens, Operation::DescribeTokens],
            ResourceType::Any => &[],
        }
    }
}

/// One resource a request acts on: a type and a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource<'a> {
    /// Its type.
    pub kind: ResourceType,
    /// Its name (`kafka-cluster` for the cluster).
    pub name: &'a str,
}

impl<'a> Resource<'a> {
    /// A topic.
    pub fn topic(name: &'a str) -> Resource<'a> {
        Resource {
            kind: ResourceType::Topic,
            name,
        }
    }

    /// A consumer group.
    pub fn group(name: &'a str) -> Resource<'a> {
        Resource {
            kind: ResourceType::Group,
            name,
        }
    }

    /// A transactional id.
    pub fn transactional_id(name: &'a str) -> Resource<'a> {
        Resource {
            kind: ResourceType::TransactionalId,
            name,
        }
    }

    /// The cluster.
    pub fn cluster() -> Resource<'static> {
        Resource {
            kind: ResourceType::Cluster,
            name: CLUSTER_NAME,
        }
    }
}

impl std::fmt::Display for Resource<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.kind, self.name)
    }
}

/// One ACL: on resources of `resource_type` named by `resource_name` and `pattern_type`,
/// `principal` from `host` is allowed or denied `operation`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AclBinding {
    /// The resource type (never ANY).
    pub resource_type: ResourceType,
    /// The resource name, `*` (LITERAL) for all, or a prefix (PREFIXED).
    pub resource_name: String,
    /// LITERAL or PREFIXED.
    pub pattern_type: PatternType,
    /// `User:name`, or `User:*` for everyone.
    pub principal: String,
    /// A client IP address, or `*` for any.
    pub host: String,
    /// The operation (never ANY).
    pub operation: Operation,
    /// ALLOW or DENY.
    pub permission: Permission,
}

/// Why a binding cannot be stored (Kafka answers INVALID_REQUEST).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidAcl(pub String);

/// Whether `principal` is `Type:name` with both parts present.
fn valid_principal(principal: &str) -> bool {
    matches!(principal.split_once(':'), Some((kind, name)) if !kind.is_empty() && !name.is_empty())
}

impl AclBinding {
    /// Checks what Kafka checks before storing a binding: concrete enums, a principal of the
    /// form `Type:name`, a host, a resource name, and `kafka-cluster` for the cluster. (Like
    /// Kafka, an operation that never applies to the resource type is stored all the same.)
    pub fn validate(&self) -> Result<(), InvalidAcl> {
        let bad = |why: String| Err(InvalidAcl(why));
        if matches!(self.resource_type, ResourceType::Any) {
            return bad("an ACL needs a concrete resource type, not ANY".into());
        }
        if !matches!(
            self.pattern_type,
            PatternType::Literal | PatternType::Prefixed
        ) {
            return bad(format!(
                "an ACL's pattern type is LITERAL or PREFIXED, not {}",
                self.pattern_type
            ));
        }
        if matches!(self.operation, Operation::Any) {
            return bad("an ACL needs a concrete operation, not ANY".into());
        }
        if matches!(self.permission, Permission::Any) {
            return bad("an ACL is ALLOW or DENY, not ANY".into());
        }
        if self.resource_name.is_empty() {
            return bad("an ACL's resource name is empty".into());
        }
        if !valid_principal(&self.principal) {
            return bad(format!(
                "principal {:?} is not of the form Type:name (e.g. User:alice)",
                self.principal
            ));
        }
        if self.host.is_empty() {
            return bad("an ACL's host is empty (use * for any host)".into());
        }
        if self.resource_type == ResourceType::Cluster && self.resource_name != CLUSTER_NAME {
            return bad(format!(
                "the cluster resource is named {CLUSTER_NAME}, not {:?}",
                self.resource_name
            ));
        }
        Ok(())
    }

    /// Whether this binding's resource pattern covers `resource`.
    pub fn covers(&self, resource: Resource<'_>) -> bool {
        self.resource_type == resource.kind
            && match self.pattern_type {
                PatternType::Literal => {
                    self.resource_name == WILDCARD || self.resource_name == resource.name
                }
                PatternType::Prefixed => resource.name.starts_with(&self.resource_name),
                PatternType::Any | PatternType::Match => false,
            }
    }
}

impl std::fmt::Display for AclBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {} on {}:{} ({}) from host {}",
            self.permission,
            self.principal,
            self.operation,
            self.resource_type,
            self.resource_name,
            self.pattern_type,
            self.host
        )
    }
}

/// What DescribeAcls and DeleteAcls select, Kafka's `AclBindingFilter`: `None` matches any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclFilter {
    /// A type, or ANY.
    pub resource_type: ResourceType,
    /// A name, or any.
    pub resource_name: Option<String>,
    /// LITERAL, PREFIXED, ANY (either, name compared literally) or MATCH (every binding that
    /// applies to the named resource, wildcard and prefixes included).
    pub pattern_type: PatternType,
    /// A principal, or any.
    pub principal: Option<String>,
    /// A host, or any.
    pub host: Option<String>,
    /// An operation, or ANY.
    pub operation: Operation,
    /// A permission, or ANY.
    pub permission: Permission,
}

impl AclFilter {
    /// The filter matching every binding.
    pub fn any() -> AclFilter {
        AclFilter {
            resource_type: ResourceType::Any,
            resource_name: None,
            pattern_type: PatternType::Any,
            principal: None,
            host: None,
            operation: Operation::Any,
            permission: Permission::Any,
        }
    }

    /// Whether `binding` is selected.
    pub fn matches(&self, binding: &AclBinding) -> bool {
        let type_ok =
            self.resource_type == ResourceType::Any || self.resource_type == binding.resource_type;
        let pattern_ok = match (self.pattern_type, &self.resource_name) {
            (PatternType::Any, None) | (PatternType::Match, None) => true,
            (PatternType::Any, Some(name)) => *name == binding.resource_name,
            (PatternType::Match, Some(name)) => match binding.pattern_type {
                PatternType::Literal => {
                    binding.resource_name == *name || binding.resource_name == WILDCARD
                }
                PatternType::Prefixed => name.starts_with(&binding.resource_name),
                _ => false,
            },
            (pattern, name) => {
                pattern == binding.pattern_type
                    && name.as_ref().is_none_or(|n| *n == binding.resource_name)
            }
        };
        type_ok
            && pattern_ok
            && self
                .principal
                .as_ref()
                .is_none_or(|p| *p == binding.principal)
            && self.host.as_ref().is_none_or(|h| *h == binding.host)
            && (self.operation == Operation::Any || self.operation == binding.operation)
            && (self.permission == Permission::Any || self.permission == binding.permission)
    }

    /// Checks that the filter uses only codes Kafka defines.
    pub fn validate(&self) -> Result<(), InvalidAcl> {
        if let Some(p) = &self.principal {
            if !valid_principal(p) {
                return Err(InvalidAcl(format!(
                    "principal {p:?} is not of the form Type:name"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(name: &str, pattern: PatternType) -> AclBinding {
        AclBinding {
            resource_type: ResourceType::Topic,
            resource_name: name.into(),
            pattern_type: pattern,
            principal: "User:alice".into(),
            host: "*".into(),
            operation: Operation::Read,
            permission: Permission::Allow,
        }
    }

    #[test]
    fn names_and_codes_round_trip() {
        for code in 0..20 {
            if let Some(op) = Operation::from_code(code) {
                assert_eq!(op.code(), code);
                assert_eq!(Operation::parse(op.name()), Some(op));
            }
        }
        assert_eq!(
            Operation::parse("describe-configs"),
            Some(Operation::DescribeConfigs)
        );
        assert_eq!(Operation::parse("Read"), Some(Operation::Read));
        assert_eq!(
            ResourceType::parse("transactional_id"),
            Some(ResourceType::TransactionalId)
        );
        assert_eq!(Operation::from_code(0), None);
    }

    #[test]
    fn patterns_cover_what_kafka_covers() {
        let t = Resource::topic("orders.eu");
        assert!(binding("orders.eu", PatternType::Literal).covers(t));
        assert!(binding("*", PatternType::Literal).covers(t));
        assert!(binding("orders.", PatternType::Prefixed).covers(t));
        assert!(!binding("orders", PatternType::Literal).covers(t));
        assert!(!binding("orders.eu.x", PatternType::Prefixed).covers(t));
        assert!(!binding("orders.eu", PatternType::Literal).covers(Resource::group("orders.eu")));
    }

    #[test]
    fn match_filters_find_every_binding_that_applies() {
        let filter = AclFilter {
            resource_type: ResourceType::Topic,
            resource_name: Some("orders.eu".into()),
            pattern_type: PatternType::Match,
            ..AclFilter::any()
        };
        assert!(filter.matches(&binding("orders.eu", PatternType::Literal)));
        assert!(filter.matches(&binding("*", PatternType::Literal)));
        assert!(filter.matches(&binding("ord", PatternType::Prefixed)));
        assert!(!filter.matches(&binding("orders.us", PatternType::Literal)));
        let literal = AclFilter {
            pattern_type: PatternType::Literal,
            ..filter.clone()
        };
        assert!(!literal.matches(&binding("*", PatternType::Literal)));
        assert!(literal.matches(&binding("orders.eu", PatternType::Literal)));
    }

    #[test]
    fn invalid_bindings_are_refused() {
        let mut b = binding("t", PatternType::Literal);
        assert!(b.validate().is_ok());
        b.principal = "alice".into();
        assert!(b.validate().is_err());
        let mut c = binding("t", PatternType::Literal);
        c.operation = Operation::Any;
        assert!(c.validate().is_err());
        let mut d = binding("x", PatternType::Literal);
        d.resource_type = ResourceType::Cluster;
        d.operation = Operation::Alter;
        assert!(d.validate().is_err());
        d.resource_name = CLUSTER_NAME.into();
        assert!(d.validate().is_ok());
    }
}
