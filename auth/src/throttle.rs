//! [`LoginThrottle`]: failed authentications counted per client address. Once an address has
//! failed `limit` times within a window, its further attempts fail at once, without checking
//! a credential, until the window that began with its first failure ends — so a password
//! cannot be guessed faster than `limit` tries per window from one address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Addresses remembered at most; beyond, expired entries are dropped first, then the oldest.
const MAX_TRACKED: usize = 65_536;

/// Failed authentications per client address.
#[derive(Debug)]
pub struct LoginThrottle {
    limit: u32,
    window: Duration,
    failures: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl LoginThrottle {
    /// At most `limit` failures per `window` from one address; 0 turns the throttle off.
    pub fn new(limit: u32, window: Duration) -> LoginThrottle {
        LoginThrottle {
            limit,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// When `peer` may try again, if it is locked out now.
    pub fn locked_for(&self, peer: IpAddr) -> Option<Duration> {
        if self.limit == 0 {
            return None;
        }
        let failures = self.failures.lock();
        let (since, count) = failures.get(&peer)?;
        let elapsed = since.elapsed();
        (elapsed < self.window && *count >= self.limit).then(|| self.window - elapsed)
    }

    /// Counts a failed authentication from `peer`.
    pub fn failed(&self, peer: IpAddr) {
        if self.limit == 0 {
            return;
        }
        let now = Instant::now();
        let mut failures = self.failures.lock();
        if failures.len() >= MAX_TRACKED && !failures.contains_key(&peer) {
            let window = self.window;
            failures.retain(|_, (since, _)| now.duration_since(*since) < window);
            if failures.len() >= MAX_TRACKED {
                if let Some(oldest) = failures
                    .iter()
                    .min_by_key(|(_, (s, _))| *s)
                    .map(|(ip, _)| *ip)
                {
                    failures.remove(&oldest);
                }
            }
        }
        let entry = failures.entry(peer).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_an_address_after_the_limit_and_only_that_one() {
        let t = LoginThrottle::new(3, Duration::from_secs(60));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..2 {
            t.failed(a);
        }
        assert!(t.locked_for(a).is_none());
        t.failed(a);
        assert!(t
            .locked_for(a)
            .is_some_and(|d| d <= Duration::from_secs(60)));
        assert!(t.locked_for(b).is_none());
    }

    #[test]
    fn the_window_ends_and_zero_is_off() {
        let t = LoginThrottle::new(1, Duration::from_millis(20));
        let a: IpAddr = "::1".parse().unwrap();
        t.failed(a);
        assert!(t.locked_for(a).is_some());
        std::thread::sleep(Duration::from_millis(30));
        assert!(t.locked_for(a).is_none());
        let off = LoginThrottle::new(0, Duration::from_secs(60));
        for _ in 0..100 {
            off.failed(a);
        }
        assert!(off.locked_for(a).is_none());
    }

    #[test]
    fn memory_stays_bounded() {
        let t = LoginThrottle::new(5, Duration::from_secs(60));
        for i in 0..(MAX_TRACKED as u32 + 10) {
            t.failed(IpAddr::from(i.to_be_bytes()));
        }
        assert!(t.failures.lock().len() <= MAX_TRACKED);
    }
}
