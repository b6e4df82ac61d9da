//! The error type of the security layer.

/// Kafka's words for a failed login (clients show them; tools may match them).
fn failed_message(mechanism: &str) -> String {
    if mechanism == "PLAIN" {
        "Authentication failed: Invalid username or password".to_string()
    } else {
        format!(
            "Authentication failed during authentication due to invalid credentials with SASL mechanism {mechanism}"
        )
    }
}

/// What can go wrong authenticating a client or managing credentials.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The client's credentials did not check out (unknown user, wrong password, a bad SCRAM
    /// proof). The message never says which, nor carries a secret.
    #[error("{}", failed_message(mechanism))]
    Failed {
        /// The SASL mechanism used.
        mechanism: String,
    },
    /// Too many failed authentications from the client's address lately.
    #[error("Authentication failed: too many failed authentications from this address; retry in {retry_after_s} s")]
    Throttled {
        /// Seconds until the address may try again.
        retry_after_s: u64,
    },
    /// A SASL mechanism this listener does not offer.
    #[error("unsupported SASL mechanism {0}")]
    UnsupportedMechanism(String),
    /// The client broke the exchange (a malformed message).
    #[error("malformed SASL exchange: {0}")]
    Malformed(String),
    /// A request to change credentials is invalid (iterations out of range, empty name…).
    #[error("{0}")]
    InvalidCredential(String),
    /// The user has no credential for that mechanism.
    #[error("no credential of {mechanism} for user {user}")]
    NoCredential {
        /// The user.
        user: String,
        /// The mechanism.
        mechanism: String,
    },
    /// The credential store could not be read or written.
    #[error("credential store {path}: {source}")]
    Store {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A TLS certificate, key or trust store could not be loaded.
    #[error("TLS: {0}")]
    Tls(String),
}
