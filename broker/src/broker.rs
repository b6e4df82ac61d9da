//! The broker's shared state: configuration, cluster identity, topics and producer ids.
//! One [`Broker`] is shared (`Arc`) by every connection and background task.

use std::sync::Arc;
use std::time::Duration;
use weir_auth::{
    AclStore, Authenticator, Authorizer, CredentialStore, LoginThrottle, ScramMechanism,
    TokenStore, DEFAULT_ITERATIONS,
};

use anyhow::Context;
use weir_tiering::{RemoteStore, Tiering, TieringConfig};

use crate::config::BrokerConfig;
use crate::groups::{GroupCoordinator, GroupLimits};
use crate::persist::write_atomic;
use crate::producer_ids::ProducerIdAllocator;
use crate::topics::TopicRegistry;

/// Everything a request handler may need.
pub struct Broker {
    /// Effective configuration.
    pub config: Arc<BrokerConfig>,
    /// Cluster id, generated once and persisted in `<data-dir>/meta/cluster-id`.
    pub cluster_id: String,
    /// All topics.
    pub topics: TopicRegistry,
    /// Producer id allocation.
    pub producer_ids: ProducerIdAllocator,
    /// Consumer groups and committed offsets.
    pub groups: Arc<GroupCoordinator>,
    /// Tiering of closed segments to the object store.
    pub tiering: Arc<Tiering>,
    /// The users (salted SCRAM credentials in `<data-dir>/meta/users.json`).
    pub credentials: Arc<CredentialStore>,
    /// SASL exchanges against `credentials`, with the enabled mechanisms.
    pub authenticator: Authenticator,
    /// Who may do what: the ACLs of `<data-dir>/meta/acls.json`, when enforced.
    pub authorizer: Arc<Authorizer>,
    /// Bearer tokens of the HTTP admin API (`<data-dir>/meta/tokens.json`).
    pub tokens: TokenStore,
    /// Failed authentications per client address (SASL and HTTP alike).
    pub login_throttle: Arc<LoginThrottle>,
}

impl Broker {
    /// Opens (or initialises) the data directory and recovers every topic.
    pub fn open(config: BrokerConfig) -> anyhow::Result<Broker> {
        let config = Arc::new(config);
        // Stored batches are decoded (table replay, timestamp lookups, tiering) with the same
        // decompression cap that let them in.
        weir_protocol::records::allow_stored_batch_size(config.batch_max_decompressed_bytes);
        let meta = config.data_dir.join("meta");
        weir_storage::create_dir_durable(&meta)?;
        let id_path = meta.join("cluster-id");
        let cluster_id = match std::fs::read_to_string(&id_path) {
            Ok(id) if !id.trim().is_empty() => id.trim().to_string(),
            _ => {
                let id = new_cluster_id();
                write_atomic(&id_path, id.as_bytes())?;
                id
            }
        };
        let limits = GroupLimits {
            min_session_timeout_ms: config.group_min_session_timeout_ms,
            max_session_timeout_ms: config.group_max_session_timeout_ms,
            offsets_retention_ms: config.offsets_retention_minutes.saturating_mul(60_000),
        };
        let remote = RemoteStore::open(&config.object_store)
            .with_context(|| format!("cannot open object store {}", config.object_store))?;
        let tiering = Tiering::new(
            remote,
            TieringConfig {
                upload_concurrency: config.tiering_upload_concurrency,
                interval: Duration::from_millis(config.maintenance_interval_ms),
                cache_bytes: config.tiering_cache_bytes,
                spool_dir: config.data_dir.join("tiering-spool"),
                max_backoff: Duration::from_secs(30),
            },
        )?;
        let credentials = Arc::new(CredentialStore::open(&meta)?);
        if let Some((user, password)) = &config.admin_bootstrap {
            if credentials.describe().contains_key(user) {
                tracing::debug!(%user, "WEIR_ADMIN_USER already exists; left as it is");
            } else {
                for mechanism in ScramMechanism::ALL {
                    credentials.set_password(
                        user,
                        mechanism,
                        password.as_bytes(),
                        DEFAULT_ITERATIONS,
                    )?;
                }
                tracing::info!(target: "weir::audit", %user, "created the first user from WEIR_ADMIN_USER");
            }
        }
        let login_throttle = Arc::new(LoginThrottle::new(
            config.max_failed_authentications_per_ip,
            Duration::from_secs(60),
        ));
        let authenticator = Authenticator::new(
            credentials.clone(),
            &config.sasl_enabled_mechanisms,
            login_throttle.clone(),
        )?;
        let authorizer = Arc::new(Authorizer::new(
            config.authorizer.clone(),
            AclStore::open(&meta)?,
        ));
        Ok(Broker {
            tokens: TokenStore::open(&meta)?,
            login_throttle,
            authorizer,
            credentials,
            authenticator,
            topics: TopicRegistry::open(config.clone(), tiering.clone())?,
            tiering,
            groups: Arc::new(GroupCoordinator::open(&meta, limits)?),
            producer_ids: ProducerIdAllocator::open(meta)?,
            cluster_id,
            config,
        })
    }
}

/// Kafka cluster ids are 16 random bytes in URL-safe base64 without padding (22 characters).
fn new_cluster_id() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes())
}
