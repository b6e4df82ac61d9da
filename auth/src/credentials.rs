//! [`CredentialStore`]: the users of a broker, stored once as salted SCRAM credentials in
//! `<data-dir>/meta/users.json` (written atomically). SCRAM-SHA-256 and SCRAM-SHA-512 check
//! them as RFC 5802 says; PLAIN checks a password against the same credentials, so no
//! password is ever stored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use digest::Digest;
use parking_lot::RwLock;
use rand::RngCore;
use rsasl::mechanisms::scram::tools::{derive_keys, hash_password};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::error::AuthError;
use crate::json_file;

/// Iterations of a credential created from a password (Kafka's minimum and tools' default).
pub const DEFAULT_ITERATIONS: u32 = 4096;
/// Kafka's bounds for SCRAM iterations (AlterUserScramCredentials refuses others).
const MIN_ITERATIONS: u32 = 4096;
const MAX_ITERATIONS: u32 = 16384;
/// Bytes of a generated salt.
const SALT_BYTES: usize = 32;

/// A SCRAM mechanism, as Kafka numbers it in the credential APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ScramMechanism {
    /// SCRAM-SHA-256 (Kafka's mechanism type 1).
    #[serde(rename = "SCRAM-SHA-256")]
    Sha256,
    /// SCRAM-SHA-512 (Kafka's mechanism type 2).
    #[serde(rename = "SCRAM-SHA-512")]
    Sha512,
}

impl ScramMechanism {
    /// Both, in Kafka's order.
    pub const ALL: [ScramMechanism; 2] = [ScramMechanism::Sha256, ScramMechanism::Sha512];

    /// The SASL mechanism name.
    pub fn name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    /// From the SASL mechanism name.
    pub fn from_name(name: &str) -> Option<ScramMechanism> {
        ScramMechanism::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Kafka's `ScramMechanism` type byte (1, 2).
    pub fn kafka_type(self) -> i8 {
        match self {
            ScramMechanism::Sha256 => 1,
            ScramMechanism::Sha512 => 2,
        }
    }

    /// From Kafka's type byte.
    pub fn from_kafka_type(t: i8) -> Option<ScramMechanism> {
        ScramMechanism::ALL
            .into_iter()
            .find(|m| m.kafka_type() == t)
    }

    /// `(stored_key, server_key)` of a salted password.
    fn keys(self, salted_password: &[u8]) -> (Vec<u8>, Vec<u8>) {
        fn with<D>(salted: &[u8]) -> (Vec<u8>, Vec<u8>)
        where
            D: Digest + digest::core_api::BlockSizeUser + digest::FixedOutputReset,
        {
            let (client_key, server_key) = derive_keys::<D>(salted);
            (D::digest(client_key).to_vec(), server_key.to_vec())
        }
        match self {
            ScramMechanism::Sha256 => with::<sha2::Sha256>(salted_password),
            ScramMechanism::Sha512 => with::<sha2::Sha512>(salted_password),
        }
    }

    /// PBKDF2 of `password` (the salted password of RFC 5802).
    fn salt_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => {
                let mut out = Default::default();
                hash_password::<sha2::Sha256>(password, iterations, salt, &mut out);
                out.to_vec()
            }
            ScramMechanism::Sha512 => {
                let mut out = Default::default();
                hash_password::<sha2::Sha512>(password, iterations, salt, &mut out);
                out.to_vec()
            }
        }
    }
}

/// One user's credential for one SCRAM mechanism (RFC 5802's stored form).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScramCredential {
    /// The salt, base64.
    salt: String,
    /// PBKDF2 iterations.
    pub iterations: u32,
    /// `H(ClientKey)`, base64.
    stored_key: String,
    /// `ServerKey`, base64.
    server_key: String,
}

impl ScramCredential {
    /// The credential of `salted_password` (what AlterUserScramCredentials sends).
    fn from_salted(
        mechanism: ScramMechanism,
        salt: &[u8],
        salted_password: &[u8],
        iterations: u32,
    ) -> ScramCredential {
        let (stored_key, server_key) = mechanism.keys(salted_password);
        ScramCredential {
            salt: B64.encode(salt),
            iterations,
            stored_key: B64.encode(stored_key),
            server_key: B64.encode(server_key),
        }
    }

