//! SASL exchanges: [`Authenticator`] starts one per connection for the mechanism the client
//! chose, and [`SaslExchange::step`] feeds it the client's tokens until it names the
//! principal or fails. PLAIN and SCRAM-SHA-256/512 are `rsasl`'s implementations, checking
//! the [`CredentialStore`].

use std::net::IpAddr;
use std::sync::Arc;

use rsasl::callback::{Context, Request, SessionCallback, SessionData};
use rsasl::mechanisms::scram::properties::ScramStoredPassword;
use rsasl::prelude::{Mechanism, Mechname, Registry, SASLConfig, SASLServer, Session, State};
use rsasl::property::{AuthId, AuthzId, Password};
use rsasl::validate::{Validate, Validation, ValidationError};

use crate::credentials::{CredentialStore, ScramMechanism};
use crate::error::AuthError;
use crate::principal::Principal;
use crate::throttle::LoginThrottle;

/// Every mechanism Weir implements, in the order it offers them.
pub const SASL_MECHANISMS: [&str; 3] = ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"];

static REGISTRY: &[Mechanism] = &[
    rsasl::mechanisms::scram::SCRAM_SHA512,
    rsasl::mechanisms::scram::SCRAM_SHA256,
    rsasl::mechanisms::plain::PLAIN,
];

/// What a finished exchange validated: the authenticated user name, if the credentials held.
struct Authenticated;

impl Validation for Authenticated {
    type Value = Option<String>;
}

/// Answers rsasl's questions from the credential store.
struct StoreCallback {
    store: Arc<CredentialStore>,
}

impl SessionCallback for StoreCallback {
    fn callback(
        &self,
        session: &SessionData,
        context: &Context,
        request: &mut Request,
    ) -> Result<(), rsasl::prelude::SessionError> {
        let Some(mechanism) = ScramMechanism::from_name(session.mechanism().mechanism.as_str())
        else {
            return Ok(());
        };
        let Some(user) = context.get_ref::<AuthId>() else {
            return Ok(());
        };
        let Some(credential) = self.store.credential(user, mechanism) else {
            return Ok(());
        };
        if let Some((salt, stored_key, server_key)) = credential.keys() {
            request.satisfy::<ScramStoredPassword>(&ScramStoredPassword::new(
                credential.iterations,
                &salt,
                &stored_key,
                &server_key,
            ))?;
        }
        Ok(())
    }

    fn validate(
        &self,
        session: &SessionData,
        context: &Context,
        validate: &mut Validate<'_>,
    ) -> Result<(), ValidationError> {
        let user = context.get_ref::<AuthId>();
        let authzid = context.get_ref::<AuthzId>();
        // Acting as someone else (an authorization id other than the user) is refused, as in
        // Kafka.
        let own = authzid.is_none_or(|a| a.is_empty() || Some(a) == user);
        let ok = match session.mechanism().mechanism.as_str() {
            "PLAIN" => match (user, context.get_ref::<Password>()) {
                (Some(user), Some(password)) => own && self.store.check_password(user, password),
                _ => false,
            },
            // rsasl verified the client's proof against the stored key before asking.
            _ => own && user.is_some(),
        };
        validate.with::<Authenticated, _>(|| Ok(user.filter(|_| ok).map(str::to_string)))?;
        Ok(())
    }
}

/// Starts SASL exchanges against one credential store.
#[derive(Clone)]
pub struct Authenticator {
    config: Arc<SASLConfig>,
    enabled: Vec<String>,
    throttle: Arc<LoginThrottle>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("enabled", &self.enabled)
            .finish()
    }
}

/// The outcome of one step of an exchange.
#[derive(Debug, PartialEq, Eq)]
pub enum SaslStep {
    /// Send this to the client and wait for its next token.
    Continue(Vec<u8>),
    /// Authenticated: send the final token (possibly empty); the connection acts as
    /// `principal` from now on.
    Done {
        /// The server's last message.
        response: Vec<u8>,
        /// Who the client proved to be.
        principal: Principal,
    },
}

/// One client's exchange, from the mechanism it chose to success or failure.
pub struct SaslExchange {
    session: Session<Authenticated>,
    mechanism: String,
    peer: IpAddr,
    throttle: Arc<LoginThrottle>,
}

impl std::fmt::Debug for SaslExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslExchange")
            .field("mechanism", &self.mechanism)
            .finish()
    }
}

impl Authenticator {
    /// An authenticator offering `enabled` (a subset of [`SASL_MECHANISMS`]; unknown names are
    /// an error), checking `store`, and refusing addresses `throttle` locked out.
    pub fn new(
        store: Arc<CredentialStore>,
        enabled: &[String],
        throttle: Arc<LoginThrottle>,
    ) -> Result<Authenticator, AuthError> {
        if let Some(unknown) = enabled
            .iter()
            .find(|m| !SASL_MECHANISMS.contains(&m.as_str()))
        {
            return Err(AuthError::UnsupportedMechanism(unknown.clone()));
        }
        let config = SASLConfig::builder()
            .with_registry(Registry::with_mechanisms(REGISTRY))
            .with_callback(StoreCallback { store })
            .map_err(|e| AuthError::Malformed(e.to_string()))?;
        Ok(Authenticator {
            config,
            enabled: enabled.to_vec(),
            throttle,
        })
    }

