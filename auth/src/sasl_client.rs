//! [`SaslClientExchange`]: the client side of a SASL exchange (PLAIN, SCRAM-SHA-256,
//! SCRAM-SHA-512) over `rsasl`, for Weir's own admin commands talking to a secured broker;
//! and the TLS client configuration they use ([`tls_client_config`]).

use std::path::Path;
use std::sync::Arc;

use rsasl::prelude::{Mechname, SASLClient, SASLConfig, Session, State};
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use crate::error::AuthError;
use crate::sasl::SASL_MECHANISMS;

/// One client login.
pub struct SaslClientExchange {
    session: Session,
    mechanism: String,
}

impl std::fmt::Debug for SaslClientExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslClientExchange")
            .field("mechanism", &self.mechanism)
            .finish()
    }
}

impl SaslClientExchange {
    /// Starts logging in as `user` with `password` using `mechanism`.
    pub fn start(mechanism: &str, user: &str, password: &str) -> Result<Self, AuthError> {
        if !SASL_MECHANISMS.contains(&mechanism) {
            return Err(AuthError::UnsupportedMechanism(mechanism.to_string()));
        }
        let config = SASLConfig::with_credentials(None, user.to_string(), password.to_string())
            .map_err(|e| AuthError::Malformed(e.to_string()))?;
        let name = Mechname::parse(mechanism.as_bytes())
            .map_err(|_| AuthError::UnsupportedMechanism(mechanism.to_string()))?;
        let session = SASLClient::new(config)
            .start_suggested(&[name])
            .map_err(|_| AuthError::UnsupportedMechanism(mechanism.to_string()))?;
        Ok(SaslClientExchange {
            session,
            mechanism: mechanism.to_string(),
        })
    }

    /// The next token to send, given the server's last one (`None` to begin), and whether
    /// the client side is finished (for SCRAM: the server's signature checked).
    pub fn step(&mut self, server: Option<&[u8]>) -> Result<(Vec<u8>, bool), AuthError> {
        let mut out = Vec::new();
        let state = self
            .session
            .step(server, &mut out)
            .map_err(|e| AuthError::Malformed(format!("{} login: {e}", self.mechanism)))?;
        Ok((out, matches!(state, State::Finished(_))))
    }
}

/// A TLS client configuration trusting the CA certificates in `ca_file` (PEM).
pub fn tls_client_config(ca_file: &Path) -> Result<Arc<ClientConfig>, AuthError> {
    let bad = |e: &dyn std::fmt::Display| AuthError::Tls(format!("{}: {e}", ca_file.display()));
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file).map_err(|e| bad(&e))? {
        roots.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
    }
    Ok(Arc::new(
        ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Authenticator, CredentialStore, LoginThrottle, SaslStep, ScramMechanism};
    use std::net::{IpAddr, Ipv4Addr};

    /// The client and the broker's authenticator log in with each mechanism; a wrong
    /// password fails.
    #[test]
    fn client_and_server_agree() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(CredentialStore::open(dir.path()).unwrap());
        for m in ScramMechanism::ALL {
            store.set_password("alice", m, b"pw", 4096).unwrap();
        }
        let enabled: Vec<String> = SASL_MECHANISMS.iter().map(|m| m.to_string()).collect();
        let throttle = Arc::new(LoginThrottle::new(0, std::time::Duration::ZERO));
        let server = Authenticator::new(store, &enabled, throttle).unwrap();
        for mechanism in SASL_MECHANISMS {
            for (password, ok) in [("pw", true), ("nope", false)] {
                let mut client = SaslClientExchange::start(mechanism, "alice", password).unwrap();
                let mut exchange = server
                    .start(mechanism, IpAddr::V4(Ipv4Addr::LOCALHOST))
                    .unwrap();
                let (mut token, mut finished) = client.step(None).unwrap();
                let outcome = loop {
                    match exchange.step(&token) {
                        Ok(SaslStep::Continue(reply)) => {
                            (token, finished) = client.step(Some(&reply)).unwrap();
                        }
                        Ok(SaslStep::Done {
                            response,
                            principal,
                        }) => {
                            if !finished {
                                client.step(Some(&response)).unwrap();
                            }
                            break Some(principal);
                        }
                        Err(_) => break None,
                    }
                };
                assert_eq!(outcome.is_some(), ok, "{mechanism} with {password}");
            }
        }
    }
}
