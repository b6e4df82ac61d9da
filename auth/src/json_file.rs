//! The JSON files of the security layer in `<data-dir>/meta` (users, ACLs, tokens): read as a
//! whole, written atomically and durably, every failure an [`AuthError::Store`] naming the file.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::AuthError;

/// An [`AuthError::Store`] for `path`.
pub(crate) fn store_error(path: &Path, source: std::io::Error) -> AuthError {
    AuthError::Store {
        path: path.display().to_string(),
        source,
    }
}

/// The file's contents; `None` if it does not exist. A file that does not parse is an error.
pub(crate) fn load<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, AuthError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| store_error(path, std::io::Error::other(e))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(store_error(path, e)),
    }
}

/// Replaces the file with `value` (its directory created if needed), durably.
pub(crate) fn save<T: Serialize>(path: &Path, value: &T) -> Result<(), AuthError> {
    if let Some(dir) = path.parent() {
        weir_storage::create_dir_durable(dir).map_err(|e| store_error(path, e))?;
    }
    let bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| store_error(path, std::io::Error::other(e)))?;
    weir_storage::write_atomic(path, &bytes).map_err(|e| store_error(path, e))
}

#[cfg(test)]
mod tests {
    use crate::{AclStore, CredentialStore, TokenStore};
    use proptest::prelude::*;

    /// What each store writes, for the mutations below to start from.
    fn valid_files(dir: &std::path::Path) -> Vec<(&'static str, Vec<u8>)> {
        let acls = AclStore::open(dir).unwrap();
        acls.add(&[crate::AclBinding {
            resource_type: crate::ResourceType::Topic,
            resource_name: "orders.".into(),
            pattern_type: crate::PatternType::Prefixed,
            principal: "User:alice".into(),
            host: "*".into(),
            operation: crate::Operation::Read,
            permission: crate::Permission::Allow,
        }])
        .unwrap();
        let users = CredentialStore::open(dir).unwrap();
        users
            .set_password("alice", crate::ScramMechanism::Sha256, b"pw", 4096)
            .unwrap();
        TokenStore::open(dir)
            .unwrap()
            .create(&crate::Principal::user("svc"), "t")
            .unwrap();
        ["acls.json", "users.json", "tokens.json"]
            .into_iter()
            .map(|f| (f, std::fs::read(dir.join(f)).unwrap()))
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Truncated, bit-flipped or overwritten security files: every store opens or reports
        /// an error naming the file; none panics.
        #[test]
        fn damaged_files_are_reported_never_panic(
            cut in 0usize..2000,
            flips in proptest::collection::vec((0usize..2000, any::<u8>()), 0..8),
            garbage in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let good = tempfile::tempdir().unwrap();
            for (name, mut bytes) in valid_files(good.path()) {
                bytes.truncate(cut.min(bytes.len()));
                for (at, bits) in &flips {
                    if !bytes.is_empty() {
                        let i = at % bytes.len();
                        bytes[i] ^= bits;
                    }
                }
                bytes.extend_from_slice(&garbage);
                let dir = tempfile::tempdir().unwrap();
                std::fs::write(dir.path().join(name), &bytes).unwrap();
                let outcome = match name {
                    "acls.json" => AclStore::open(dir.path()).map(|_| ()),
                    "users.json" => CredentialStore::open(dir.path()).map(|_| ()),
                    _ => TokenStore::open(dir.path()).map(|_| ()),
                };
                if let Err(e) = outcome {
                    prop_assert!(e.to_string().contains(name), "{e}");
                }
            }
        }
    }
}
