//! [`Session`]: what one connection is — its peer, the listener it came in on, the principal
//! it acts as — and the SASL state machine that establishes that principal on a SASL
//! listener (SaslHandshake v0/v1, SaslAuthenticate, and KIP-368 re-authentication).
//!
//! On a SASL listener nothing but ApiVersions, SaslHandshake and SaslAuthenticate is served
//! before the client authenticates; anything else closes the connection, as in Kafka. After
//! SaslHandshake v0 the client's tokens arrive as raw frames, not Kafka requests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::ApiKey;
use parking_lot::Mutex;
use weir_auth::{AuthError, Authenticator, Principal, SaslExchange, SaslStep};

use crate::listeners::Listener;

/// Where a connection is in authenticating.
enum AuthState {
    /// Not a SASL listener: the principal is fixed (ANONYMOUS, or a client certificate's).
    Fixed(Principal),
    /// A SASL listener before SaslHandshake.
    AwaitingHandshake,
    /// SaslHandshake chose a mechanism; the exchange runs.
    Exchanging {
        exchange: Box<SaslExchange>,
        /// After SaslHandshake v0: tokens come as raw frames.
        raw: bool,
    },
    /// Authenticated (and possibly re-authenticating, KIP-368).
    Authenticated {
        principal: Principal,
        /// When the session ends (`connections.max.reauth.ms`), if it does.
        expires: Option<Instant>,
        /// A re-authentication in progress.
        reauth: Option<Box<SaslExchange>>,
    },
    /// Authentication failed: the connection closes once the answer is written.
    Failed,
}

/// One client connection's identity and authentication state. Shared with the handlers of
/// its requests as `Arc<Session>`.
pub struct Session {
    /// The client's address.
    pub peer: SocketAddr,
    /// The listener it connected to.
    pub listener: Arc<Listener>,
    state: Mutex<AuthState>,
}

/// Why a request is not served on this connection: the connection closes.
#[derive(Debug)]
pub struct Refused(pub String);

/// The result of a SaslAuthenticate step.
pub struct AuthenticateOutcome {
    /// The token to return.
    pub token: Vec<u8>,
    /// For a finished exchange: milliseconds until re-authentication is due (0: never).
    pub session_lifetime_ms: i64,
}

impl Session {
    /// A new connection on `listener`; `principal` is who a non-SASL connection acts as.
    pub fn new(peer: SocketAddr, listener: Arc<Listener>, principal: Principal) -> Session {
        let state = if listener.protocol.sasl() {
            AuthState::AwaitingHandshake
        } else {
            AuthState::Fixed(principal)
        };
        Session {
            peer,
            listener,
            state: Mutex::new(state),
        }
    }

    /// Who the connection acts as (`User:ANONYMOUS` until it authenticates).
    pub fn principal(&self) -> Principal {
        match &*self.state.lock() {
            AuthState::Fixed(p) => p.clone(),
            AuthState::Authenticated { principal, .. } => principal.clone(),
            _ => Principal::anonymous(),
        }
    }

    /// Whether a request of `api_key` may be served now; otherwise the connection closes.
    pub fn admit(&self, api_key: ApiKey) -> Result<(), Refused> {
        let sasl_api = matches!(
            api_key,
            ApiKey::ApiVersions | ApiKey::SaslHandshake | ApiKey::SaslAuthenticate
        );
        match &*self.state.lock() {
            AuthState::Fixed(_) => Ok(()),
            AuthState::Authenticated { expires, .. } => match expires {
                Some(at) if Instant::now() >= *at && !sasl_api => Err(Refused(format!(
                    "{api_key:?} after the SASL session expired (connections.max.reauth.ms) without re-authentication"
                ))),
                _ => Ok(()),
            },
            AuthState::Failed => Err(Refused("request after a failed authentication".into())),
            _ if sasl_api => Ok(()),
            _ => Err(Refused(format!(
                "unexpected {api_key:?} request before SASL authentication"
            ))),
        }
    }

    /// Whether the next frame is a raw SASL token (after SaslHandshake v0), not a request.
    pub fn expects_raw_token(&self) -> bool {
        matches!(&*self.state.lock(), AuthState::Exchanging { raw: true, .. })
    }

    /// Whether authentication failed and the connection must close.
    pub fn failed(&self) -> bool {
        matches!(&*self.state.lock(), AuthState::Failed)
    }

