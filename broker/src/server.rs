//! The serving process: Kafka listeners, HTTP admin listener, housekeeping, and graceful
//! shutdown on SIGINT/SIGTERM (stop accepting, finish in-flight requests, flush, exit 0).
//!
//! Each Kafka listener has its accept loop; together they enforce `max.connections` and
//! `max.connections.per.ip` (`crate::limits`): a connection over either is closed right after
//! accept. On an SSL or SASL_SSL listener the TLS handshake runs in the connection's task
//! (bounded by [`TLS_HANDSHAKE_TIMEOUT`]), and a verified client certificate names the
//! session's principal.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::broker::Broker;
use crate::config::BrokerConfig;
use crate::limits::{ConnectionLimits, RateLimitedLog};
use crate::listeners::{Listener, SecurityProtocol};
use crate::metrics::{ConnectionMetrics, ConnectionRefusal};
use crate::session::Session;
use crate::{connection, handlers, http, metrics};
use tokio_rustls::TlsAcceptor;
use weir_auth::Principal;
use weir_auth::ServerTls;

/// How long a client has to complete the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long shutdown waits for in-flight requests before closing anyway.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// At most one "refusing connection" log line per this interval (the metric counts all).
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(1);

/// A started broker: its bound addresses and the handle that stops it.
pub struct Running {
    /// The bound address of the first Kafka listener.
    pub kafka_addr: SocketAddr,
    /// Every Kafka listener's name and bound address.
    pub listener_addrs: Vec<(String, SocketAddr)>,
    /// The bound HTTP admin address.
    pub http_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Stops accepting, finishes in-flight requests, flushes every partition, and returns.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        self.task.await?
    }
}

/// Opens the data directory, binds both listeners and starts serving in the background.
pub async fn start(config: BrokerConfig) -> anyhow::Result<Running> {
    let prometheus = metrics::install()?;
    // Registered now so the connection metrics read 0 before anything bites.
    let _ = ConnectionMetrics::get();
    let ready = Arc::new(AtomicBool::new(false));
    let (shutdown_tx, shutdown_rx) = watch::channel(false);

    // Loaded before anything binds: a certificate that does not load stops the start.
    let tls = match &config.tls {
        Some(settings) => Some(Arc::new(ServerTls::load(settings.clone())?)),
        None => None,
    };
    let http_tls = tls.clone().filter(|_| config.http_tls);
    anyhow::ensure!(
        !config.http_tls || http_tls.is_some(),
        "http_tls needs ssl_keystore_location"
    );
    let http_listener = TcpListener::bind(config.http)
        .await
        .with_context(|| format!("cannot bind HTTP listener {}", config.http))?;
    let http_addr = http_listener.local_addr()?;
    let broker_cell: crate::http_tables::BrokerCell = Arc::new(std::sync::OnceLock::new());
    let http_task = tokio::spawn(http::serve(
        http_listener,
        prometheus,
        ready.clone(),
        broker_cell.clone(),
        http::Limits::from_config(&config),
        http_tls,
        shutdown_rx.clone(),
    ));

    let data_dir = config.data_dir.clone();
    let broker = Arc::new(
        tokio::task::spawn_blocking(move || Broker::open(config))
            .await?
            .with_context(|| format!("cannot open data directory {}", data_dir.display()))?,
    );
    let mut sockets = Vec::new();
    let mut listener_addrs = Vec::new();
    for listener in &broker.config.listeners {
        let socket = TcpListener::bind(listener.bind).await.with_context(|| {
            format!(
                "cannot bind Kafka listener {} ({})",
                listener.name, listener.bind
            )
        })?;
        listener_addrs.push((listener.name.clone(), socket.local_addr()?));
        warn_if_open(&broker.config, listener);
        sockets.push((Arc::new(listener.clone()), socket));
    }
    let kafka_addr = listener_addrs[0].1;
    let _ = broker_cell.set(broker.clone());
    let maintenance = tokio::spawn(housekeeping(broker.clone(), shutdown_rx.clone()));
    if let Some(tls) = &tls {
        tokio::spawn(reload_tls(tls.clone(), shutdown_rx.clone()));
    }
    let tiering = tokio::spawn(broker.tiering.clone().run(shutdown_rx.clone()));
    let group_timers = tokio::spawn(crate::groups::run_timers(
        broker.groups.clone(),
        shutdown_rx.clone(),
    ));
    ready.store(true, Ordering::SeqCst);
    tracing::info!(
        kafka = %kafka_addr,
        listeners = %listener_addrs.iter().map(|(n, a)| format!("{n}://{a}")).collect::<Vec<_>>().join(","),
        advertised = %format!("{}:{}", broker.config.advertised_host, broker.config.advertised_port),
        http = %http_addr,
        data_dir = %broker.config.data_dir.display(),
        object_store = %broker.config.object_store,
        cluster_id = %broker.cluster_id,
        "weir is serving"
    );
    let task = tokio::spawn(async move {
        accept_loops(broker.clone(), sockets, tls, shutdown_rx).await;
        ready.store(false, Ordering::SeqCst);
        let _ = maintenance.await;
        let _ = tiering.await;
        let _ = group_timers.await;
        let _ = http_task.await;
        tokio::task::spawn_blocking(move || broker.topics.close_all()).await?;
        tracing::info!("shutdown complete");
        Ok(())
    });
    Ok(Running {
        kafka_addr,
        listener_addrs,
        http_addr,
        shutdown: shutdown_tx,
        task,
    })
}

