//! "As of": the one implementation of a table's row of a key at a moment, used by the HTTP
//! lookups, the point-in-time join and the snapshot export alike.
//!
//! A key may live in several partitions (producers choose partitions differently). Within a
//! partition, the key's row as of `q` is its last write (in offset order) whose timestamp is
//! at most `q`; a delete counts as a write that leaves no row. Across partitions, the
//! partition whose such write has the greatest timestamp wins (on a tie, the higher
//! partition); if that write is a delete, the key has no row. With a row TTL
//! (`cleanup.policy=compact,delete`), a live row written at `t` has no row for `q >= t +
//! retention.ms` ("now" is the wall clock), before its expiry tombstone is even written.

use weir_storage::table::{AsOfReader, Row, ScannedWrite, TableScan, TableStore};

use super::{table_error, TablePartition};
use crate::errors::ApiResult;

/// Which moment a lookup asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    /// The current row.
    Now,
    /// The row as of this timestamp (epoch ms).
    Timestamp(i64),
    /// The row right after the write at this offset (of each partition).
    Offset(i64),
}

/// A key's row, and the partition it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The partition whose write won.
    pub partition: i32,
    /// The row (offset, timestamp and headers of the write it came from).
    pub row: Row,
}

/// Whether a row written at `written` has expired by `moment` under `ttl_ms`.
fn expired(ttl_ms: Option<i64>, written: i64, moment: Option<i64>) -> bool {
    match (ttl_ms, moment) {
        (Some(ttl), Some(m)) => m >= written.saturating_add(ttl),
        _ => false,
    }
}

/// Keeps the winner of two partitions' writes: the later timestamp, the later partition on a
/// tie (callers go through partitions in ascending order).
fn keep_later(best: &mut Option<Found>, partition: i32, row: Row) {
    if best
        .as_ref()
        .is_none_or(|b| row.timestamp >= b.row.timestamp)
    {
        *best = Some(Found { partition, row });
    }
}

struct PartitionReader<'a> {
    index: i32,
    store: &'a TableStore,
    reader: AsOfReader<'a>,
}

/// Answers "as of" for many keys of one table topic; holds one history iterator per
/// partition (reuse it across a batch of keys).
pub struct TableReader<'a> {
    partitions: Vec<PartitionReader<'a>>,
    ttl_ms: Option<i64>,
    now_ms: i64,
}

impl<'a> TableReader<'a> {
    /// A reader over `tables` (partition index, table), in ascending partition order.
    pub fn new(
        tables: impl IntoIterator<Item = (i32, &'a TablePartition)>,
        now_ms: i64,
    ) -> ApiResult<TableReader<'a>> {
        let mut ttl_ms = None;
        let mut partitions = Vec::new();
        for (index, table) in tables {
            ttl_ms = table.settings().row_ttl_ms;
            let store = table.store()?;
            partitions.push(PartitionReader {
                index,
                store,
                reader: store.as_of_reader().map_err(table_error)?,
            });
        }
        Ok(TableReader {
            partitions,
            ttl_ms,
            now_ms,
        })
    }

    /// The row of `key` as of `as_of`, if it had one then.
    pub fn get(&mut self, key: &[u8], as_of: AsOf) -> ApiResult<Option<Found>> {
        let mut best = None;
        for p in &mut self.partitions {
            let write = match as_of {
                AsOf::Now => p.store.last_write(key),
                AsOf::Timestamp(ts) => p.reader.last_write_at(key, ts),
                AsOf::Offset(offset) => p.reader.last_write_through(key, offset),
            }
            .map_err(table_error)?;
            if let Some(row) = write {
                keep_later(&mut best, p.index, row);
            }
        }
        let moment = match as_of {
            AsOf::Now => Some(self.now_ms),
            AsOf::Timestamp(ts) => Some(ts),
            AsOf::Offset(_) => None,
        };
        Ok(
            best.filter(|f| {
                f.row.value.is_some() && !expired(self.ttl_ms, f.row.timestamp, moment)
            }),
        )
    }
}

struct PartitionScan<'a> {
    index: i32,
    scan: TableScan<'a>,
    head: Option<ScannedWrite>,
}

/// Every live row of one table topic as of now or a timestamp, each key once (partitions
/// merged by the rule above), each partition read from one consistent view.
pub struct TableSnapshot<'a> {
    partitions: Vec<PartitionScan<'a>>,
    ttl_ms: Option<i64>,
    moment: i64,
}

impl<'a> TableSnapshot<'a> {
    /// A snapshot of `tables` (ascending partition order) as of `as_of` (`None`: now).
    pub fn new(
        tables: impl IntoIterator<Item = (i32, &'a TablePartition)>,
        as_of: Option<i64>,
        now_ms: i64,
    ) -> ApiResult<TableSnapshot<'a>> {
        let mut ttl_ms = None;
        let mut partitions = Vec::new();
        for (index, table) in tables {
            ttl_ms = table.settings().row_ttl_ms;
            let mut scan = table.store()?.scan(as_of).map_err(table_error)?;
            let head = scan.next_write().map_err(table_error)?;
            partitions.push(PartitionScan { index, scan, head });
        }
        Ok(TableSnapshot {
            partitions,
            ttl_ms,
            moment: as_of.unwrap_or(now_ms),
        })
    }

    /// The next live row, or `None` at the end.
    pub fn next_row(&mut self) -> ApiResult<Option<Found>> {
        loop {
            let Some(order) = self
                .partitions
                .iter()
                .filter_map(|p| p.head.as_ref().map(|h| &h.order))
                .min()
                .cloned()
            else {
                return Ok(None);
            };
            let mut best = None;
            for p in &mut self.partitions {
                if p.head.as_ref().is_some_and(|h| h.order == order) {
                    let next = p.scan.next_write().map_err(table_error)?;
                    if let Some(head) = std::mem::replace(&mut p.head, next) {
                        keep_later(&mut best, p.index, head.row);
                    }
                }
            }
            if let Some(found) = best.filter(|f| {
                f.row.value.is_some() && !expired(self.ttl_ms, f.row.timestamp, Some(self.moment))
            }) {
                return Ok(Some(found));
            }
        }
    }
}
