//! Reads of a table store that answer "as of": the last write of a key at or before a
//! timestamp or offset ([`AsOfReader`], one RocksDB seek per key), and scans of every key's
//! last write as of now or a timestamp ([`TableScan`], for snapshots).
//!
//! A "write" here is a record of the table topic that is the key's row afterwards: a live
//! row, or a delete (returned with `value: None`) so that callers merging several partitions
//! can tell "deleted at t" from "never written".

use bytes::Bytes;
use rocksdb::{DBRawIteratorWithThreadMode, Direction, IteratorMode, DB};

use super::layout::{self, HistoryKind};
use super::store::TableStore;
use super::{Row, TableError};

/// Splits a `history` key into its prefix (key length ++ key) and source offset; `None` for a
/// key that is not laid out as one.
fn split_history_key(k: &[u8]) -> Option<(&[u8], i64)> {
    let len = u32::from_be_bytes(k.get(..4)?.try_into().ok()?) as usize;
    if k.len() != 4 + len + 8 {
        return None;
    }
    let offset = i64::from_be_bytes(k[4 + len..].try_into().ok()?);
    Some((&k[..4 + len], offset))
}

/// The timestamp of a `history` value without decoding the rest.
fn history_timestamp(v: &[u8]) -> Result<i64, TableError> {
    layout::decode_i64(
        "history entry",
        v.get(1..9).ok_or_else(|| TableError::Corrupt {
            what: "history entry",
            reason: "shorter than 9 bytes".into(),
        })?,
    )
}

/// A history entry as the write it records: deletes have no value.
fn entry_write(key: &[u8], offset: i64, v: &[u8]) -> Result<Row, TableError> {
    let (kind, mut row) = layout::decode_history(key, offset, v)?;
    if kind == HistoryKind::Delete {
        row.value = None;
    }
    Ok(row)
}

/// Answers as-of questions for many keys with one RocksDB iterator (and the consistent view
/// it pins when created). Cheap to create; reuse it across the keys of a batch.
pub struct AsOfReader<'a> {
    iter: DBRawIteratorWithThreadMode<'a, DB>,
}

impl AsOfReader<'_> {
    /// The last write of `key` (in offset order) whose timestamp is at most `ts`: O(log n)
    /// to find the key's newest entry, then one step back per newer write.
    pub fn last_write_at(&mut self, key: &[u8], ts: i64) -> Result<Option<Row>, TableError> {
        let prefix = layout::history_prefix(key);
        self.iter.seek_for_prev(layout::history_key(key, i64::MAX));
        loop {
            let (Some(k), Some(v)) = (self.iter.key(), self.iter.value()) else {
                self.iter.status()?;
                return Ok(None);
            };
            match split_history_key(k) {
                Some((p, offset)) if p == prefix.as_slice() => {
                    if history_timestamp(v)? <= ts {
                        return entry_write(key, offset, v).map(Some);
                    }
                }
                _ => return Ok(None),
            }
            self.iter.prev();
        }
    }

    /// The write of `key` that was its row right after offset `offset` (the latest at or
    /// before it).
    pub fn last_write_through(
        &mut self,
        key: &[u8],
        offset: i64,
    ) -> Result<Option<Row>, TableError> {
        if offset < 0 {
            return Ok(None);
        }
        let prefix = layout::history_prefix(key);
        self.iter.seek_for_prev(layout::history_key(key, offset));
        let (Some(k), Some(v)) = (self.iter.key(), self.iter.value()) else {
            self.iter.status()?;
            return Ok(None);
        };
        match split_history_key(k) {
            Some((p, at)) if p == prefix.as_slice() => entry_write(key, at, v).map(Some),
            _ => Ok(None),
        }
    }
}

/// Every key's last write as of now (from the state) or as of a timestamp (from the
/// history), in the store's key order, read from one consistent view of the database.
pub struct TableScan<'a> {
    iter: DBRawIteratorWithThreadMode<'a, DB>,
    as_of: Option<i64>,
}

/// One key's last write in a [`TableScan`], with the bytes that order it among the others.
pub struct ScannedWrite {
    /// Orders the writes of a scan (the same key gives the same bytes in every partition's
    /// scan of the same kind).
    pub order: Vec<u8>,
    /// The write; `value: None` for a delete.
    pub row: Row,
}