/// A listener anyone on the network can use without authenticating gets a warning at every
/// start.
fn warn_if_open(config: &BrokerConfig, listener: &Listener) {
    let client_certificates = config
        .tls
        .as_ref()
        .is_some_and(|t| t.client_auth == weir_auth::ClientAuth::Required);
    let authenticates = match listener.protocol {
        SecurityProtocol::Plaintext => false,
        SecurityProtocol::Ssl => client_certificates,
        SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl => true,
    };
    if !authenticates && !listener.bind.ip().is_loopback() {
        tracing::warn!(listener = %listener.name, bind = %listener.bind, "this listener accepts clients from the network without authentication: anyone who reaches it can read, write and delete data (use SASL_SSL, or SSL with ssl_client_auth=required)");
    }
}

/// Runs one accept loop per listener, sharing the connection limits, until shutdown.
async fn accept_loops(
    broker: Arc<Broker>,
    sockets: Vec<(Arc<Listener>, TcpListener)>,
    tls: Option<Arc<ServerTls>>,
    shutdown: watch::Receiver<bool>,
) {
    let limits = ConnectionLimits::new(
        broker.config.max_connections,
        broker.config.max_connections_per_ip,
    );
    let mut loops = JoinSet::new();
    for (listener, socket) in sockets {
        loops.spawn(accept_loop(
            broker.clone(),
            listener,
            socket,
            tls.clone(),
            limits.clone(),
            shutdown.clone(),
        ));
    }
    while loops.join_next().await.is_some() {}
}

/// Sets up the session of a new connection (the TLS handshake, the principal) and serves it.
async fn open_session(
    broker: Arc<Broker>,
    listener: Arc<Listener>,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    tls: Option<Arc<ServerTls>>,
    shutdown: watch::Receiver<bool>,
) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(%peer, error = %e, "set_nodelay failed");
    }
    let Some(acceptor) = tls
        .filter(|_| listener.protocol.tls())
        .map(|t| TlsAcceptor::from(t.current()))
    else {
        let session = Arc::new(Session::new(peer, listener, Principal::anonymous()));
        connection::serve(broker, stream, session, shutdown).await;
        return;
    };
    let stream = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            tracing::info!(%peer, listener = %listener.name, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::info!(%peer, listener = %listener.name, "TLS handshake timed out");
            return;
        }
    };
    let certificate = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first());
    let principal = match certificate.map(|c| weir_auth::principal_from_certificate(c)) {
        Some(Ok(principal)) => principal,
        Some(Err(e)) => {
            tracing::info!(%peer, error = %e, "client certificate has no usable subject");
            return;
        }
        None => Principal::anonymous(),
    };
    if !principal.is_anonymous() {
        tracing::info!(%peer, listener = %listener.name, %principal, "client certificate accepted");
    }
    let session = Arc::new(Session::new(peer, listener, principal));
    connection::serve(broker, stream, session, shutdown).await;
}

async fn accept_loop(
    broker: Arc<Broker>,
    listener_config: Arc<Listener>,
    listener: TcpListener,
    tls: Option<Arc<ServerTls>>,
    limits: Arc<ConnectionLimits>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut refused_log = RateLimitedLog::new(REFUSAL_LOG_INTERVAL);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => match limits.admit(peer.ip()) {
                    Ok(slot) => {
                        let serve = open_session(broker.clone(), listener_config.clone(), stream, peer, tls.clone(), shutdown.clone());
                        connections.spawn(async move {
                            serve.await;
                            drop(slot);
                        });
                    }
                    Err(why) => {
                        // Closed right away: dropping the stream closes the socket.
                        drop(stream);
                        ConnectionMetrics::get().rejected(why);
                        if let Some(count) = refused_log.hit() {
                            let limit = match why {
                                ConnectionRefusal::MaxConnections => broker.config.max_connections,
                                ConnectionRefusal::MaxConnectionsPerIp => broker.config.max_connections_per_ip,
                            };
                            tracing::warn!(%peer, reason = why.reason(), limit, refused_since_last_log = count, "refusing connection: limit reached");
                        }
                    }
                },
                Err(e) => {
                    // Typically EMFILE: the process is out of file descriptors.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    tracing::info!("shutting down: finishing in-flight requests");
    drop(listener);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("connections still open after {DRAIN_TIMEOUT:?}; closing them");
        connections.abort_all();
    }
}

