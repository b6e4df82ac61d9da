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