    /// SaslHandshake: starts an exchange with `mechanism` (`version` 0 switches the client to
    /// raw tokens). Allowed first on a SASL listener and again once authenticated
    /// (re-authentication, v1 only).
    pub fn handshake(
        &self,
        authenticator: &Authenticator,
        mechanism: &str,
        version: i16,
    ) -> Result<(), (ResponseError, String)> {
        let mut state = self.state.lock();
        let start = || {
            authenticator
                .start(mechanism, self.peer.ip())
                .map(Box::new)
                .map_err(|e| {
                    (
                        ResponseError::UnsupportedSaslMechanism,
                        format!("{e}; this listener offers {:?}", authenticator.mechanisms()),
                    )
                })
        };
        match &mut *state {
            AuthState::AwaitingHandshake => {
                let exchange = start()?;
                *state = AuthState::Exchanging {
                    exchange,
                    raw: version == 0,
                };
                Ok(())
            }
            AuthState::Authenticated { reauth, .. } if version >= 1 => {
                *reauth = Some(start()?);
                Ok(())
            }
            AuthState::Fixed(_) => Err((
                ResponseError::IllegalSaslState,
                format!(
                    "SaslHandshake on listener {} ({}), which does not use SASL",
                    self.listener.name,
                    self.listener.protocol.name()
                ),
            )),
            _ => Err((
                ResponseError::IllegalSaslState,
                "unexpected SaslHandshake in this state of the SASL exchange".into(),
            )),
        }
    }

    /// One client token of the exchange (SaslAuthenticate or a raw v0 frame). A failure
    /// marks the session failed: the answer goes out, then the connection closes.
    pub fn authenticate(
        &self,
        token: &[u8],
        reauth_ms: i64,
    ) -> Result<AuthenticateOutcome, (ResponseError, String)> {
        let mut state = self.state.lock();
        let lifetime = || (reauth_ms > 0).then(|| Duration::from_millis(reauth_ms as u64));
        let outcome = |token: Vec<u8>, done: bool| AuthenticateOutcome {
            token,
            session_lifetime_ms: if done { reauth_ms } else { 0 },
        };
        let failure = |e: AuthError| (ResponseError::SaslAuthenticationFailed, e.to_string());
        match &mut *state {
            AuthState::Exchanging { exchange, .. } => match exchange.step(token) {
                Ok(SaslStep::Continue(out)) => Ok(outcome(out, false)),
                Ok(SaslStep::Done {
                    response,
                    principal,
                }) => {
                    tracing::debug!(peer = %self.peer, %principal, mechanism = exchange.mechanism(), "authenticated");
                    *state = AuthState::Authenticated {
                        principal,
                        expires: lifetime().map(|d| Instant::now() + d),
                        reauth: None,
                    };
                    Ok(outcome(response, true))
                }
                Err(e) => {
                    tracing::warn!(peer = %self.peer, listener = %self.listener.name, mechanism = exchange.mechanism(), error = %e, "authentication failed");
                    *state = AuthState::Failed;
                    Err(failure(e))
                }
            },
            AuthState::Authenticated {
                principal,
                expires,
                reauth,
            } => {
                let Some(exchange) = reauth.as_mut() else {
                    return Err((
                        ResponseError::IllegalSaslState,
                        "SaslAuthenticate without a SaslHandshake first".into(),
                    ));
                };
                match exchange.step(token) {
                    Ok(SaslStep::Continue(out)) => Ok(outcome(out, false)),
                    Ok(SaslStep::Done {
                        response,
                        principal: again,
                    }) if again == *principal => {
                        *reauth = None;
                        *expires = lifetime().map(|d| Instant::now() + d);
                        tracing::debug!(peer = %self.peer, %principal, "re-authenticated");
                        Ok(outcome(response, true))
                    }
                    Ok(SaslStep::Done {
                        principal: again, ..
                    }) => {
                        tracing::warn!(peer = %self.peer, from = %principal, to = %again, "re-authentication as another principal refused");
                        *state = AuthState::Failed;
                        Err((
                            ResponseError::SaslAuthenticationFailed,
                            "re-authentication must keep the principal".into(),
                        ))
                    }
                    Err(e) => {
                        tracing::warn!(peer = %self.peer, listener = %self.listener.name, error = %e, "re-authentication failed");
                        *state = AuthState::Failed;
                        Err(failure(e))
                    }
                }
            }
            _ => Err((
                ResponseError::IllegalSaslState,
                "SaslAuthenticate without a SaslHandshake first".into(),
            )),
        }
    }
}
