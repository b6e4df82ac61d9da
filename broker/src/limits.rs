//! Connection accounting for the Kafka listener: `max.connections` and
//! `max.connections.per.ip`.
//!
//! The accept loop asks [`ConnectionLimits::admit`] for a [`ConnectionSlot`] before it serves a
//! connection; the slot is given back when the connection's task drops it. A connection over
//! either limit is closed right after accept (Kafka closes over-limit per-IP connections the
//! same way), counted in `weir_connections_rejected_total{reason}` and logged through a
//! [`RateLimitedLog`], so a flood of refused connections cannot flood the log.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::metrics::{ConnectionMetrics, ConnectionRefusal};

/// Open-connection counts, total and per peer address.
pub struct ConnectionLimits {
    max_total: usize,
    max_per_ip: usize,
    state: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

impl ConnectionLimits {
    /// Limits of `max_total` connections in all and `max_per_ip` from one address.
    pub fn new(max_total: usize, max_per_ip: usize) -> Arc<Self> {
        Arc::new(ConnectionLimits {
            max_total,
            max_per_ip,
            state: Mutex::new(Counts::default()),
        })
    }

    /// Takes a slot for a connection from `ip`, or says which limit refuses it.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnectionSlot, ConnectionRefusal> {
        let mut counts = self.state.lock();
        if counts.total >= self.max_total {
            return Err(ConnectionRefusal::MaxConnections);
        }
        let from_ip = counts.per_ip.entry(ip).or_insert(0);
        if *from_ip >= self.max_per_ip {
            return Err(ConnectionRefusal::MaxConnectionsPerIp);
        }
        *from_ip += 1;
        counts.total += 1;
        ConnectionMetrics::get().open.set(counts.total as f64);
        Ok(ConnectionSlot {
            limits: self.clone(),
            ip,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.state.lock().total
    }

    fn release(&self, ip: IpAddr) {
        let mut counts = self.state.lock();
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                counts.per_ip.remove(&ip);
            }
        }
        ConnectionMetrics::get().open.set(counts.total as f64);
    }
}

/// One admitted connection; dropping it frees the slot.
pub struct ConnectionSlot {
    limits: Arc<ConnectionLimits>,
    ip: IpAddr,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.limits.release(self.ip);
    }
}

/// A warning logged at most once per interval, with the number of occurrences it stands for.
pub struct RateLimitedLog {
    interval: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimitedLog {
    /// A log that speaks at most once per `interval`.
    pub fn new(interval: Duration) -> Self {
        RateLimitedLog {
            interval,
            last: None,
            suppressed: 0,
        }
    }

    /// Records one occurrence; returns `Some(n)` when it should be logged now, `n` being the
    /// occurrences since the last log line (this one included).
    pub fn hit(&mut self) -> Option<u64> {
        let now = Instant::now();
        self.suppressed += 1;
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < self.interval)
        {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_total_and_per_ip_and_frees_on_drop() {
        let limits = ConnectionLimits::new(3, 2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = limits.admit(a).unwrap();
        let a2 = limits.admit(a).unwrap();
        assert_eq!(
            limits.admit(a).err(),
            Some(ConnectionRefusal::MaxConnectionsPerIp)
        );
        let b1 = limits.admit(b).unwrap();
        assert_eq!(
            limits.admit(b).err(),
            Some(ConnectionRefusal::MaxConnections)
        );
        assert_eq!(limits.open(), 3);
        drop(a1);
        let _b2 = limits.admit(b).unwrap();
        drop((a2, b1));
        assert_eq!(limits.open(), 1);
        assert!(
            !limits.state.lock().per_ip.contains_key(&a),
            "entry removed at 0"
        );
    }

    #[test]
    fn rate_limited_log_reports_suppressed_occurrences() {
        let mut log = RateLimitedLog::new(Duration::from_secs(3600));
        assert_eq!(log.hit(), Some(1));
        assert_eq!(log.hit(), None);
        assert_eq!(log.hit(), None);
        log.last = Some(Instant::now() - Duration::from_secs(7200));
        assert_eq!(log.hit(), Some(3));
    }
}
