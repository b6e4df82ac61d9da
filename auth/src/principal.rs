//! [`Principal`]: who a connection acts as, in Kafka's `Type:name` form.

use std::fmt;

/// A Kafka principal: `User:alice`, `User:CN=client,O=Org`, or `User:ANONYMOUS` for a
/// connection that did not authenticate.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Principal {
    /// The principal type (always `User` for what Weir authenticates).
    pub kind: String,
    /// The name within that type.
    pub name: String,
}

impl Principal {
    /// `User:<name>`.
    pub fn user(name: impl Into<String>) -> Principal {
        Principal {
            kind: "User".to_string(),
            name: name.into(),
        }
    }

    /// `User:ANONYMOUS`, Kafka's principal of an unauthenticated connection.
    pub fn anonymous() -> Principal {
        Principal::user("ANONYMOUS")
    }

    /// Whether this is the anonymous principal.
    pub fn is_anonymous(&self) -> bool {
        self.kind == "User" && self.name == "ANONYMOUS"
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.name)
    }
}
