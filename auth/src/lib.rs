//! `weir-auth`: who a client is, and how it proves it.
//!
//! This crate owns Weir's security layer below the Kafka handlers: the [`Principal`] a
//! connection acts as, the [`CredentialStore`] of users (salted SCRAM credentials in the data
//! directory, checked by SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN alike), the SASL exchanges
//! ([`Authenticator`], over the `rsasl` crate — no hand-written crypto), and the TLS settings
//! of a listener ([`TlsSettings`], over `rustls`), including the principal a client
//! certificate maps to, and what a principal may do: Kafka's ACL model ([`AclBinding`],
//! [`AclFilter`]) decided by the [`Authorizer`] over a persisted [`AclStore`]. The broker drives these from its connections; nothing here knows the
//! Kafka wire protocol.

mod acl;
mod authorizer;
mod credentials;
mod error;
mod json_file;
mod principal;
mod sasl;
mod sasl_client;
mod throttle;
mod tls;
mod tls_reload;
mod tokens;

pub use acl::{
    AclBinding, AclFilter, InvalidAcl, Operation, PatternType, Permission, Resource, ResourceType,
    CLUSTER_NAME, WILDCARD,
};
pub use authorizer::{AclStore, Authorizer, AuthorizerSettings};
pub use credentials::{CredentialStore, ScramCredential, ScramMechanism, DEFAULT_ITERATIONS};
pub use error::AuthError;
pub use principal::Principal;
pub use sasl::{Authenticator, SaslExchange, SaslStep, SASL_MECHANISMS};
pub use sasl_client::{tls_client_config, SaslClientExchange};
pub use throttle::LoginThrottle;
pub use tls::{principal_from_certificate, ClientAuth, TlsSettings};
pub use tls_reload::ServerTls;
pub use tokens::{TokenInfo, TokenStore};
