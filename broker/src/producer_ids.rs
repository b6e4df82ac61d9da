//! Producer id allocation for InitProducerId.
//!
//! Ids are handed out from blocks: before the first id of a block is used, the end of the block
//! is persisted to `<data-dir>/meta/producer-ids.json`, so a restart (clean or not) continues
//! after the last persisted block and never hands out an id twice.

use std::path::PathBuf;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::persist::write_atomic;

const BLOCK: i64 = 1000;

/// Where ids continue when the persisted position is unreadable (bit rot; the atomic writes
/// rule out torn files): the clock in milliseconds times 2^20. Blocks of [`BLOCK`] ids from 0
/// never get near it (that would take 10^18 InitProducerId calls), and a later recovery
/// starts higher again as the clock moves on.
fn start_after_unreadable_state() -> i64 {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    ms.saturating_mul(1 << 20)
}

#[derive(Serialize, Deserialize)]
struct Persisted {
    next_block_start: i64,
}

struct State {
    next: i64,
    block_end: i64,
}

/// Hands out unique producer ids across restarts.
pub struct ProducerIdAllocator {
    path: PathBuf,
    state: Mutex<State>,
}

impl ProducerIdAllocator {
    /// Loads the persisted position (or starts at 0).
    pub fn open(meta_dir: PathBuf) -> anyhow::Result<ProducerIdAllocator> {
        let path = meta_dir.join("producer-ids.json");
        let start = match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<Persisted>(&bytes) {
                Ok(persisted) => persisted.next_block_start,
                Err(e) => {
                    let start = start_after_unreadable_state();
                    tracing::error!(file = %path.display(), error = %e, start, "producer id state is unreadable; handing out ids from above any handed out before");
                    start
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e.into()),
        };
        Ok(ProducerIdAllocator {
            path,
            state: Mutex::new(State {
                next: start,
                block_end: start,
            }),
        })
    }

    /// The id the next [`allocate`](Self::allocate) hands out: every id below it may be in use,
    /// none at or above it has been handed out (across restarts too).
    pub fn next_id(&self) -> i64 {
        self.state.lock().next
    }

    /// The next unused producer id.
    pub fn allocate(&self) -> std::io::Result<i64> {
        let mut state = self.state.lock();
        if state.next >= state.block_end {
            let end = state.next + BLOCK;
            let json = serde_json::to_vec(&Persisted {
                next_block_start: end,
            })
            .map_err(std::io::Error::other)?;
            write_atomic(&self.path, &json)?;
            state.block_end = end;
        }
        let id = state.next;
        state.next += 1;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let a = ProducerIdAllocator::open(dir.path().to_path_buf()).unwrap();
        assert_eq!(a.allocate().unwrap(), 0);
        assert_eq!(a.allocate().unwrap(), 1);
        assert_eq!(a.next_id(), 2);
        drop(a);
        let b = ProducerIdAllocator::open(dir.path().to_path_buf()).unwrap();
        // Ids of the persisted block may have been handed out before the restart.
        assert_eq!(b.next_id(), BLOCK);
        assert_eq!(b.allocate().unwrap(), BLOCK);
    }

    #[test]
    fn unreadable_state_continues_above_every_id_handed_out() {
        let dir = tempfile::tempdir().unwrap();
        let a = ProducerIdAllocator::open(dir.path().to_path_buf()).unwrap();
        let before = (0..2500).map(|_| a.allocate().unwrap()).max().unwrap();
        drop(a);
        std::fs::write(dir.path().join("producer-ids.json"), b"{\"next_block_st").unwrap();
        let b = ProducerIdAllocator::open(dir.path().to_path_buf()).unwrap();
        let next = b.allocate().unwrap();
        assert!(next > before + (1 << 40), "{next}");
        drop(b);
        // The recovered position is persisted like any other.
        let c = ProducerIdAllocator::open(dir.path().to_path_buf()).unwrap();
        assert!(c.next_id() > next);
    }
}
