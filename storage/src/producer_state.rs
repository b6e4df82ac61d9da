//! Idempotent-producer state: per producer id, the current epoch and the metadata of its last
//! five batches, used to detect retried (duplicate) batches and sequence gaps with Kafka's rules.
//!
//! The state is not persisted separately: [`crate::recovery`] rebuilds it on open from the
//! batch headers of the retained segments, which carry everything needed.
//!
//! A producer idle for `producer.id.expiration.ms` is forgotten, as Kafka does, so a stream of
//! new producer ids cannot grow the map forever: every entry remembers when it last appended
//! (the wall clock for live appends, the batch's max timestamp when rebuilt on open), and
//! [`ProducerStateMap::maybe_expire`] drops idle entries on the append path, at most every
//! [`EXPIRY_CHECK_INTERVAL_MS`].

use std::collections::{HashMap, VecDeque};

use weir_protocol::record_batch::BatchHeader;

use crate::error::StorageError;

/// How many recent batches per producer are remembered for duplicate detection (Kafka: 5).
pub(crate) const MAX_REMEMBERED_BATCHES: usize = 5;

/// How often the append path looks for expired producers (Kafka's
/// `producer.id.expiration.check.interval.ms` default), or the expiration itself if shorter.
pub(crate) const EXPIRY_CHECK_INTERVAL_MS: i64 = 600_000;

/// What the log remembers about one appended batch of a producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchMetadata {
    pub first_seq: i32,
    pub last_seq: i32,
    pub first_offset: i64,
    pub last_offset: i64,
}

/// The state of one producer id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProducerEntry {
    pub epoch: i16,
    pub batches: VecDeque<BatchMetadata>,
    /// When the producer last appended (ms): drives expiration.
    pub last_append_ms: i64,
}

/// Outcome of checking a batch against producer state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SequenceCheck {
    /// Write it.
    Append,
    /// A retry of a batch already in the log at these offsets: write nothing.
    Duplicate(BatchMetadata),
}

/// Producer id -> state.
#[derive(Debug, Default, Clone)]
pub(crate) struct ProducerStateMap {
    producers: HashMap<i64, ProducerEntry>,
    /// When [`ProducerStateMap::maybe_expire`] last scanned (ms).
    last_expiry_check_ms: i64,
}

/// The sequence after `seq`, wrapping from `i32::MAX` to 0.
fn next_sequence(seq: i32) -> i32 {
    if seq == i32::MAX {
        0
    } else {
        seq + 1
    }
}

impl ProducerStateMap {
    #[cfg(test)]
    pub(crate) fn get(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }

    /// Checks a batch (header with producer_id >= 0) against `entry` with Kafka's rules.
    pub(crate) fn check_entry(
        entry: Option<&ProducerEntry>,
        header: &BatchHeader,
    ) -> Result<SequenceCheck, StorageError> {
        let pid = header.producer_id;
        let Some(entry) = entry else {
            // Unknown producer: accepted at any sequence.
            return Ok(SequenceCheck::Append);
        };
        if header.producer_epoch < entry.epoch {
            return Err(StorageError::InvalidProducerEpoch {
                producer_id: pid,
                current: entry.epoch,
                got: header.producer_epoch,
            });
        }
        if header.base_sequence < 0 {
            // No sequence (non-idempotent batch carrying a producer id): nothing to check.
            return Ok(SequenceCheck::Append);
        }
        if header.producer_epoch > entry.epoch {
            if header.base_sequence != 0 {
                return Err(StorageError::OutOfOrderSequence {
                    producer_id: pid,
                    expected: 0,
                    got: header.base_sequence,
                });
            }
            return Ok(SequenceCheck::Append);
        }
        let last_seq = header.last_sequence();
        if let Some(dup) = entry
            .batches
            .iter()
            .find(|b| b.first_seq == header.base_sequence && b.last_seq == last_seq)
        {
            return Ok(SequenceCheck::Duplicate(*dup));
        }
        if let Some(last) = entry.batches.back() {
            let expected = next_sequence(last.last_seq);
            if header.base_sequence != expected {
                return Err(StorageError::OutOfOrderSequence {
                    producer_id: pid,
                    expected,
                    got: header.base_sequence,
                });
            }
        }
        Ok(SequenceCheck::Append)
    }

