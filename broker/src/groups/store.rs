//! Durable storage of consumer-group state: committed offsets and group metadata.
//!
//! An append-only file of JSON lines, `<data-dir>/meta/groups.log`. One writer thread appends
//! whatever records are queued, fsyncs once for all of them (group commit) and then
//! acknowledges each batch, so an OffsetCommit is answered only after its offsets are on disk.
//! On open the file is replayed (a torn last line from a crash is dropped) and rewritten
//! compacted, so it holds one line per live entry plus what was appended since the start.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::persist::write_atomic;

/// A committed offset as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
    pub commit_ms: i64,
}

/// A group member as stored (enough to resume a stable group after a restart).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    /// (protocol name, metadata) in the member's preference order.
    pub protocols: Vec<(String, Vec<u8>)>,
    pub assignment: Vec<u8>,
}

/// Group metadata as stored after each completed rebalance (or when the group empties).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredGroup {
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub members: Vec<StoredMember>,
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum StoreRecord {
    Offset {
        group: String,
        topic: String,
        partition: i32,
        #[serde(flatten)]
        value: StoredOffset,
    },
    OffsetDeleted {
        group: String,
        topic: String,
        partition: i32,
    },
    Group {
        group: String,
        #[serde(flatten)]
        value: StoredGroup,
    },
    GroupDeleted {
        group: String,
    },
}

/// Everything the log holds, replayed.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub groups: HashMap<String, StoredGroup>,
    pub offsets: HashMap<String, HashMap<(String, i32), StoredOffset>>,
}

impl Snapshot {
    fn apply(&mut self, record: StoreRecord) {
        match record {
            StoreRecord::Offset {
                group,
                topic,
                partition,
                value,
            } => {
                self.offsets
                    .entry(group)
                    .or_default()
                    .insert((topic, partition), value);
            }
            StoreRecord::OffsetDeleted {
                group,
                topic,
                partition,
            } => {
                if let Some(o) = self.offsets.get_mut(&group) {
                    o.remove(&(topic, partition));
                }
            }
            StoreRecord::Group { group, value } => {
                self.groups.insert(group, value);
            }
            StoreRecord::GroupDeleted { group } => {
                self.groups.remove(&group);
                self.offsets.remove(&group);
            }
        }
    }

    fn records(&self) -> Vec<StoreRecord> {
        let mut out: Vec<StoreRecord> = self
            .groups
            .iter()
            .map(|(g, v)| StoreRecord::Group {
                group: g.clone(),
                value: v.clone(),
            })
            .collect();
        for (group, offsets) in &self.offsets {
            for ((topic, partition), value) in offsets {
                out.push(StoreRecord::Offset {
                    group: group.clone(),
                    topic: topic.clone(),
                    partition: *partition,
                    value: value.clone(),
                });
            }
        }
        out
    }
}

type Ack = oneshot::Sender<std::io::Result<()>>;

/// Handle to the writer thread.
pub struct GroupStore {
    queue: mpsc::Sender<(Vec<StoreRecord>, Option<Ack>)>,
}

fn replay(path: &Path) -> std::io::Result<(Snapshot, usize)> {
    let mut snapshot = Snapshot::default();
    let mut lines = 0;
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((snapshot, 0)),
        Err(e) => return Err(e),
    };
    for line in BufReader::new(file).split(b'\n') {
        let line = line?;
        match serde_json::from_slice::<StoreRecord>(&line) {
            Ok(record) => {
                snapshot.apply(record);
                lines += 1;
            }
            Err(e) => {
                // Only the last line can be torn (a crash mid-append); stop there.
                tracing::warn!(error = %e, "ignoring a torn or corrupt line at the end of the group log");
                break;
            }
        }
    }
    Ok((snapshot, lines))
}

fn encode(records: &[StoreRecord]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        // Serialising these plain structs cannot fail.
        if let Ok(mut line) = serde_json::to_vec(r) {
            line.push(b'\n');
            out.extend_from_slice(&line);
        }
    }
    out
}

impl GroupStore {
    /// Replays (and compacts) the log, then starts the writer thread.
    pub fn open(meta_dir: &Path) -> anyhow::Result<(GroupStore, Snapshot)> {
        let path: PathBuf = meta_dir.join("groups.log");
        let (snapshot, lines) = replay(&path)?;
        // Rewrite compacted: drops history and any torn tail in one atomic step.
        if lines > 0 {
            write_atomic(&path, &encode(&snapshot.records()))?;
        }
        let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
        let (tx, rx) = mpsc::channel::<(Vec<StoreRecord>, Option<Ack>)>();
        std::thread::Builder::new()
            .name("weir-group-store".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    while let Ok(more) = rx.try_recv() {
                        batch.push(more);
                    }
                    let bytes: Vec<u8> = batch.iter().flat_map(|(r, _)| encode(r)).collect();
                    let result = file.write_all(&bytes).and_then(|_| file.sync_data());
                    if let Err(e) = &result {
                        tracing::error!(error = %e, "cannot write the group log");
                    }
                    for (_, ack) in batch {
                        if let Some(ack) = ack {
                            let _ = ack.send(match &result {
                                Ok(()) => Ok(()),
                                Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
                            });
                        }
                    }
                }
            })?;
        Ok((GroupStore { queue: tx }, snapshot))
    }

    /// Appends records and waits until they are fsync'ed.
    pub async fn append_durable(&self, records: Vec<StoreRecord>) -> std::io::Result<()> {
        let (tx, rx) = oneshot::channel();
        self.queue
            .send((records, Some(tx)))
            .map_err(|_| std::io::Error::other("group store writer stopped"))?;
        rx.await
            .map_err(|_| std::io::Error::other("group store writer stopped"))?
    }

    /// Appends records without waiting (ordered after everything queued before).
    pub fn append(&self, records: Vec<StoreRecord>) {
        if self.queue.send((records, None)).is_err() {
            tracing::error!("group store writer stopped; group metadata not persisted");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offset(group: &str, partition: i32, offset: i64) -> StoreRecord {
        StoreRecord::Offset {
            group: group.into(),
            topic: "t".into(),
            partition,
            value: StoredOffset {
                offset,
                leader_epoch: -1,
                metadata: Some("m".into()),
                commit_ms: 1,
            },
        }
    }

    #[tokio::test]
    async fn replays_latest_values_and_ignores_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (store, snap) = GroupStore::open(dir.path()).unwrap();
            assert!(snap.offsets.is_empty());
            store
                .append_durable(vec![offset("g", 0, 5), offset("g", 1, 7)])
                .await
                .unwrap();
            store.append_durable(vec![offset("g", 0, 9)]).await.unwrap();
            store
                .append_durable(vec![
                    StoreRecord::GroupDeleted {
                        group: "gone".into(),
                    },
                    offset("h", 0, 1),
                ])
                .await
                .unwrap();
        }
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join("groups.log"))
            .unwrap();
        f.write_all(b"{\"t\":\"offset\",\"gro").unwrap();
        let (_store, snap) = GroupStore::open(dir.path()).unwrap();
        let g = &snap.offsets["g"];
        assert_eq!(g[&("t".to_string(), 0)].offset, 9);
        assert_eq!(g[&("t".to_string(), 1)].offset, 7);
        assert_eq!(
            snap.offsets["h"][&("t".to_string(), 0)].metadata.as_deref(),
            Some("m")
        );
    }
}
