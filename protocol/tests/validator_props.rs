//! Property tests of the produce-time record validator: on arbitrary bytes and on arbitrary
//! mutations of valid batches of every codec it never panics and accepts exactly what the
//! independent reference parser (Kafka's rules, in `common`) accepts; decoding the same bytes
//! for read-back never panics either.

mod common;

use common::*;
use proptest::prelude::*;
use weir_protocol::records::{decode_batch, decode_batch_records};
use weir_protocol::validate_records::validate_batch;

const CAP: usize = 1 << 20;

fn check(batch: &[u8]) -> Result<(), TestCaseError> {
    let verdict = validate_batch(batch, CAP);
    let expected = reference_accepts(batch, CAP);
    prop_assert_eq!(
        verdict.is_ok(),
        expected,
        "validator said {:?}, reference {}",
        verdict,
        expected
    );
    // Read-back decoding of the same bytes: any result, no panic.
    let _ = decode_batch(batch);
    let _ = decode_batch_records(batch);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn valid_batches_of_every_codec_are_accepted(records in arb_records(), codec in 0usize..5) {
        let batch = valid_batch(CODECS[codec], &records);
        prop_assert!(reference_accepts(&batch, CAP));
        let v = validate_batch(&batch, CAP).unwrap();
        prop_assert_eq!(v.header.records_count as usize, records.len());
        prop_assert_eq!(decode_batch(&batch).unwrap(), records);
    }

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        check(&bytes)?;
    }

    #[test]
    fn arbitrary_records_behind_a_valid_header(
        payload in proptest::collection::vec(any::<u8>(), 0..300),
        count in -2i32..8,
        codec in 0i16..8,
    ) {
        check(&batch_with_payload(codec, count, count - 1, &payload))?;
    }

    #[test]
    fn mutated_valid_batches(
        records in arb_records(),
        codec in 0usize..5,
        mutations in proptest::collection::vec(arb_mutation(), 1..4),
    ) {
        let mut batch = valid_batch(CODECS[codec], &records);
        for m in &mutations {
            if batch.is_empty() {
                break;
            }
            batch = mutate(&batch, m);
        }
        check(&batch)?;
    }

    #[test]
    fn mutated_plain_records_reach_the_record_rules(
        records in arb_records(),
        mutations in proptest::collection::vec(arb_mutation(), 1..3),
    ) {
        // Uncompressed: every mutation lands on record bytes the validator must judge.
        let mut batch = valid_batch(0, &records);
        for m in &mutations {
            if batch.len() <= 61 {
                break;
            }
            batch = mutate(&batch, m);
        }
        check(&batch)?;
    }
}

#[test]
fn reference_and_validator_agree_on_known_cases() {
    let records = vec![weir_protocol::records::LogRecord {
        offset: 0,
        timestamp: 1_000,
        key: Some("k".into()),
        value: None,
        headers: vec![],
    }];
    let good = valid_batch(0, &records);
    assert!(reference_accepts(&good, CAP));
    assert!(validate_batch(&good, CAP).is_ok());
    // Codec 5, count past the records, trailing bytes: all refused by both.
    let mut codec5 = good.clone();
    codec5[22] = 5;
    let mut more = good.clone();
    more[57..61].copy_from_slice(&2i32.to_be_bytes());
    more[23..27].copy_from_slice(&1i32.to_be_bytes());
    let trailing = batch_with_payload(0, 1, 0, &[&good[61..], &[0u8][..]].concat());
    for mut bad in [codec5, more, trailing] {
        weir_protocol::records::rewrite_crc(&mut bad).unwrap();
        assert!(!reference_accepts(&bad, CAP));
        assert!(validate_batch(&bad, CAP).is_err());
    }
}