    /// Records an appended batch (offsets already assigned) into `entry`, appended at `at_ms`.
    pub(crate) fn apply_to_entry(
        entry: &mut Option<ProducerEntry>,
        header: &BatchHeader,
        at_ms: i64,
    ) {
        let meta = BatchMetadata {
            first_seq: header.base_sequence,
            last_seq: header.last_sequence(),
            first_offset: header.base_offset,
            last_offset: header.last_offset(),
        };
        let e = entry.get_or_insert_with(|| ProducerEntry {
            epoch: header.producer_epoch,
            batches: VecDeque::new(),
            last_append_ms: at_ms,
        });
        e.last_append_ms = e.last_append_ms.max(at_ms);
        if header.producer_epoch != e.epoch {
            e.epoch = header.producer_epoch;
            e.batches.clear();
        }
        if header.base_sequence < 0 {
            return;
        }
        e.batches.push_back(meta);
        while e.batches.len() > MAX_REMEMBERED_BATCHES {
            e.batches.pop_front();
        }
    }

    /// Records a stored batch (the rebuild on open), taking its max timestamp as the time the
    /// producer last appended.
    pub(crate) fn apply(&mut self, header: &BatchHeader) {
        if header.producer_id < 0 {
            return;
        }
        let mut entry = self.producers.remove(&header.producer_id);
        Self::apply_to_entry(&mut entry, header, header.max_timestamp);
        if let Some(e) = entry {
            self.producers.insert(header.producer_id, e);
        }
    }

    /// Replaces the state of the given producers (commit of a staged append).
    pub(crate) fn commit(&mut self, staged: HashMap<i64, ProducerEntry>) {
        self.producers.extend(staged);
    }

