//! Broker configuration: `weir serve` flags, `WEIR_*` environment variables and a TOML file.
//!
//! Every setting is one field of [`ServeArgs`]. clap fills it from the command line or the
//! environment; the TOML file (`--config`) fills whatever those left unset; [`BrokerConfig`]
//! applies the embedded defaults to the rest. TOML keys are the field names
//! (`data_dir = "…"`, `num_partitions = 3`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use serde::Deserialize;

/// Settings of `weir serve`; every one is optional so the three sources can be layered.
#[derive(Args, Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeArgs {
    /// TOML file with any of these settings (keys are the long flag names with `_`).
    #[arg(long, env = "WEIR_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Directory for all data (topics, metadata). Default: ./weir-data
    #[arg(long, env = "WEIR_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Kafka listener address. Default: 127.0.0.1:9092
    #[arg(long, env = "WEIR_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// host:port advertised to clients in Metadata. Default: the listen address.
    #[arg(long, env = "WEIR_ADVERTISED")]
    pub advertised: Option<String>,
    /// HTTP admin listener (/metrics, /health, /ready). Default: 127.0.0.1:9644
    #[arg(long, env = "WEIR_HTTP")]
    pub http: Option<SocketAddr>,
    /// Node id reported to clients. Default: 1
    #[arg(long, env = "WEIR_NODE_ID")]
    pub node_id: Option<i32>,
    /// Log output format: text or json. Default: text
    #[arg(long, env = "WEIR_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// auto.create.topics.enable: create unknown topics on Metadata requests. Default: true
    #[arg(long, env = "WEIR_AUTO_CREATE_TOPICS_ENABLE")]
    pub auto_create_topics_enable: Option<bool>,
    /// num.partitions: partitions of auto-created topics and of CreateTopics with -1. Default: 1
    #[arg(long, env = "WEIR_NUM_PARTITIONS")]
    pub num_partitions: Option<i32>,
    /// socket.request.max.bytes: largest request frame accepted. Default: 104857600
    #[arg(long, env = "WEIR_SOCKET_REQUEST_MAX_BYTES")]
    pub socket_request_max_bytes: Option<usize>,
    /// write.caching default for topics: true acknowledges acks=all after the OS write
    /// (flushed per flush.ms/flush.messages) instead of after fsync. Default: false
    #[arg(long, env = "WEIR_WRITE_CACHING")]
    pub write_caching: Option<bool>,
    /// log.segment.bytes: default segment.bytes of topics. Default: 1073741824
    #[arg(long, env = "WEIR_LOG_SEGMENT_BYTES")]
    pub log_segment_bytes: Option<u64>,
    /// log.roll.ms: default segment.ms of topics. Default: 604800000
    #[arg(long, env = "WEIR_LOG_ROLL_MS")]
    pub log_roll_ms: Option<i64>,
    /// log.retention.ms: default retention.ms of topics (-1 = forever). Default: 604800000
    #[arg(long, env = "WEIR_LOG_RETENTION_MS")]
    pub log_retention_ms: Option<i64>,
    /// log.retention.bytes: default retention.bytes of topics (-1 = unlimited). Default: -1
    #[arg(long, env = "WEIR_LOG_RETENTION_BYTES")]
    pub log_retention_bytes: Option<i64>,
    /// message.max.bytes: default max.message.bytes of topics. Default: 1048588
    #[arg(long, env = "WEIR_MESSAGE_MAX_BYTES")]
    pub message_max_bytes: Option<i32>,
    /// How often retention, segment.ms and flush.ms are checked, in ms. Default: 1000
    #[arg(long, env = "WEIR_MAINTENANCE_INTERVAL_MS")]
    pub maintenance_interval_ms: Option<u64>,
    /// group.min.session.timeout.ms: shortest session timeout a group member may ask for. Default: 6000
    #[arg(long, env = "WEIR_GROUP_MIN_SESSION_TIMEOUT_MS")]
    pub group_min_session_timeout_ms: Option<i32>,
    /// group.max.session.timeout.ms: longest session timeout a group member may ask for. Default: 1800000
    #[arg(long, env = "WEIR_GROUP_MAX_SESSION_TIMEOUT_MS")]
    pub group_max_session_timeout_ms: Option<i32>,
    /// offsets.retention.minutes: committed offsets of an empty group expire after this. Default: 10080
    #[arg(long, env = "WEIR_OFFSETS_RETENTION_MINUTES")]
    pub offsets_retention_minutes: Option<i64>,
    /// Object store closed segments are tiered to: file:///dir, s3://bucket/prefix (AWS_*
    /// environment: AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION,
    /// AWS_ALLOW_HTTP) or memory://. Default: file://<data-dir>/remote
    #[arg(long, env = "WEIR_OBJECT_STORE")]
    pub object_store: Option<String>,
    /// remote.storage.enable default of new topics (tier closed segments). Default: true
    #[arg(long, env = "WEIR_REMOTE_STORAGE_ENABLE")]
    pub remote_storage_enable: Option<bool>,
    /// Segments uploaded to the object store at once. Default: 2
    #[arg(long, env = "WEIR_TIERING_UPLOAD_CONCURRENCY")]
    pub tiering_upload_concurrency: Option<usize>,
    /// Bytes of tiered data kept in memory for remote reads. Default: 67108864
    #[arg(long, env = "WEIR_TIERING_CACHE_BYTES")]
    pub tiering_cache_bytes: Option<usize>,
    /// max.connections: Kafka connections open at once; further connections are closed at accept. Default: 10000
    #[arg(long, env = "WEIR_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// max.connections.per.ip: Kafka connections open at once from one IP address. Default: 1000
    #[arg(long, env = "WEIR_MAX_CONNECTIONS_PER_IP")]
    pub max_connections_per_ip: Option<usize>,
    /// connections.max.idle.ms: a Kafka connection with no request in flight and nothing received for this long is closed. Default: 600000
    #[arg(long, env = "WEIR_CONNECTIONS_MAX_IDLE_MS")]
    pub connections_max_idle_ms: Option<u64>,
    /// queued.max.requests: requests of one connection decoded and awaiting their responses; reading stops at the limit. Default: 500
    #[arg(long, env = "WEIR_QUEUED_MAX_REQUESTS")]
    pub queued_max_requests: Option<usize>,
    /// Bytes of responses one connection may have pending (each fetch counts its byte budget); reading stops at the limit (backpressure). Default: 67108864
    #[arg(long, env = "WEIR_QUEUED_MAX_RESPONSE_BYTES")]
    pub queued_max_response_bytes: Option<usize>,
    /// fetch.max.bytes: the most bytes any fetch response carries, whatever the client asks. Default: 57671680
    #[arg(long, env = "WEIR_FETCH_MAX_BYTES")]
    pub fetch_max_bytes: Option<i32>,
    /// Largest decompressed size of one produced record batch; a larger one is refused with CORRUPT_MESSAGE, decompression stops at the cap. Default: 67108864
    #[arg(long, env = "WEIR_BATCH_MAX_DECOMPRESSED_BYTES")]
    pub batch_max_decompressed_bytes: Option<usize>,
    /// max.partitions: partitions the broker holds in total (changelogs included); more is refused with POLICY_VIOLATION. Default: 10000
    #[arg(long, env = "WEIR_MAX_PARTITIONS")]
    pub max_partitions: Option<usize>,
    /// Partitions one CreateTopics/CreatePartitions request may create; more is refused with INVALID_PARTITIONS. Default: 5000
    #[arg(long, env = "WEIR_MAX_PARTITIONS_PER_REQUEST")]
    pub max_partitions_per_request: Option<usize>,
    /// producer.id.expiration.ms: idempotent producer state unused for this long is forgotten. Default: 86400000
    #[arg(long, env = "WEIR_PRODUCER_ID_EXPIRATION_MS")]
    pub producer_id_expiration_ms: Option<i64>,
    /// HTTP admin requests served at once; more wait. Default: 256
    #[arg(long, env = "WEIR_HTTP_MAX_CONNECTIONS")]
    pub http_max_connections: Option<usize>,
    /// HTTP admin: a request whose headers have not all arrived after this long is dropped. Default: 10000
    #[arg(long, env = "WEIR_HTTP_HEADER_READ_TIMEOUT_MS")]
    pub http_header_read_timeout_ms: Option<u64>,
    /// HTTP admin: largest request body accepted (413 beyond). Default: 16777216
    #[arg(long, env = "WEIR_HTTP_MAX_BODY_BYTES")]
    pub http_max_body_bytes: Option<usize>,
    /// HTTP admin: most keys in one batch lookup (400 beyond). Default: 10000
    #[arg(long, env = "WEIR_HTTP_MAX_LOOKUP_KEYS")]
    pub http_max_lookup_keys: Option<usize>,
    /// listeners: `NAME://host:port,…` (names PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL, or
    /// mapped by listener_security_protocol_map). Default: PLAINTEXT on --listen
    #[arg(long, env = "WEIR_LISTENERS")]
    pub listeners: Option<String>,
    /// advertised.listeners: `NAME://host:port,…`, what Metadata gives clients of each
    /// listener. Default: where each listener binds
    #[arg(long, env = "WEIR_ADVERTISED_LISTENERS")]
    pub advertised_listeners: Option<String>,
    /// listener.security.protocol.map: `NAME:PROTOCOL,…`. Default: each protocol name maps
    /// to itself
    #[arg(long, env = "WEIR_LISTENER_SECURITY_PROTOCOL_MAP")]
    pub listener_security_protocol_map: Option<String>,
    /// ssl.keystore.location: PEM file with the listener certificate chain (leaf first) and,
    /// unless --ssl-key-location is given, its private key
    #[arg(long, env = "WEIR_SSL_KEYSTORE_LOCATION")]
    pub ssl_keystore_location: Option<PathBuf>,
    /// PEM private key of the certificate. Default: read from --ssl-keystore-location
    #[arg(long, env = "WEIR_SSL_KEY_LOCATION")]
    pub ssl_key_location: Option<PathBuf>,
    /// ssl.truststore.location: PEM CA certificates client certificates must chain to
    #[arg(long, env = "WEIR_SSL_TRUSTSTORE_LOCATION")]
    pub ssl_truststore_location: Option<PathBuf>,
    /// ssl.client.auth: none, requested or required. Default: none
    #[arg(long, env = "WEIR_SSL_CLIENT_AUTH")]
    pub ssl_client_auth: Option<String>,
    /// sasl.enabled.mechanisms: comma-separated. Default: SCRAM-SHA-512,SCRAM-SHA-256,PLAIN
    #[arg(long, env = "WEIR_SASL_ENABLED_MECHANISMS")]
    pub sasl_enabled_mechanisms: Option<String>,
    /// connections.max.reauth.ms: a SASL session lasts this long before the client must
    /// re-authenticate (KIP-368); 0 = forever. Default: 0
    #[arg(long, env = "WEIR_CONNECTIONS_MAX_REAUTH_MS")]
    pub connections_max_reauth_ms: Option<i64>,
    /// A user created at start if it does not exist yet (with WEIR_ADMIN_PASSWORD; for
    /// containers — `weir user add` is the other way)
    #[arg(long, env = "WEIR_ADMIN_USER")]
    pub admin_user: Option<String>,
    /// Failed SASL authentications allowed per client address per minute; beyond, the
    /// address's attempts fail without a credential check until the minute ends. 0 = no
    /// limit. Default: 10
    #[arg(long, env = "WEIR_MAX_FAILED_AUTHENTICATIONS_PER_IP")]
    pub max_failed_authentications_per_ip: Option<u32>,
    /// Serve the HTTP admin API over TLS with the listener certificate
    /// (--ssl-keystore-location; reloaded with it). Default: false
    #[arg(long, env = "WEIR_HTTP_TLS")]
    pub http_tls: Option<bool>,
    /// Whether /health, /ready and /metrics answer unauthenticated HTTP callers. Default: true
    /// when --http binds a loopback address, false otherwise
    #[arg(long, env = "WEIR_HTTP_PROBES_OPEN")]
    pub http_probes_open: Option<bool>,
    /// authorizer.class.name: `acl` enforces Kafka ACLs on every API; `none` allows every
    /// request (Kafka's class names StandardAuthorizer and AclAuthorizer mean `acl`).
    /// Default: none
    #[arg(long, env = "WEIR_AUTHORIZER")]
    pub authorizer: Option<String>,
    /// super.users: principals allowed everything, `;`-separated (`User:admin;User:ops`)
    #[arg(long, env = "WEIR_SUPER_USERS")]
    pub super_users: Option<String>,
    /// allow.everyone.if.no.acl.found: allow a request on a resource no ACL covers.
    /// Default: false
    #[arg(long, env = "WEIR_ALLOW_EVERYONE_IF_NO_ACL_FOUND")]
    pub allow_everyone_if_no_acl_found: Option<bool>,
    /// The password of WEIR_ADMIN_USER (environment only)
    #[arg(skip)]
    #[serde(skip)]
    pub admin_password: Option<String>,
}