    /// `(salt, stored_key, server_key)`, decoded.
    pub fn keys(&self) -> Option<(Vec<u8>, Vec<u8>, Vec<u8>)> {
        Some((
            B64.decode(&self.salt).ok()?,
            B64.decode(&self.stored_key).ok()?,
            B64.decode(&self.server_key).ok()?,
        ))
    }

    /// Whether `password` is the one this credential was made from (constant time in the
    /// comparison of keys).
    fn matches(&self, mechanism: ScramMechanism, password: &[u8]) -> bool {
        let Some((salt, stored_key, _)) = self.keys() else {
            return false;
        };
        let salted = mechanism.salt_password(password, &salt, self.iterations);
        let (candidate, _) = mechanism.keys(&salted);
        candidate.ct_eq(&stored_key).into()
    }
}

type Users = BTreeMap<String, BTreeMap<ScramMechanism, ScramCredential>>;

#[derive(Serialize, Deserialize, Default)]
struct UsersFile {
    users: Users,
}

/// The users of a broker. `Send + Sync`; changes are written through before they return.
#[derive(Debug)]
pub struct CredentialStore {
    path: PathBuf,
    users: RwLock<Users>,
}

impl CredentialStore {
    /// Opens `<meta_dir>/users.json` (empty if it does not exist). A file that does not parse
    /// is an error: starting without the users would lock everyone out, or worse.
    pub fn open(meta_dir: &Path) -> Result<CredentialStore, AuthError> {
        let path = meta_dir.join("users.json");
        let users = json_file::load::<UsersFile>(&path)?
            .map(|f| f.users)
            .unwrap_or_default();
        Ok(CredentialStore {
            path,
            users: RwLock::new(users),
        })
    }

    fn save(&self, users: &Users) -> Result<(), AuthError> {
        json_file::save(
            &self.path,
            &UsersFile {
                users: users.clone(),
            },
        )
    }

    /// Applies `change` to a copy of the users, stores it, then publishes it: a change that
    /// cannot be stored changes nothing.
    fn update<T>(
        &self,
        change: impl FnOnce(&mut Users) -> Result<T, AuthError>,
    ) -> Result<T, AuthError> {
        let mut users = self.users.write();
        let mut next = users.clone();
        let out = change(&mut next)?;
        self.save(&next)?;
        *users = next;
        Ok(out)
    }

    /// Sets `user`'s credential for `mechanism` from a password (a new random salt).
    pub fn set_password(
        &self,
        user: &str,
        mechanism: ScramMechanism,
        password: &[u8],
        iterations: u32,
    ) -> Result<(), AuthError> {
        let mut salt = [0u8; SALT_BYTES];
        rand::rng().fill_bytes(&mut salt);
        let salted = mechanism.salt_password(password, &salt, iterations);
        self.upsert_salted(user, mechanism, &salt, &salted, iterations)
    }