    /// The current state of the given producers (`None`: not known), to
    /// [`restore`](Self::restore) should the append that changes them be undone.
    pub(crate) fn saved<'a>(
        &self,
        producer_ids: impl Iterator<Item = &'a i64>,
    ) -> Vec<(i64, Option<ProducerEntry>)> {
        producer_ids
            .map(|pid| (*pid, self.producers.get(pid).cloned()))
            .collect()
    }

    /// Puts back the state [`saved`](Self::saved) before an append that was undone.
    pub(crate) fn restore(&mut self, saved: Vec<(i64, Option<ProducerEntry>)>) {
        for (pid, entry) in saved {
            match entry {
                Some(e) => self.producers.insert(pid, e),
                None => self.producers.remove(&pid),
            };
        }
    }

    /// Forgets producers that have not appended for `expiration_ms` (as of `now_ms`); scans at
    /// most every [`EXPIRY_CHECK_INTERVAL_MS`] (or `expiration_ms`, if shorter). Returns how
    /// many were forgotten.
    pub(crate) fn maybe_expire(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let interval = EXPIRY_CHECK_INTERVAL_MS.min(expiration_ms.max(0));
        if now_ms.saturating_sub(self.last_expiry_check_ms) < interval {
            return 0;
        }
        self.last_expiry_check_ms = now_ms;
        let before = self.producers.len();
        self.producers
            .retain(|_, e| now_ms.saturating_sub(e.last_append_ms) < expiration_ms);
        before - self.producers.len()
    }

    /// Number of producers remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.producers.len()
    }

    /// Checks every producer batch of one request in order, as if each earlier batch had been
    /// appended at `now_ms`. Returns the first duplicate found (the request is then answered
    /// from it and nothing is written), or the staged new states to [`commit`](Self::commit)
    /// after the write. `headers` must already carry their assigned offsets. A producer id at
    /// or above `producer_id_limit` was never handed out: UNKNOWN_PRODUCER_ID.
    pub(crate) fn check_request(
        &self,
        headers: &[BatchHeader],
        now_ms: i64,
        producer_id_limit: Option<i64>,
    ) -> Result<Result<HashMap<i64, ProducerEntry>, BatchMetadata>, StorageError> {
        let mut staged: HashMap<i64, Option<ProducerEntry>> = HashMap::new();
        for h in headers.iter().filter(|h| h.producer_id >= 0) {
            if producer_id_limit.is_some_and(|limit| h.producer_id >= limit) {
                return Err(StorageError::UnknownProducerId {
                    producer_id: h.producer_id,
                });
            }
            let slot = staged
                .entry(h.producer_id)
                .or_insert_with(|| self.producers.get(&h.producer_id).cloned());
            match Self::check_entry(slot.as_ref(), h)? {
                SequenceCheck::Duplicate(meta) => return Ok(Err(meta)),
                SequenceCheck::Append => Self::apply_to_entry(slot, h, now_ms),
            }
        }
        Ok(Ok(staged
            .into_iter()
            .filter_map(|(pid, e)| e.map(|e| (pid, e)))
            .collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(pid: i64, epoch: i16, seq: i32, count: i32, base: i64) -> BatchHeader {
        BatchHeader {
            base_offset: base,
            batch_length: 49,
            partition_leader_epoch: -1,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: count - 1,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            records_count: count,
        }
    }

    #[test]
    fn sequence_rules() {
        let mut m = ProducerStateMap::default();
        // Unknown producer at any sequence.
        assert!(m
            .check_request(&[header(1, 0, 7, 2, 0)], 0, None)
            .unwrap()
            .is_ok());
        m.apply(&header(1, 0, 7, 2, 0));
        // Duplicate.
        assert_eq!(
            m.check_request(&[header(1, 0, 7, 2, 99)], 0, None).unwrap(),
            Err(BatchMetadata {
                first_seq: 7,
                last_seq: 8,
                first_offset: 0,
                last_offset: 1
            })
        );
        // Gap.
        assert!(matches!(
            m.check_request(&[header(1, 0, 10, 1, 2)], 0, None),
            Err(StorageError::OutOfOrderSequence {
                expected: 9,
                got: 10,
                ..
            })
        ));
        // New epoch must start at 0.
        assert!(matches!(
            m.check_request(&[header(1, 1, 9, 1, 2)], 0, None),
            Err(StorageError::OutOfOrderSequence { expected: 0, .. })
        ));
        assert!(m
            .check_request(&[header(1, 1, 0, 1, 2)], 0, None)
            .unwrap()
            .is_ok());
        m.apply(&header(1, 1, 0, 1, 2));
        assert!(matches!(
            m.check_request(&[header(1, 0, 9, 1, 3)], 0, None),
            Err(StorageError::InvalidProducerEpoch {
                current: 1,
                got: 0,
                ..
            })
        ));
        // Two batches in one request: the second continues the first.
        let staged = m
            .check_request(&[header(1, 1, 1, 2, 3), header(1, 1, 3, 1, 5)], 0, None)
            .unwrap()
            .unwrap();
        m.commit(staged);
        assert_eq!(m.get(1).map(|e| e.batches.len()), Some(3));
    }

    #[test]
    fn wraparound_and_window() {
        let mut m = ProducerStateMap::default();
        m.apply(&header(5, 0, i32::MAX - 1, 2, 0));
        assert!(m
            .check_request(&[header(5, 0, 0, 1, 2)], 0, None)
            .unwrap()
            .is_ok());
        m.apply(&header(5, 0, 0, 1, 2));
        for i in 1..10 {
            m.apply(&header(5, 0, i, 1, 2 + i64::from(i)));
        }
        let e = m.get(5).unwrap();
        assert_eq!(e.batches.len(), MAX_REMEMBERED_BATCHES);
        // Oldest remembered is seq 5; seq 4 retried is no longer a known duplicate.
        assert!(m
            .check_request(&[header(5, 0, 5, 1, 0)], 0, None)
            .unwrap()
            .is_err());
        assert!(m.check_request(&[header(5, 0, 4, 1, 0)], 0, None).is_err());
    }

    #[test]
    fn unknown_producer_ids_are_refused() {
        let m = ProducerStateMap::default();
        assert!(m
            .check_request(&[header(9, 0, 0, 1, 0)], 0, Some(10))
            .is_ok());
        assert!(matches!(
            m.check_request(&[header(10, 0, 0, 1, 0)], 0, Some(10)),
            Err(StorageError::UnknownProducerId { producer_id: 10 })
        ));
        // Batches without a producer id are not affected.
        assert!(m
            .check_request(&[header(-1, -1, -1, 1, 0)], 0, Some(0))
            .is_ok());
    }

    #[test]
    fn idle_producers_expire() {
        let mut m = ProducerStateMap::default();
        for pid in 0..100 {
            let staged = m
                .check_request(&[header(pid, 0, 0, 1, pid)], 1_000 + pid, None)
                .unwrap()
                .unwrap();
            m.commit(staged);
        }
        assert_eq!(m.len(), 100);
        // A first scan: nobody idle for 900 ms yet.
        assert_eq!(m.maybe_expire(1_000, 900), 0);
        // Too soon after the last scan (producer 0 would not be idle enough anyway).
        assert_eq!(m.maybe_expire(1_500, 900), 0);
        // Producer p appended at 1_000 + p: idle >= 900 at 1_950 for p <= 50.
        assert_eq!(m.maybe_expire(1_950, 900), 51);
        assert_eq!(m.len(), 49);
        assert!(m.get(50).is_none() && m.get(51).is_some());
        // A forgotten producer is unknown again: any sequence is accepted.
        assert!(m
            .check_request(&[header(3, 0, 77, 1, 0)], 2_000, None)
            .unwrap()
            .is_ok());
        // Stored batches count from their max timestamp.
        let mut h = header(500, 0, 0, 1, 0);
        h.max_timestamp = 10_000;
        m.apply(&h);
        assert_eq!(m.get(500).map(|e| e.last_append_ms), Some(10_000));
    }
}