/// Log output format.
#[derive(clap::ValueEnum, Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The effective broker configuration, every default applied.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub advertised_host: String,
    pub advertised_port: i32,
    pub http: SocketAddr,
    pub node_id: i32,
    pub log_format: LogFormat,
    pub auto_create_topics_enable: bool,
    pub num_partitions: i32,
    pub socket_request_max_bytes: usize,
    pub write_caching: bool,
    pub log_segment_bytes: u64,
    pub log_roll_ms: i64,
    pub log_retention_ms: i64,
    pub log_retention_bytes: i64,
    pub message_max_bytes: i32,
    pub maintenance_interval_ms: u64,
    pub group_min_session_timeout_ms: i32,
    pub group_max_session_timeout_ms: i32,
    pub offsets_retention_minutes: i64,
    pub object_store: String,
    pub remote_storage_enable: bool,
    pub tiering_upload_concurrency: usize,
    pub tiering_cache_bytes: usize,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub connections_max_idle_ms: u64,
    pub queued_max_requests: usize,
    pub queued_max_response_bytes: usize,
    pub fetch_max_bytes: i32,
    pub batch_max_decompressed_bytes: usize,
    pub max_partitions: usize,
    pub max_partitions_per_request: usize,
    pub producer_id_expiration_ms: i64,
    pub http_max_connections: usize,
    pub http_header_read_timeout_ms: u64,
    pub http_max_body_bytes: usize,
    pub http_max_lookup_keys: usize,
    /// Every listener (the first is `listen`/`advertised_*`).
    pub listeners: Vec<crate::listeners::Listener>,
    /// TLS of the SSL and SASL_SSL listeners.
    pub tls: Option<weir_auth::TlsSettings>,
    pub sasl_enabled_mechanisms: Vec<String>,
    pub connections_max_reauth_ms: i64,
    /// `WEIR_ADMIN_USER` and `WEIR_ADMIN_PASSWORD`: a user to create at start if missing.
    pub admin_bootstrap: Option<(String, String)>,
    /// Whether and how ACLs are enforced.
    pub authorizer: weir_auth::AuthorizerSettings,
    pub max_failed_authentications_per_ip: u32,
    pub http_probes_open: bool,
    pub http_tls: bool,
}

