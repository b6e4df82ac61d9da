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
            Ok(bytes) => {
                serde_json::from_slice::<Persisted>(&bytes)
                    .map_err(|e| anyhow::anyhow!("corrupt {}: {e}", path.display()))?
                    .next_block_start
            }
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
}