/// Runs the broker until SIGINT or SIGTERM, then shuts down gracefully.
pub async fn run(config: BrokerConfig) -> anyhow::Result<()> {
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let running = start(config).await?;
    tokio::select! {
        _ = sigterm.recv() => {}
        _ = sigint.recv() => {}
    }
    running.shutdown().await
}

/// Group gauges (members, generation) and consumer lag per committed partition; also expires
/// committed offsets per `offsets.retention.minutes`.
fn group_metrics(broker: &Broker, now_ms: i64) {
    for (group, members, generation) in broker.groups.gauges() {
        let label = [("group", group)];
        ::metrics::gauge!("weir_group_members", &label).set(members as f64);
        ::metrics::gauge!("weir_group_generation", &label).set(f64::from(generation));
    }
    for (group, topic, partition, committed) in broker.groups.expire_offsets(now_ms) {
        let Some(end) = broker
            .topics
            .get(&topic)
            .and_then(|t| t.partition(partition))
            .map(|p| p.log.log_end_offset())
        else {
            continue;
        };
        let labels = [
            ("group", group),
            ("topic", topic),
            ("partition", partition.to_string()),
        ];
        ::metrics::gauge!("weir_group_lag", &labels).set((end - committed).max(0) as f64);
    }
}

/// Retention, segment rolling by time, flush.ms, and size gauges, once per interval.
/// How often the TLS files are checked for changes.
const TLS_RELOAD_CHECK: Duration = Duration::from_secs(5);

/// Reloads the TLS certificate, key and trust store on SIGHUP, and when their files change.
/// New connections get the new ones; a file that does not load leaves the old ones in use.
async fn reload_tls(tls: Arc<ServerTls>, mut shutdown: watch::Receiver<bool>) {
    let mut hangups = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(signal) => Some(signal),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; TLS files are reloaded when they change");
            None
        }
    };
    let mut tick = tokio::time::interval(TLS_RELOAD_CHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let hangup = async {
            match hangups.as_mut() {
                Some(s) => s.recv().await,
                None => std::future::pending().await,
            }
        };
        let forced = tokio::select! {
            _ = hangup => true,
            _ = tick.tick() => false,
            _ = shutdown.changed() => return,
        };
        let tls = tls.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            if forced {
                tls.reload().map(|()| true)
            } else {
                tls.reload_if_changed()
            }
        })
        .await;
        match outcome {
            Ok(Ok(true)) => tracing::info!(
                trigger = if forced { "SIGHUP" } else { "file change" },
                "TLS certificate, key and trust store reloaded"
            ),
            Ok(Ok(false)) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, "TLS reload failed; the previous certificate stays in use")
            }
            Err(e) => tracing::error!(error = %e, "TLS reload task failed"),
        }
    }
}

async fn housekeeping(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let mut tick =
        tokio::time::interval(Duration::from_millis(broker.config.maintenance_interval_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let b = broker.clone();
        let pass = tokio::task::spawn_blocking(move || {
            let now = handlers::now_ms();
            for topic in b.topics.list() {
                for p in topic.partitions().iter() {
                    // A table's log is kept from the first offset its state has not flushed.
                    let table_floor = match &p.table {
                        Some(table) => {
                            table.maintain(&p.log, now).unwrap_or_else(|e| {
                                tracing::error!(topic = %topic.name, partition = p.index, error = %e, "table housekeeping failed");
                                table.flushed_below()
                            })
                        }
                        None => i64::MAX,
                    };
                    // A tiered log keeps what is not uploaded yet.
                    let retain_from = table_floor.min(p.tiered.retain_local_from());
                    match p.log.maintain_retaining(now, retain_from) {
                        Ok(0) => {}
                        Ok(n) => {
                            tracing::info!(topic = %topic.name, partition = p.index, segments = n, "retention deleted segments")
                        }
                        Err(e) => {
                            tracing::error!(topic = %topic.name, partition = p.index, error = %e, "housekeeping failed")
                        }
                    }
                    p.size_gauge.set(p.log.size_bytes() as f64);
                    p.end_offset_gauge.set(p.log.log_end_offset() as f64);
                }
            }
            group_metrics(&b, now);
        });
        if let Err(e) = pass.await {
            tracing::error!(error = %e, "housekeeping task failed");
        }
    }
}