impl ServeArgs {
    /// Fills every unset field from `other`.
    fn or(self, other: ServeArgs) -> ServeArgs {
        ServeArgs {
            config: self.config.or(other.config),
            data_dir: self.data_dir.or(other.data_dir),
            listen: self.listen.or(other.listen),
            advertised: self.advertised.or(other.advertised),
            http: self.http.or(other.http),
            node_id: self.node_id.or(other.node_id),
            log_format: self.log_format.or(other.log_format),
            auto_create_topics_enable: self
                .auto_create_topics_enable
                .or(other.auto_create_topics_enable),
            num_partitions: self.num_partitions.or(other.num_partitions),
            socket_request_max_bytes: self
                .socket_request_max_bytes
                .or(other.socket_request_max_bytes),
            write_caching: self.write_caching.or(other.write_caching),
            log_segment_bytes: self.log_segment_bytes.or(other.log_segment_bytes),
            log_roll_ms: self.log_roll_ms.or(other.log_roll_ms),
            log_retention_ms: self.log_retention_ms.or(other.log_retention_ms),
            log_retention_bytes: self.log_retention_bytes.or(other.log_retention_bytes),
            message_max_bytes: self.message_max_bytes.or(other.message_max_bytes),
            maintenance_interval_ms: self
                .maintenance_interval_ms
                .or(other.maintenance_interval_ms),
            group_min_session_timeout_ms: self
                .group_min_session_timeout_ms
                .or(other.group_min_session_timeout_ms),
            group_max_session_timeout_ms: self
                .group_max_session_timeout_ms
                .or(other.group_max_session_timeout_ms),
            offsets_retention_minutes: self
                .offsets_retention_minutes
                .or(other.offsets_retention_minutes),
            object_store: self.object_store.or(other.object_store),
            remote_storage_enable: self.remote_storage_enable.or(other.remote_storage_enable),
            tiering_upload_concurrency: self
                .tiering_upload_concurrency
                .or(other.tiering_upload_concurrency),
            tiering_cache_bytes: self.tiering_cache_bytes.or(other.tiering_cache_bytes),
            max_connections: self.max_connections.or(other.max_connections),
            max_connections_per_ip: self.max_connections_per_ip.or(other.max_connections_per_ip),
            connections_max_idle_ms: self
                .connections_max_idle_ms
                .or(other.connections_max_idle_ms),
            queued_max_requests: self.queued_max_requests.or(other.queued_max_requests),
            queued_max_response_bytes: self
                .queued_max_response_bytes
                .or(other.queued_max_response_bytes),
            fetch_max_bytes: self.fetch_max_bytes.or(other.fetch_max_bytes),
            batch_max_decompressed_bytes: self
                .batch_max_decompressed_bytes
                .or(other.batch_max_decompressed_bytes),
            max_partitions: self.max_partitions.or(other.max_partitions),
            max_partitions_per_request: self
                .max_partitions_per_request
                .or(other.max_partitions_per_request),
            producer_id_expiration_ms: self
                .producer_id_expiration_ms
                .or(other.producer_id_expiration_ms),
            http_max_connections: self.http_max_connections.or(other.http_max_connections),
            http_header_read_timeout_ms: self
                .http_header_read_timeout_ms
                .or(other.http_header_read_timeout_ms),
            http_max_body_bytes: self.http_max_body_bytes.or(other.http_max_body_bytes),
            http_max_lookup_keys: self.http_max_lookup_keys.or(other.http_max_lookup_keys),
            listeners: self.listeners.or(other.listeners),
            advertised_listeners: self.advertised_listeners.or(other.advertised_listeners),
            listener_security_protocol_map: self
                .listener_security_protocol_map
                .or(other.listener_security_protocol_map),
            ssl_keystore_location: self.ssl_keystore_location.or(other.ssl_keystore_location),
            ssl_key_location: self.ssl_key_location.or(other.ssl_key_location),
            ssl_truststore_location: self
                .ssl_truststore_location
                .or(other.ssl_truststore_location),
            ssl_client_auth: self.ssl_client_auth.or(other.ssl_client_auth),
            sasl_enabled_mechanisms: self
                .sasl_enabled_mechanisms
                .or(other.sasl_enabled_mechanisms),
            connections_max_reauth_ms: self
                .connections_max_reauth_ms
                .or(other.connections_max_reauth_ms),
            admin_user: self.admin_user.or(other.admin_user),
            authorizer: self.authorizer.or(other.authorizer),
            http_probes_open: self.http_probes_open.or(other.http_probes_open),
            http_tls: self.http_tls.or(other.http_tls),
            max_failed_authentications_per_ip: self
                .max_failed_authentications_per_ip
                .or(other.max_failed_authentications_per_ip),
            super_users: self.super_users.or(other.super_users),
            allow_everyone_if_no_acl_found: self
                .allow_everyone_if_no_acl_found
                .or(other.allow_everyone_if_no_acl_found),
            admin_password: self.admin_password.or(other.admin_password),
        }
    }
}