    /// The mechanisms offered, as SaslHandshake lists them.
    pub fn mechanisms(&self) -> &[String] {
        &self.enabled
    }

    /// Starts an exchange with `mechanism` for a client at `peer`.
    pub fn start(&self, mechanism: &str, peer: IpAddr) -> Result<SaslExchange, AuthError> {
        if !self.enabled.iter().any(|m| m == mechanism) {
            return Err(AuthError::UnsupportedMechanism(mechanism.to_string()));
        }
        let name = Mechname::parse(mechanism.as_bytes())
            .map_err(|_| AuthError::UnsupportedMechanism(mechanism.to_string()))?;
        let session = SASLServer::<Authenticated>::new(self.config.clone())
            .start_suggested(name)
            .map_err(|_| AuthError::UnsupportedMechanism(mechanism.to_string()))?;
        Ok(SaslExchange {
            session,
            mechanism: mechanism.to_string(),
            peer,
            throttle: self.throttle.clone(),
        })
    }
}

impl SaslExchange {
    /// The mechanism of this exchange.
    pub fn mechanism(&self) -> &str {
        &self.mechanism
    }

    /// Feeds the client's next token. Any failure — wrong password, unknown user, a bad
    /// proof, a malformed message — is [`AuthError::Failed`], saying nothing about which, and
    /// counts against the client's address; a locked-out address gets
    /// [`AuthError::Throttled`] without its token being looked at.
    pub fn step(&mut self, token: &[u8]) -> Result<SaslStep, AuthError> {
        if let Some(wait) = self.throttle.locked_for(self.peer) {
            return Err(AuthError::Throttled {
                retry_after_s: wait.as_secs().max(1),
            });
        }
        let result = self.check(token);
        if matches!(result, Err(AuthError::Failed { .. })) {
            self.throttle.failed(self.peer);
        }
        result
    }

    fn check(&mut self, token: &[u8]) -> Result<SaslStep, AuthError> {
        let failed = || AuthError::Failed {
            mechanism: self.mechanism.clone(),
        };
        let mut out = Vec::new();
        let state = self.session.step(Some(token), &mut out).map_err(|e| {
            // rsasl's errors name what was wrong with the exchange, never a secret.
            tracing::debug!(mechanism = %self.mechanism, error = %e, "SASL step failed");
            failed()
        })?;
        match state {
            State::Running => Ok(SaslStep::Continue(out)),
            State::Finished(_) => match self.session.validation().flatten() {
                Some(user) => Ok(SaslStep::Done {
                    response: out,
                    principal: Principal::user(user),
                }),
                None => Err(failed()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    fn authenticator() -> (tempfile::TempDir, Authenticator) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(CredentialStore::open(dir.path()).unwrap());
        for m in ScramMechanism::ALL {
            store.set_password("alice", m, b"pw", 4096).unwrap();
        }
        let enabled: Vec<String> = SASL_MECHANISMS.iter().map(|m| m.to_string()).collect();
        let throttle = Arc::new(LoginThrottle::new(0, std::time::Duration::ZERO));
        (dir, Authenticator::new(store, &enabled, throttle).unwrap())
    }

    #[test]
    fn plain_accepts_the_password_only() {
        let (_dir, auth) = authenticator();
        let mut ok = auth.start("PLAIN", LOCAL).unwrap();
        assert!(matches!(
            ok.step(b"\0alice\0pw"),
            Ok(SaslStep::Done { principal, .. }) if principal == Principal::user("alice")
        ));
        let mut bad = auth.start("PLAIN", LOCAL).unwrap();
        assert!(matches!(
            bad.step(b"\0alice\0pw2"),
            Err(AuthError::Failed { .. })
        ));
        let mut other = auth.start("PLAIN", LOCAL).unwrap();
        assert!(matches!(
            other.step(b"bob\0alice\0pw"),
            Err(AuthError::Failed { .. })
        ));
        assert!(matches!(
            auth.start("GSSAPI", LOCAL),
            Err(AuthError::UnsupportedMechanism(_))
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Any client tokens — random bytes, truncated or bit-flipped valid messages — end in
        /// an error or a continuation, never a panic and never an authenticated principal.
        #[test]
        fn hostile_tokens_never_authenticate(
            mechanism in prop::sample::select(SASL_MECHANISMS.to_vec()),
            tokens in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..4),
            flip in any::<(usize, u8)>(),
        ) {
            let (_dir, auth) = authenticator();
            let mut exchange = auth.start(mechanism, LOCAL).unwrap();
            let mut first = if mechanism == "PLAIN" {
                b"\0alice\0pw".to_vec()
            } else {
                b"n,,n=alice,r=abcdefghijklmnop".to_vec()
            };
            let at = flip.0 % first.len();
            first[at] ^= flip.1 | 1;
            for token in std::iter::once(first).chain(tokens) {
                match exchange.step(&token) {
                    Ok(SaslStep::Continue(_)) => {}
                    Ok(SaslStep::Done { principal, .. }) => {
                        // Only PLAIN with the flip landing outside the secret parts could
                        // still name alice; any success must be alice with the right password.
                        prop_assert!(mechanism == "PLAIN" && principal == Principal::user("alice"));
                        break;
                    }
                    Err(_) => break,
                }
            }
        }
    }
}
