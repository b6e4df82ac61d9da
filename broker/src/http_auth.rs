//! Who calls the HTTP admin API: `Authorization: Basic` with a broker user's password (the
//! same users as SASL, checked by the same store), `Authorization: Bearer` with a token from
//! `weir token create`, or nobody (`User:ANONYMOUS`). The [`authenticate`] middleware puts the
//! [`HttpCaller`] on every request; handlers authorize it with the same ACLs as Kafka
//! requests ([`HttpCaller::access`]). Wrong credentials answer 401 and count against the
//! client's address like failed SASL logins.
//!
//! `/health`, `/ready` and `/metrics` answer anyone when `http_probes_open` (the default on a
//! loopback address), and only authenticated callers otherwise.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use serde_json::json;
use weir_auth::Principal;

use crate::access::Access;
use crate::broker::Broker;
use crate::http_tables::BrokerCell;

/// The client address of an HTTP connection (set by the listener on every request).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

/// Who an HTTP request comes from.
#[derive(Debug, Clone)]
pub struct HttpCaller {
    /// The authenticated principal, or `User:ANONYMOUS`.
    pub principal: Principal,
    /// The client's address.
    pub host: IpAddr,
}

impl HttpCaller {
    /// The caller's access, decided by `broker`'s authorizer.
    pub fn access(&self, broker: &Broker) -> Access {
        Access::for_caller(broker.authorizer.clone(), self.principal.clone(), self.host)
    }

    /// The answer to a request the caller may not make: 401 (asking for credentials) for an
    /// anonymous caller, 403 for an authenticated one.
    pub fn refusal(&self, what: &str) -> (StatusCode, Json<serde_json::Value>) {
        if self.principal.is_anonymous() {
            (
                StatusCode::UNAUTHORIZED,
                Json(json!({ "error": format!("authentication required to {what}") })),
            )
        } else {
            (
                StatusCode::FORBIDDEN,
                Json(json!({ "error": format!("{} may not {what}", self.principal) })),
            )
        }
    }
}

/// What the middleware needs: the broker (its users, tokens and throttle) and whether the
/// probes are open.
#[derive(Clone)]
pub struct HttpSecurity {
    /// The broker, once open.
    pub broker: BrokerCell,
    /// `/health`, `/ready` and `/metrics` answer anonymous callers.
    pub probes_open: bool,
}

/// The challenge of every 401.
const CHALLENGE: &str = "Basic realm=\"weir\"";

fn unauthorized(message: &str) -> Response {
    let mut response =
        (StatusCode::UNAUTHORIZED, Json(json!({ "error": message }))).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static(CHALLENGE),
    );
    response
}

/// The principal of the request's credentials; `Ok(None)` when it carries none.
fn principal_of(broker: &Broker, host: IpAddr, value: &str) -> Result<Option<Principal>, String> {
    if let Some(token) = value.strip_prefix("Bearer ") {
        return match broker.tokens.authenticate(token.trim()) {
            Some(p) => Ok(Some(p)),
            None => Err("unknown or revoked bearer token".into()),
        };
    }
    let Some(encoded) = value.strip_prefix("Basic ") else {
        return Err("unsupported Authorization scheme (use Basic or Bearer)".into());
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| "malformed Basic credentials".to_string())?;
    let text = String::from_utf8(decoded).map_err(|_| "malformed Basic credentials".to_string())?;
    let (user, password) = text
        .split_once(':')
        .ok_or_else(|| "malformed Basic credentials".to_string())?;
    if broker.login_throttle.locked_for(host).is_some() {
        return Err("too many failed authentications from this address; retry later".into());
    }
    if broker.credentials.check_password(user, password.as_bytes()) {
        Ok(Some(Principal::user(user)))
    } else {
        broker.login_throttle.failed(host);
        Err("invalid credentials".into())
    }
}

/// The middleware: resolves the caller, refuses bad credentials (401) and anonymous callers of
/// closed probes, and hands the [`HttpCaller`] to the handlers.
pub async fn authenticate(
    State(security): State<HttpSecurity>,
    mut request: Request,
    next: Next,
) -> Response {
    let host = request
        .extensions()
        .get::<PeerAddr>()
        .map(|p| p.0.ip())
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    let credentials = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or_default().to_string());
    let principal = match (credentials, security.broker.get()) {
        (None, _) => Principal::anonymous(),
        (Some(_), None) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "error": "the broker is still starting" })),
            )
                .into_response()
        }
        (Some(value), Some(broker)) => match principal_of(broker, host, &value) {
            Ok(Some(p)) => p,
            Ok(None) => Principal::anonymous(),
            Err(message) => {
                tracing::warn!(%host, path = %request.uri().path(), error = %message, "HTTP authentication failed");
                return unauthorized(&message);
            }
        },
    };
    let probe = matches!(request.uri().path(), "/health" | "/ready" | "/metrics");
    if probe && !security.probes_open && principal.is_anonymous() {
        return unauthorized("authentication required");
    }
    request
        .extensions_mut()
        .insert(HttpCaller { principal, host });
    let mut response = next.run(request).await;
    // Every 401 says how to authenticate (RFC 9110), handlers' refusals included.
    if response.status() == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .entry(header::WWW_AUTHENTICATE)
            .or_insert(header::HeaderValue::from_static(CHALLENGE));
    }
    response
}