/// `authorizer`, `super_users` and `allow_everyone_if_no_acl_found`, checked.
fn authorizer_settings(args: &ServeArgs) -> anyhow::Result<weir_auth::AuthorizerSettings> {
    let enabled = match args.authorizer.as_deref().map(str::trim) {
        None | Some("") | Some("none") => false,
        Some("acl")
        | Some("org.apache.kafka.metadata.authorizer.StandardAuthorizer")
        | Some("kafka.security.authorizer.AclAuthorizer") => true,
        Some(other) => anyhow::bail!("authorizer: {other:?} is not one of none, acl"),
    };
    let super_users: Vec<String> = args
        .super_users
        .as_deref()
        .unwrap_or("")
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if let Some(bad) = super_users
        .iter()
        .find(|s| !matches!(s.split_once(':'), Some((k, n)) if !k.is_empty() && !n.is_empty()))
    {
        anyhow::bail!("super_users: {bad:?} is not a principal of the form User:name");
    }
    Ok(weir_auth::AuthorizerSettings {
        enabled,
        super_users,
        allow_everyone_if_no_acl_found: args.allow_everyone_if_no_acl_found.unwrap_or(false),
    })
}

fn read_toml(path: &Path) -> anyhow::Result<ServeArgs> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
}

impl BrokerConfig {
    /// Layers flags/environment over the TOML file over the defaults, and validates.
    pub fn resolve(args: ServeArgs) -> anyhow::Result<BrokerConfig> {
        let args = match args.config.clone() {
            Some(path) => args.or(read_toml(&path)?),
            None => args,
        };
        let authorizer = authorizer_settings(&args)?;
        let http = args
            .http
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9644)));
        let listen = args
            .listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9092)));
        let advertised = args.advertised.unwrap_or_else(|| listen.to_string());
        let (host, port) = advertised
            .rsplit_once(':')
            .with_context(|| format!("--advertised {advertised:?} must be host:port"))?;
        let advertised_port: i32 = port
            .parse()
            .with_context(|| format!("--advertised {advertised:?}: bad port"))?;
        let host = host.trim_matches(['[', ']']).to_string();
        let listeners = crate::listeners::resolve(
            args.listeners.as_deref(),
            args.advertised_listeners.as_deref(),
            args.listener_security_protocol_map.as_deref(),
            listen,
            (host, advertised_port),
        )?;
        let first = listeners[0].clone();
        let tls = match &args.ssl_keystore_location {
            Some(keystore) => Some(weir_auth::TlsSettings {
                certificate_chain: keystore.clone(),
                private_key: args
                    .ssl_key_location
                    .clone()
                    .unwrap_or_else(|| keystore.clone()),
                client_auth: args
                    .ssl_client_auth
                    .as_deref()
                    .unwrap_or("none")
                    .parse()
                    .map_err(anyhow::Error::msg)?,
                truststore: args.ssl_truststore_location.clone(),
            }),
            None => None,
        };
        anyhow::ensure!(
            tls.is_some() || listeners.iter().all(|l| !l.protocol.tls()),
            "an SSL or SASL_SSL listener needs ssl_keystore_location"
        );
        let sasl_enabled_mechanisms: Vec<String> = args
            .sasl_enabled_mechanisms
            .as_deref()
            .unwrap_or("SCRAM-SHA-512,SCRAM-SHA-256,PLAIN")
            .split(',')
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty())
            .collect();
        if let Some(unknown) = sasl_enabled_mechanisms
            .iter()
            .find(|m| !weir_auth::SASL_MECHANISMS.contains(&m.as_str()))
        {
            anyhow::bail!(
                "sasl_enabled_mechanisms: {unknown} is not one of {:?}",
                weir_auth::SASL_MECHANISMS
            );
        }
        let admin_password = args
            .admin_password
            .clone()
            .or_else(|| std::env::var("WEIR_ADMIN_PASSWORD").ok());
        let admin_bootstrap = match (&args.admin_user, admin_password) {
            (Some(user), Some(password)) if !user.is_empty() && !password.is_empty() => {
                Some((user.clone(), password))
            }
            (Some(_), _) => anyhow::bail!("WEIR_ADMIN_USER needs WEIR_ADMIN_PASSWORD"),
            (None, _) => None,
        };
        let connections_max_reauth_ms = args.connections_max_reauth_ms.unwrap_or(0);
        anyhow::ensure!(
            connections_max_reauth_ms >= 0,
            "connections_max_reauth_ms must not be negative"
        );
        let num_partitions = args.num_partitions.unwrap_or(1);
        anyhow::ensure!(num_partitions >= 1, "num_partitions must be at least 1");
        let message_max_bytes = args.message_max_bytes.unwrap_or(1_048_588);
        anyhow::ensure!(message_max_bytes > 0, "message_max_bytes must be positive");
        let log_segment_bytes = args.log_segment_bytes.unwrap_or(1 << 30);
        anyhow::ensure!(
            log_segment_bytes >= 14,
            "log_segment_bytes must be at least 14"
        );
        let data_dir = args.data_dir.unwrap_or_else(|| PathBuf::from("weir-data"));
        let tiering_upload_concurrency = args.tiering_upload_concurrency.unwrap_or(2);
        anyhow::ensure!(
            tiering_upload_concurrency >= 1,
            "tiering_upload_concurrency must be at least 1"
        );
        for (name, value) in [
            ("max_connections", args.max_connections),
            ("max_connections_per_ip", args.max_connections_per_ip),
            ("queued_max_requests", args.queued_max_requests),
            ("queued_max_response_bytes", args.queued_max_response_bytes),
            (
                "batch_max_decompressed_bytes",
                args.batch_max_decompressed_bytes,
            ),
            ("max_partitions", args.max_partitions),
            (
                "max_partitions_per_request",
                args.max_partitions_per_request,
            ),
            ("http_max_connections", args.http_max_connections),
            ("http_max_body_bytes", args.http_max_body_bytes),
            ("http_max_lookup_keys", args.http_max_lookup_keys),
        ] {
            anyhow::ensure!(value != Some(0), "{name} must be at least 1");
        }
        anyhow::ensure!(
            args.fetch_max_bytes.is_none_or(|b| b > 0),
            "fetch_max_bytes must be positive"
        );
        Ok(BrokerConfig {
            object_store: args
                .object_store
                .unwrap_or_else(|| weir_tiering::RemoteStore::default_url(&data_dir)),
            remote_storage_enable: args.remote_storage_enable.unwrap_or(true),
            tiering_upload_concurrency,
            tiering_cache_bytes: args.tiering_cache_bytes.unwrap_or(64 << 20),
            data_dir,
            listen: first.bind,
            advertised_host: first.advertised_host,
            advertised_port: first.advertised_port,
            listeners,
            tls,
            sasl_enabled_mechanisms,
            connections_max_reauth_ms,
            admin_bootstrap,
            authorizer,
            max_failed_authentications_per_ip: args.max_failed_authentications_per_ip.unwrap_or(10),
            http,
            http_probes_open: args.http_probes_open.unwrap_or(http.ip().is_loopback()),
            http_tls: args.http_tls.unwrap_or(false),
            node_id: args.node_id.unwrap_or(1),
            log_format: args.log_format.unwrap_or_default(),
            auto_create_topics_enable: args.auto_create_topics_enable.unwrap_or(true),
            num_partitions,
            socket_request_max_bytes: args
                .socket_request_max_bytes
                .unwrap_or(weir_protocol::frame::DEFAULT_MAX_REQUEST_BYTES),
            write_caching: args.write_caching.unwrap_or(false),
            log_segment_bytes,
            log_roll_ms: args.log_roll_ms.unwrap_or(604_800_000),
            log_retention_ms: args.log_retention_ms.unwrap_or(604_800_000),
            log_retention_bytes: args.log_retention_bytes.unwrap_or(-1),
            message_max_bytes,
            maintenance_interval_ms: args.maintenance_interval_ms.unwrap_or(1000).max(10),
            group_min_session_timeout_ms: args.group_min_session_timeout_ms.unwrap_or(6000),
            group_max_session_timeout_ms: args.group_max_session_timeout_ms.unwrap_or(1_800_000),
            offsets_retention_minutes: args.offsets_retention_minutes.unwrap_or(10080),
            max_connections: args.max_connections.unwrap_or(10_000),
            max_connections_per_ip: args.max_connections_per_ip.unwrap_or(1_000),
            connections_max_idle_ms: args.connections_max_idle_ms.unwrap_or(600_000),
            queued_max_requests: args.queued_max_requests.unwrap_or(500),
            queued_max_response_bytes: args.queued_max_response_bytes.unwrap_or(64 << 20),
            fetch_max_bytes: args.fetch_max_bytes.unwrap_or(57_671_680),
            batch_max_decompressed_bytes: args.batch_max_decompressed_bytes.unwrap_or(64 << 20),
            max_partitions: args.max_partitions.unwrap_or(10_000),
            max_partitions_per_request: args.max_partitions_per_request.unwrap_or(5_000),
            producer_id_expiration_ms: args.producer_id_expiration_ms.unwrap_or(86_400_000),
            http_max_connections: args.http_max_connections.unwrap_or(256),
            http_header_read_timeout_ms: args.http_header_read_timeout_ms.unwrap_or(10_000),
            http_max_body_bytes: args.http_max_body_bytes.unwrap_or(16 << 20),
            http_max_lookup_keys: args.http_max_lookup_keys.unwrap_or(10_000),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_file_override_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("weir.toml");
        std::fs::write(
            &file,
            "num_partitions = 3\nlisten = \"127.0.0.1:9999\"\nwrite_caching = true\n",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(file),
            num_partitions: Some(5),
            ..Default::default()
        };
        let c = BrokerConfig::resolve(args).unwrap();
        assert_eq!(c.num_partitions, 5);
        assert_eq!(c.listen.port(), 9999);
        assert_eq!(c.advertised_port, 9999);
        assert!(c.write_caching);
        assert_eq!(c.http.port(), 9644);
        assert_eq!(c.data_dir, PathBuf::from("weir-data"));
    }

    #[test]
    fn unknown_toml_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("weir.toml");
        std::fs::write(&file, "num_partition = 3\n").unwrap();
        let args = ServeArgs {
            config: Some(file),
            ..Default::default()
        };
        assert!(BrokerConfig::resolve(args).is_err());
    }
}
