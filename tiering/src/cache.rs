//! [`ReadCache`]: a bounded, least-recently-used cache shared by all partitions for what
//! remote reads fetch: the parsed layout (footer) of each object, and the raw bytes of the
//! chunks read from it. Consumers catching up read a chunk many times (once per fetch), so
//! each chunk is downloaded once while it stays hot.

use std::num::NonZeroUsize;
use std::sync::Arc;

use bytes::Bytes;
use lru::LruCache;
use parking_lot::Mutex;

use crate::layout::FileLayout;

/// Layouts kept (they are small: a few hundred bytes per chunk).
const LAYOUT_ENTRIES: usize = 4096;

/// Key of a cached chunk: object key and byte offset in it.
type ChunkKey = (String, u64);

/// The cache. `Send + Sync`; share it as `Arc<ReadCache>`.
pub struct ReadCache {
    layouts: Mutex<LruCache<String, Arc<FileLayout>>>,
    chunks: Mutex<ChunkLru>,
}

struct ChunkLru {
    entries: LruCache<ChunkKey, Bytes>,
    bytes: usize,
    capacity: usize,
}

impl ReadCache {
    /// A cache holding up to `chunk_bytes` of chunk data.
    pub fn new(chunk_bytes: usize) -> ReadCache {
        let layouts = NonZeroUsize::new(LAYOUT_ENTRIES).unwrap_or(NonZeroUsize::MIN);
        ReadCache {
            layouts: Mutex::new(LruCache::new(layouts)),
            chunks: Mutex::new(ChunkLru {
                entries: LruCache::unbounded(),
                bytes: 0,
                capacity: chunk_bytes,
            }),
        }
    }

    /// The cached layout of `object`.
    pub fn layout(&self, object: &str) -> Option<Arc<FileLayout>> {
        self.layouts.lock().get(object).cloned()
    }

    /// Remembers the layout of `object`.
    pub fn put_layout(&self, object: &str, layout: Arc<FileLayout>) {
        self.layouts.lock().put(object.to_string(), layout);
    }

    /// The cached chunk of `object` starting at byte `start`.
    pub fn chunk(&self, object: &str, start: u64) -> Option<Bytes> {
        self.chunks
            .lock()
            .entries
            .get(&(object.to_string(), start))
            .cloned()
    }

    /// Remembers a chunk, evicting the least recently used ones beyond the capacity. A chunk
    /// larger than the whole capacity is not kept.
    pub fn put_chunk(&self, object: &str, start: u64, data: Bytes) {
        let mut lru = self.chunks.lock();
        if data.len() > lru.capacity {
            return;
        }
        lru.bytes += data.len();
        if let Some(old) = lru.entries.put((object.to_string(), start), data) {
            lru.bytes -= old.len();
        }
        while lru.bytes > lru.capacity {
            match lru.entries.pop_lru() {
                Some((_, evicted)) => lru.bytes -= evicted.len(),
                None => break,
            }
        }
    }

    /// Forgets everything about `object` (deleted by retention).
    pub fn forget(&self, object: &str) {
        self.layouts.lock().pop(object);
        let mut lru = self.chunks.lock();
        let stale: Vec<ChunkKey> = lru
            .entries
            .iter()
            .filter(|((o, _), _)| o == object)
            .map(|(k, _)| k.clone())
            .collect();
        for key in stale {
            if let Some(old) = lru.entries.pop(&key) {
                lru.bytes -= old.len();
            }
        }
    }

    /// Bytes of chunk data held.
    pub fn chunk_bytes(&self) -> usize {
        self.chunks.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recently_used_chunks() {
        let cache = ReadCache::new(10);
        cache.put_chunk("a", 0, Bytes::from_static(b"1234"));
        cache.put_chunk("a", 4, Bytes::from_static(b"5678"));
        assert!(cache.chunk("a", 0).is_some()); // now most recent
        cache.put_chunk("b", 0, Bytes::from_static(b"abcd"));
        assert_eq!(cache.chunk_bytes(), 8);
        assert!(cache.chunk("a", 4).is_none());
        assert!(cache.chunk("a", 0).is_some());
        cache.put_chunk("c", 0, Bytes::from(vec![0u8; 11]));
        assert!(cache.chunk("c", 0).is_none());
        cache.forget("a");
        assert!(cache.chunk("a", 0).is_none());
        assert_eq!(cache.chunk_bytes(), 4);
    }
}
