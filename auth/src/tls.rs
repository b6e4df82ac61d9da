//! [`TlsSettings`]: a listener's certificate, key and client authentication, loaded from PEM
//! files into a `rustls` server configuration; and the principal a client certificate maps
//! to (Kafka's default: `User:` + the subject in RFC 2253 form, e.g. `User:CN=app,O=Org`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::AuthError;
use crate::principal::Principal;

/// `ssl.client.auth`: whether clients must present a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// No client certificate is asked for.
    #[default]
    None,
    /// Asked for; a client without one connects as `User:ANONYMOUS`.
    Requested,
    /// Required: the handshake fails without a certificate the trust store vouches for.
    Required,
}

impl std::str::FromStr for ClientAuth {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(ClientAuth::None),
            "requested" => Ok(ClientAuth::Requested),
            "required" => Ok(ClientAuth::Required),
            other => Err(format!(
                "ssl.client.auth must be none, requested or required, not {other:?}"
            )),
        }
    }
}

/// Where a TLS listener's certificate, key and client trust come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM certificate chain, leaf first (`ssl.keystore.location` in spirit).
    pub certificate_chain: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub private_key: PathBuf,
    /// `ssl.client.auth`.
    pub client_auth: ClientAuth,
    /// PEM CA certificates client certificates must chain to (`ssl.truststore.location`);
    /// needed unless `client_auth` is `none`.
    pub truststore: Option<PathBuf>,
}

fn tls_error(path: &Path, e: impl std::fmt::Display) -> AuthError {
    AuthError::Tls(format!("{}: {e}", path.display()))
}

impl TlsSettings {
    /// Loads the files into a server configuration (TLS 1.2 and 1.3).
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, AuthError> {
        let chain = CertificateDer::pem_file_iter(&self.certificate_chain)
            .map_err(|e| tls_error(&self.certificate_chain, e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| tls_error(&self.certificate_chain, e))?;
        if chain.is_empty() {
            return Err(tls_error(
                &self.certificate_chain,
                "no certificate in the file",
            ));
        }
        let key = PrivateKeyDer::from_pem_file(&self.private_key)
            .map_err(|e| tls_error(&self.private_key, e))?;
        let builder = ServerConfig::builder();
        let builder = match self.client_auth {
            ClientAuth::None => builder.with_no_client_auth(),
            ClientAuth::Requested | ClientAuth::Required => {
                let path = self.truststore.as_ref().ok_or_else(|| {
                    AuthError::Tls(
                        "ssl.client.auth requested/required needs ssl.truststore.location".into(),
                    )
                })?;
                let mut roots = RootCertStore::empty();
                for cert in CertificateDer::pem_file_iter(path).map_err(|e| tls_error(path, e))? {
                    roots
                        .add(cert.map_err(|e| tls_error(path, e))?)
                        .map_err(|e| tls_error(path, e))?;
                }
                let verifier = WebPkiClientVerifier::builder(Arc::new(roots));
                let verifier = if self.client_auth == ClientAuth::Requested {
                    verifier.allow_unauthenticated()
                } else {
                    verifier
                };
                builder.with_client_cert_verifier(verifier.build().map_err(|e| tls_error(path, e))?)
            }
        };
        let config = builder
            .with_single_cert(chain, key)
            .map_err(|e| tls_error(&self.certificate_chain, e))?;
        Ok(Arc::new(config))
    }
}

/// Escapes an attribute value as RFC 2253 requires.
fn escape_rfc2253(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i + 1 == value.chars().count() && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The principal of a verified client certificate (DER): `User:` and its subject as Java's
/// `X500Principal.getName()` writes it — RDNs last to first, `,`-separated, short attribute
/// names, RFC 2253 escaping — which is what Kafka's default principal builder uses.
pub fn principal_from_certificate(der: &[u8]) -> Result<Principal, AuthError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| AuthError::Tls(format!("client certificate: {e}")))?;
    let registry = x509_parser::objects::oid_registry();
    let mut rdns = Vec::new();
    for rdn in cert.subject().iter_rdn() {
        let parts: Vec<String> = rdn
            .iter()
            .map(|attr| {
                let oid = attr.attr_type();
                let name = x509_parser::objects::oid2abbrev(oid, registry)
                    .map(str::to_string)
                    .unwrap_or_else(|_| oid.to_id_string());
                let value = attr
                    .as_str()
                    .map(escape_rfc2253)
                    .unwrap_or_else(|_| format!("#{}", hex(attr.attr_value().data)));
                format!("{name}={value}")
            })
            .collect();
        rdns.push(parts.join("+"));
    }
    rdns.reverse();
    Ok(Principal::user(rdns.join(",")))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2253_escaping() {
        assert_eq!(escape_rfc2253("a,b"), "a\\,b");
        assert_eq!(escape_rfc2253(" x "), "\\ x\\ ");
        assert_eq!(escape_rfc2253("#1"), "\\#1");
        assert_eq!(escape_rfc2253("plain"), "plain");
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert!(principal_from_certificate(b"\x30\x03\x02\x01\x00").is_err());
        assert!(principal_from_certificate(b"").is_err());
    }
}
