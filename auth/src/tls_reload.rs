//! [`ServerTls`]: a listener's TLS configuration that can be reloaded while the broker runs —
//! on SIGHUP, or when the certificate, key or trust store file changes. New connections use
//! the new files; open ones keep the configuration they started with. Files that do not load
//! keep the previous configuration in place (and the error is returned to log).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::{Mutex, RwLock};
use rustls::ServerConfig;

use crate::error::AuthError;
use crate::tls::TlsSettings;

/// The modification times of the files, as last loaded.
type Stamps = Vec<Option<SystemTime>>;

/// A reloadable server TLS configuration.
#[derive(Debug)]
pub struct ServerTls {
    settings: TlsSettings,
    current: RwLock<Arc<ServerConfig>>,
    loaded: Mutex<Stamps>,
}

impl ServerTls {
    /// Loads `settings` (an error if the files do not load now).
    pub fn load(settings: TlsSettings) -> Result<ServerTls, AuthError> {
        let stamps = stamps(&settings);
        let config = settings.server_config()?;
        Ok(ServerTls {
            settings,
            current: RwLock::new(config),
            loaded: Mutex::new(stamps),
        })
    }

    /// The configuration for a new connection.
    pub fn current(&self) -> Arc<ServerConfig> {
        self.current.read().clone()
    }

    /// Loads the files again and, if they load, uses them for new connections.
    pub fn reload(&self) -> Result<(), AuthError> {
        let stamps = stamps(&self.settings);
        let config = self.settings.server_config();
        // Remember the stamps even on failure: a broken file is reported once, not every poll.
        *self.loaded.lock() = stamps;
        *self.current.write() = config?;
        Ok(())
    }

    /// Reloads if a file changed since the last load; `Ok(true)` when it did.
    pub fn reload_if_changed(&self) -> Result<bool, AuthError> {
        if stamps(&self.settings) == *self.loaded.lock() {
            return Ok(false);
        }
        self.reload().map(|()| true)
    }
}

fn files(settings: &TlsSettings) -> Vec<PathBuf> {
    let mut files = vec![
        settings.certificate_chain.clone(),
        settings.private_key.clone(),
    ];
    files.extend(settings.truststore.clone());
    files
}

fn stamps(settings: &TlsSettings) -> Stamps {
    files(settings)
        .iter()
        .map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok())
        .collect()
}
