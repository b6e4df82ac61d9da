//! SaslHandshake and SaslAuthenticate: the SASL exchange of a connection on a SASL listener
//! (and KIP-368 re-authentication), driven through its [`Session`].

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::{
    ResponseKind, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use weir_auth::Authenticator;

use super::str_bytes;
use crate::session::Session;

/// SaslHandshake: the mechanisms offered, and the exchange started with the client's choice.
pub fn handshake(
    authenticator: &Authenticator,
    session: &Session,
    request: SaslHandshakeRequest,
    version: i16,
) -> ResponseKind {
    let mechanisms = authenticator
        .mechanisms()
        .iter()
        .map(|m| str_bytes(m))
        .collect();
    let error_code = match session.handshake(authenticator, request.mechanism.as_str(), version) {
        Ok(()) => 0,
        Err((code, message)) => {
            tracing::debug!(peer = %session.peer, %message, "SaslHandshake refused");
            code.code()
        }
    };
    ResponseKind::SaslHandshake(
        SaslHandshakeResponse::default()
            .with_error_code(error_code)
            .with_mechanisms(mechanisms),
    )
}

/// SaslAuthenticate: one client token. Runs on the blocking pool (PLAIN derives a key from
/// the password). A failure is answered SASL_AUTHENTICATION_FAILED, then the connection
/// closes.
pub async fn authenticate(
    session: Arc<Session>,
    request: SaslAuthenticateRequest,
    reauth_ms: i64,
) -> ResponseKind {
    let outcome =
        tokio::task::spawn_blocking(move || session.authenticate(&request.auth_bytes, reauth_ms))
            .await;
    let response = SaslAuthenticateResponse::default();
    ResponseKind::SaslAuthenticate(match outcome {
        Ok(Ok(done)) => response
            .with_auth_bytes(Bytes::from(done.token))
            .with_session_lifetime_ms(done.session_lifetime_ms),
        Ok(Err((code, message))) => response
            .with_error_code(code.code())
            .with_error_message(Some(str_bytes(&message))),
        Err(e) => response
            .with_error_code(kafka_protocol::error::ResponseError::UnknownServerError.code())
            .with_error_message(Some(str_bytes(&format!("authentication task failed: {e}")))),
    })
}
