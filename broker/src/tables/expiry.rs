//! Row TTL (`cleanup.policy=compact,delete`): a row expires `retention.ms` after its last
//! write. Readers hide an expired row from its expiry moment on (see `super::as_of`); this
//! module makes the expiry part of the table: housekeeping appends, for each expired row, a
//! tombstone to the table topic with the header `weir.expired=true` and the expiry moment as
//! its timestamp, so state, history and `T.changelog` (a `-D` carrying the header) derive it
//! like any delete — durable per the topic's durability, replayed after a crash.

use bytes::{Bytes, BytesMut};
use weir_protocol::records::{encode_batch, LogRecord};
use weir_storage::table::EXPIRED_HEADER;
use weir_storage::{AppendLimits, PartitionLog};

use super::{table_error, TablePartition};
use crate::errors::ApiResult;

/// Rows expired per appended batch.
const ROWS_PER_BATCH: usize = 1_000;
/// Batches per housekeeping pass, so one pass never holds a table for long.
const BATCHES_PER_PASS: usize = 100;

impl TablePartition {
    /// Appends the tombstones of rows whose TTL (`ttl_ms`) ended by `now_ms`. Returns how
    /// many rows expired.
    pub(super) fn expire_rows(
        &self,
        source: &PartitionLog,
        now_ms: i64,
        ttl_ms: i64,
    ) -> ApiResult<usize> {
        let cutoff = now_ms.saturating_sub(ttl_ms);
        let limits = AppendLimits::default();
        let mut expired = 0;
        for _ in 0..BATCHES_PER_PASS {
            let _order = self.write_order.lock();
            // Under the write lock: no write can replace these rows before their tombstones.
            let due = self
                .store()?
                .live_written_by(cutoff, ROWS_PER_BATCH)
                .map_err(table_error)?;
            if due.is_empty() {
                break;
            }
            let records: Vec<LogRecord> = due
                .iter()
                .enumerate()
                .map(|(i, (key, written))| LogRecord {
                    offset: i as i64,
                    timestamp: written.saturating_add(ttl_ms),
                    key: Some(key.clone()),
                    value: None,
                    headers: vec![(
                        Bytes::from_static(EXPIRED_HEADER.as_bytes()),
                        Some(Bytes::from_static(b"true")),
                    )],
                })
                .collect();
            let mut batch = BytesMut::new();
            encode_batch(&mut batch, &records);
            let validated = source.validate(&batch, &limits)?;
            let parsed = self.validate(validated.records())?;
            self.write_in_order(source, validated, parsed, now_ms, &limits)?;
            expired += due.len();
            if due.len() < ROWS_PER_BATCH {
                break;
            }
        }
        if expired > 0 {
            tracing::debug!(table = %self.name, rows = expired, "rows expired (TTL)");
        }
        Ok(expired)
    }
}