impl TableScan<'_> {
    /// The next key's last write, or `None` at the end.
    pub fn next_write(&mut self) -> Result<Option<ScannedWrite>, TableError> {
        match self.as_of {
            None => self.next_state(),
            Some(ts) => self.next_history(ts),
        }
    }

    fn next_state(&mut self) -> Result<Option<ScannedWrite>, TableError> {
        let (Some(k), Some(v)) = (self.iter.key(), self.iter.value()) else {
            self.iter.status()?;
            return Ok(None);
        };
        let row = layout::decode_row(k, v)?;
        let order = k.to_vec();
        self.iter.next();
        Ok(Some(ScannedWrite { order, row }))
    }

    fn next_history(&mut self, ts: i64) -> Result<Option<ScannedWrite>, TableError> {
        loop {
            let mut current: Option<Vec<u8>> = None;
            let mut found: Option<ScannedWrite> = None;
            loop {
                let (Some(k), Some(v)) = (self.iter.key(), self.iter.value()) else {
                    self.iter.status()?;
                    break;
                };
                let (prefix, offset) = split_history_key(k).ok_or_else(|| TableError::Corrupt {
                    what: "history key",
                    reason: format!("{} bytes do not frame a key and an offset", k.len()),
                })?;
                match &current {
                    Some(c) if c.as_slice() != prefix => break,
                    Some(_) => {}
                    None => current = Some(prefix.to_vec()),
                }
                if history_timestamp(v)? <= ts {
                    let row = entry_write(&prefix[4..], offset, v)?;
                    found = Some(ScannedWrite {
                        order: prefix.to_vec(),
                        row,
                    });
                }
                self.iter.next();
            }
            match (current, found) {
                (None, _) => return Ok(None),
                (Some(_), Some(write)) => return Ok(Some(write)),
                // Every write of this key is newer than `ts`: on to the next key.
                (Some(_), None) => continue,
            }
        }
    }
}

impl TableStore {
    /// An [`AsOfReader`] over the current history.
    pub fn as_of_reader(&self) -> Result<AsOfReader<'_>, TableError> {
        Ok(AsOfReader {
            iter: self.db().raw_iterator_cf(self.cf(layout::HISTORY)?),
        })
    }

    /// Every key's last write as of now (`None`) or as of timestamp `ts`.
    pub fn scan(&self, as_of: Option<i64>) -> Result<TableScan<'_>, TableError> {
        let family = if as_of.is_some() {
            layout::HISTORY
        } else {
            layout::STATE
        };
        let mut iter = self.db().raw_iterator_cf(self.cf(family)?);
        iter.seek_to_first();
        Ok(TableScan { iter, as_of })
    }

    /// The key's current row, a delete (`value: None`) included while its tombstone is kept.
    pub fn last_write(&self, key: &[u8]) -> Result<Option<Row>, TableError> {
        let state = self.cf(layout::STATE)?;
        self.db()
            .get_pinned_cf(state, key)?
            .map(|v| layout::decode_row(key, &v))
            .transpose()
    }

    /// The live row of `key`, if any.
    pub fn get(&self, key: &[u8]) -> Result<Option<Row>, TableError> {
        Ok(self.last_write(key)?.filter(|r| r.value.is_some()))
    }

    /// The live row of `key` right after the write at `offset` (the latest change at or
    /// before it), if any.
    pub fn get_as_of_offset(&self, key: &[u8], offset: i64) -> Result<Option<Row>, TableError> {
        Ok(self
            .as_of_reader()?
            .last_write_through(key, offset)?
            .filter(|r| r.value.is_some()))
    }

    /// The live row of `key` as of timestamp `ts`: the last write (in offset order) whose
    /// timestamp is at most `ts`, unless it was a delete.
    pub fn get_as_of_timestamp(&self, key: &[u8], ts: i64) -> Result<Option<Row>, TableError> {
        Ok(self
            .as_of_reader()?
            .last_write_at(key, ts)?
            .filter(|r| r.value.is_some()))
    }

    /// Up to `limit` live rows whose write's timestamp is at most `ts`, oldest first, as
    /// (key, timestamp): the rows a TTL of `now - ts` has expired.
    pub fn live_written_by(&self, ts: i64, limit: usize) -> Result<Vec<(Bytes, i64)>, TableError> {
        let index = self.cf(layout::LIVE_BY_TIME)?;
        let mut out = Vec::new();
        for item in self
            .db()
            .iterator_cf(index, IteratorMode::From(&[], Direction::Forward))
        {
            let (k, key) = item?;
            let written = layout::time_key_timestamp(&k)?;
            if written > ts || out.len() >= limit {
                break;
            }
            out.push((Bytes::copy_from_slice(&key), written));
        }
        Ok(out)
    }

    /// Every history entry of `key`, oldest first.
    pub(super) fn history_entries(
        &self,
        key: &[u8],
    ) -> Result<Vec<(HistoryKind, Row)>, TableError> {
        let history = self.cf(layout::HISTORY)?;
        let prefix = layout::history_prefix(key);
        let mut out = Vec::new();
        let iter = self
            .db()
            .iterator_cf(history, IteratorMode::From(&prefix, Direction::Forward));
        for item in iter {
            let (k, v) = item?;
            if !k.starts_with(&prefix) || k.len() != prefix.len() + 8 {
                break;
            }
            let offset = layout::history_key_offset(&k)?;
            out.push(layout::decode_history(key, offset, &v)?);
        }
        Ok(out)
    }
}