    /// Sets `user`'s credential for `mechanism` from a salted password (Kafka's
    /// AlterUserScramCredentials upsertion). Iterations must lie in Kafka's [4096, 16384].
    pub fn upsert_salted(
        &self,
        user: &str,
        mechanism: ScramMechanism,
        salt: &[u8],
        salted_password: &[u8],
        iterations: u32,
    ) -> Result<(), AuthError> {
        if user.is_empty() {
            return Err(AuthError::InvalidCredential(
                "the user name is empty".into(),
            ));
        }
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(AuthError::InvalidCredential(format!(
                "iterations {iterations} outside [{MIN_ITERATIONS}, {MAX_ITERATIONS}]"
            )));
        }
        if salt.is_empty() || salted_password.is_empty() {
            return Err(AuthError::InvalidCredential(
                "the salt and the salted password must not be empty".into(),
            ));
        }
        let credential = ScramCredential::from_salted(mechanism, salt, salted_password, iterations);
        self.update(|users| {
            users
                .entry(user.to_string())
                .or_default()
                .insert(mechanism, credential);
            Ok(())
        })
    }

    /// Removes `user`'s credential for `mechanism` (the user goes once it has none).
    pub fn delete(&self, user: &str, mechanism: ScramMechanism) -> Result<(), AuthError> {
        self.update(|users| {
            let missing = || AuthError::NoCredential {
                user: user.to_string(),
                mechanism: mechanism.name().to_string(),
            };
            let credentials = users.get_mut(user).ok_or_else(missing)?;
            credentials.remove(&mechanism).ok_or_else(missing)?;
            if credentials.is_empty() {
                users.remove(user);
            }
            Ok(())
        })
    }

    /// Removes a user entirely; whether there was one.
    pub fn remove_user(&self, user: &str) -> Result<bool, AuthError> {
        self.update(|users| Ok(users.remove(user).is_some()))
    }

    /// Every user with the mechanisms and iterations of their credentials.
    pub fn describe(&self) -> BTreeMap<String, Vec<(ScramMechanism, u32)>> {
        self.users
            .read()
            .iter()
            .map(|(user, creds)| {
                let list = creds.iter().map(|(m, c)| (*m, c.iterations)).collect();
                (user.clone(), list)
            })
            .collect()
    }

    /// Whether any user exists.
    pub fn is_empty(&self) -> bool {
        self.users.read().is_empty()
    }

    /// `user`'s credential for `mechanism`.
    pub fn credential(&self, user: &str, mechanism: ScramMechanism) -> Option<ScramCredential> {
        self.users.read().get(user)?.get(&mechanism).cloned()
    }

    /// Whether `password` is `user`'s (PLAIN): checked against the user's SCRAM-SHA-512
    /// credential, or SCRAM-SHA-256 when that is the only one.
    pub fn check_password(&self, user: &str, password: &[u8]) -> bool {
        let users = self.users.read();
        let Some(creds) = users.get(user) else {
            return false;
        };
        let best = creds
            .get_key_value(&ScramMechanism::Sha512)
            .or_else(|| creds.get_key_value(&ScramMechanism::Sha256));
        best.is_some_and(|(mechanism, c)| c.matches(*mechanism, password))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_check_out_across_reopen_and_changes() {
        let dir = tempfile::tempdir().unwrap();
        let store = CredentialStore::open(dir.path()).unwrap();
        assert!(store.is_empty());
        store
            .set_password("alice", ScramMechanism::Sha512, b"s3cret", 4096)
            .unwrap();
        store
            .set_password("bob", ScramMechanism::Sha256, b"hunter2", 8192)
            .unwrap();
        let store = CredentialStore::open(dir.path()).unwrap();
        assert!(store.check_password("alice", b"s3cret"));
        assert!(!store.check_password("alice", b"s3cret "));
        assert!(store.check_password("bob", b"hunter2"));
        assert!(!store.check_password("carol", b"hunter2"));
        assert_eq!(
            store.describe()["bob"],
            vec![(ScramMechanism::Sha256, 8192)]
        );
        assert!(matches!(
            store.set_password("bob", ScramMechanism::Sha256, b"x", 100),
            Err(AuthError::InvalidCredential(_))
        ));
        store.delete("bob", ScramMechanism::Sha256).unwrap();
        assert!(!store.check_password("bob", b"hunter2"));
        assert!(matches!(
            store.delete("bob", ScramMechanism::Sha256),
            Err(AuthError::NoCredential { .. })
        ));
        assert!(store.remove_user("alice").unwrap());
        assert!(CredentialStore::open(dir.path()).unwrap().is_empty());
        // Nothing secret is stored in the clear.
        let text = std::fs::read_to_string(dir.path().join("users.json")).unwrap();
        assert!(!text.contains("s3cret") && !text.contains("hunter2"));
    }

    #[test]
    fn a_salted_upsert_equals_a_password_set() {
        let dir = tempfile::tempdir().unwrap();
        let store = CredentialStore::open(dir.path()).unwrap();
        let salt = b"0123456789abcdef";
        for m in ScramMechanism::ALL {
            let salted = m.salt_password(b"pw", salt, 4096);
            store.upsert_salted("u", m, salt, &salted, 4096).unwrap();
        }
        assert!(store.check_password("u", b"pw"));
        store.delete("u", ScramMechanism::Sha512).unwrap();
        assert!(store.check_password("u", b"pw"));
    }

    #[test]
    fn an_unparseable_store_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("users.json"), b"{\"users\": [").unwrap();
        assert!(matches!(
            CredentialStore::open(dir.path()),
            Err(AuthError::Store { .. })
        ));
    }
}
