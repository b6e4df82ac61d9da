//! Idempotent-producer state: per producer id, the current epoch and the metadata of its last
//! five batches, used to detect retried (duplicate) batches and sequence gaps with Kafka's rules.
//!
//! The state is not persisted separately: [`crate::recovery`] rebuilds it on open from the
//! batch headers of the retained segments, which carry everything needed.

use std::collections::{HashMap, VecDeque};

use weir_protocol::record_batch::BatchHeader;

use crate::error::StorageError;

/// How many recent batches per producer are remembered for duplicate detection (Kafka: 5).
pub(crate) const MAX_REMEMBERED_BATCHES: usize = 5;

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

    /// Records an appended batch (offsets already assigned) into `entry`.
    pub(crate) fn apply_to_entry(entry: &mut Option<ProducerEntry>, header: &BatchHeader) {
        let meta = BatchMetadata {
            first_seq: header.base_sequence,
            last_seq: header.last_sequence(),
            first_offset: header.base_offset,
            last_offset: header.last_offset(),
        };
        let e = entry.get_or_insert_with(|| ProducerEntry {
            epoch: header.producer_epoch,
            batches: VecDeque::new(),
        });
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

    /// Records an appended batch (used by appends and by the rebuild on open).
    pub(crate) fn apply(&mut self, header: &BatchHeader) {
        if header.producer_id < 0 {
            return;
        }
        let mut entry = self.producers.remove(&header.producer_id);
        Self::apply_to_entry(&mut entry, header);
        if let Some(e) = entry {
            self.producers.insert(header.producer_id, e);
        }
    }

    /// Replaces the state of the given producers (commit of a staged append).
    pub(crate) fn commit(&mut self, staged: HashMap<i64, ProducerEntry>) {
        self.producers.extend(staged);
    }

    /// Checks every producer batch of one request in order, as if each earlier batch had been
    /// appended. Returns the first duplicate found (the request is then answered from it and
    /// nothing is written), or the staged new states to [`commit`](Self::commit) after the write.
    /// `headers` must already carry their assigned offsets.
    pub(crate) fn check_request(
        &self,
        headers: &[BatchHeader],
    ) -> Result<Result<HashMap<i64, ProducerEntry>, BatchMetadata>, StorageError> {
        let mut staged: HashMap<i64, Option<ProducerEntry>> = HashMap::new();
        for h in headers.iter().filter(|h| h.producer_id >= 0) {
            let slot = staged
                .entry(h.producer_id)
                .or_insert_with(|| self.producers.get(&h.producer_id).cloned());
            match Self::check_entry(slot.as_ref(), h)? {
                SequenceCheck::Duplicate(meta) => return Ok(Err(meta)),
                SequenceCheck::Append => Self::apply_to_entry(slot, h),
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
        assert!(m.check_request(&[header(1, 0, 7, 2, 0)]).unwrap().is_ok());
        m.apply(&header(1, 0, 7, 2, 0));
        // Duplicate.
        assert_eq!(
            m.check_request(&[header(1, 0, 7, 2, 99)]).unwrap(),
            Err(BatchMetadata {
                first_seq: 7,
                last_seq: 8,
                first_offset: 0,
                last_offset: 1
            })
        );
        // Gap.
        assert!(matches!(
            m.check_request(&[header(1, 0, 10, 1, 2)]),
            Err(StorageError::OutOfOrderSequence {
                expected: 9,
                got: 10,
                ..
            })
        ));
        // New epoch must start at 0.
        assert!(matches!(
            m.check_request(&[header(1, 1, 9, 1, 2)]),
            Err(StorageError::OutOfOrderSequence { expected: 0, .. })
        ));
        assert!(m.check_request(&[header(1, 1, 0, 1, 2)]).unwrap().is_ok());
        m.apply(&header(1, 1, 0, 1, 2));
        assert!(matches!(
            m.check_request(&[header(1, 0, 9, 1, 3)]),
            Err(StorageError::InvalidProducerEpoch {
                current: 1,
                got: 0,
                ..
            })
        ));
        // Two batches in one request: the second continues the first.
        let staged = m
            .check_request(&[header(1, 1, 1, 2, 3), header(1, 1, 3, 1, 5)])
            .unwrap()
            .unwrap();
        m.commit(staged);
        assert_eq!(m.get(1).map(|e| e.batches.len()), Some(3));
    }

    #[test]
    fn wraparound_and_window() {
        let mut m = ProducerStateMap::default();
        m.apply(&header(5, 0, i32::MAX - 1, 2, 0));
        assert!(m.check_request(&[header(5, 0, 0, 1, 2)]).unwrap().is_ok());
        m.apply(&header(5, 0, 0, 1, 2));
        for i in 1..10 {
            m.apply(&header(5, 0, i, 1, 2 + i64::from(i)));
        }
        let e = m.get(5).unwrap();
        assert_eq!(e.batches.len(), MAX_REMEMBERED_BATCHES);
        // Oldest remembered is seq 5; seq 4 retried is no longer a known duplicate.
        assert!(m.check_request(&[header(5, 0, 5, 1, 0)]).unwrap().is_err());
        assert!(m.check_request(&[header(5, 0, 4, 1, 0)]).is_err());
    }
}
