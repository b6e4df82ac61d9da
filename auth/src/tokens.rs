//! [`TokenStore`]: bearer tokens for services calling the HTTP admin API, in
//! `<data-dir>/meta/tokens.json`. A token is shown once when created; only its SHA-256 is
//! stored, with the principal it acts as. The broker re-reads the file when it changes, so
//! `weir token create` and `revoke` take effect on a running broker.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use digest::Digest;
use parking_lot::Mutex;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::error::AuthError;
use crate::json_file::{self, store_error};
use crate::principal::Principal;

/// What every token starts with (so a leaked one is recognisable in a scan).
const PREFIX: &str = "weir_";
/// Random bytes of a token.
const TOKEN_BYTES: usize = 32;

/// One stored token (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// A short public id, to list and revoke it by.
    pub id: String,
    /// Who the token acts as, `User:name`.
    pub principal: String,
    /// What it is for.
    pub description: String,
    /// When it was created (ms since the epoch).
    pub created_ms: i64,
    /// SHA-256 of the token, hex.
    sha256: String,
}

#[derive(Serialize, Deserialize, Default)]
struct TokenFile {
    tokens: Vec<TokenInfo>,
}

/// The tokens file and what was last read from it.
#[derive(Debug)]
pub struct TokenStore {
    path: PathBuf,
    loaded: Mutex<(Option<SystemTime>, Vec<TokenInfo>)>,
}

fn digest_hex(token: &str) -> String {
    sha2::Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl TokenStore {
    /// The tokens of `<meta_dir>/tokens.json` (none if it does not exist).
    pub fn open(meta_dir: &Path) -> Result<TokenStore, AuthError> {
        let store = TokenStore {
            path: meta_dir.join("tokens.json"),
            loaded: Mutex::new((None, Vec::new())),
        };
        store.reload()?;
        Ok(store)
    }

    fn read(&self) -> Result<(Option<SystemTime>, Vec<TokenInfo>), AuthError> {
        let modified = match std::fs::metadata(&self.path) {
            Ok(m) => m.modified().ok(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((None, Vec::new())),
            Err(e) => return Err(store_error(&self.path, e)),
        };
        let tokens = json_file::load::<TokenFile>(&self.path)?
            .map(|f| f.tokens)
            .unwrap_or_default();
        Ok((modified, tokens))
    }

    /// Re-reads the file if it changed since the last read. A file that cannot be read keeps
    /// what was read before and is reported.
    fn reload(&self) -> Result<(), AuthError> {
        let modified = std::fs::metadata(&self.path)
            .ok()
            .and_then(|m| m.modified().ok());
        let mut loaded = self.loaded.lock();
        if loaded.0.is_some() && loaded.0 == modified {
            return Ok(());
        }
        *loaded = self.read()?;
        Ok(())
    }

    fn save(&self, tokens: &[TokenInfo]) -> Result<(), AuthError> {
        json_file::save(
            &self.path,
            &TokenFile {
                tokens: tokens.to_vec(),
            },
        )
    }

    /// Creates a token acting as `principal`; returns its info and the token, which is not
    /// stored and cannot be shown again.
    pub fn create(
        &self,
        principal: &Principal,
        description: &str,
    ) -> Result<(TokenInfo, String), AuthError> {
        let mut secret = [0u8; TOKEN_BYTES];
        rand::rng().fill_bytes(&mut secret);
        let token = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(secret));
        let mut id = [0u8; 6];
        rand::rng().fill_bytes(&mut id);
        let info = TokenInfo {
            id: id.iter().map(|b| format!("{b:02x}")).collect(),
            principal: principal.to_string(),
            description: description.to_string(),
            created_ms: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0),
            sha256: digest_hex(&token),
        };
        let (_, mut tokens) = self.read()?;
        tokens.push(info.clone());
        self.save(&tokens)?;
        Ok((info, token))
    }

    /// Every token's info.
    pub fn list(&self) -> Result<Vec<TokenInfo>, AuthError> {
        Ok(self.read()?.1)
    }

    /// Revokes the token with `id`; whether there was one.
    pub fn revoke(&self, id: &str) -> Result<bool, AuthError> {
        let (_, mut tokens) = self.read()?;
        let before = tokens.len();
        tokens.retain(|t| t.id != id);
        if tokens.len() == before {
            return Ok(false);
        }
        self.save(&tokens)?;
        Ok(true)
    }

    /// The principal `token` acts as, if it is a current token.
    pub fn authenticate(&self, token: &str) -> Option<Principal> {
        if !token.starts_with(PREFIX) {
            return None;
        }
        if let Err(e) = self.reload() {
            tracing::warn!(error = %e, "cannot re-read the tokens file; using the last read");
        }
        let digest = digest_hex(token);
        let loaded = self.loaded.lock();
        let info = loaded.1.iter().find(|t| t.sha256 == digest)?;
        let (kind, name) = info.principal.split_once(':')?;
        Some(Principal {
            kind: kind.to_string(),
            name: name.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_authenticate_until_revoked_across_stores() {
        let dir = tempfile::tempdir().unwrap();
        let broker = TokenStore::open(dir.path()).unwrap();
        let cli = TokenStore::open(dir.path()).unwrap();
        let (info, token) = cli
            .create(&Principal::user("svc"), "feature service")
            .unwrap();
        assert!(token.starts_with(PREFIX) && token.len() > 40);
        assert_eq!(broker.authenticate(&token), Some(Principal::user("svc")));
        assert_eq!(broker.authenticate(&format!("{token}x")), None);
        assert_eq!(broker.authenticate("weir_"), None);
        assert!(!std::fs::read_to_string(dir.path().join("tokens.json"))
            .unwrap()
            .contains(&token));
        // The file changes within the mtime granularity in a fast test: wait it out.
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(cli.revoke(&info.id).unwrap());
        assert_eq!(broker.authenticate(&token), None);
        assert!(!cli.revoke(&info.id).unwrap());
    }
}
