//! Load generator for `scripts/bench-table.sh`: upserts into a table topic over the Kafka
//! protocol and times key lookups on the HTTP API while upserts continue.
//!
//! Phase 1 writes `--rows` upserts (keys `k0000000` … cycling over `--keys`, so the first
//! pass inserts and later passes update) from one connection per partition, acks=1, and
//! prints rows/s and MB/s. Phase 2 keeps upserting while one thread looks up random keys
//! with `GET /v1/tables/{topic}/keys/{key}` on a keep-alive connection for `--lookup-secs`,
//! and prints p50/p99/p999 latency of those lookups and the upsert rate meanwhile.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::{Bytes, BytesMut};
use clap::Parser;
use kafka_protocol::messages::{produce_request, ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use weir_broker::cli::client::Client;
use weir_broker::cli::ConnectArgs;
use weir_protocol::records::{encode_batch, LogRecord};

#[derive(Parser, Debug)]
struct Args {
    /// Kafka listener of the broker.
    #[arg(long, default_value = "127.0.0.1:9092")]
    bootstrap: String,
    /// HTTP admin listener of the broker.
    #[arg(long, default_value = "127.0.0.1:9644")]
    http: String,
    /// The table topic (created beforehand with cleanup.policy=compact).
    #[arg(long)]
    topic: String,
    /// Partitions of the topic (one producer connection each).
    #[arg(long, default_value_t = 2)]
    partitions: i32,
    /// Distinct keys.
    #[arg(long, default_value_t = 1_000_000)]
    keys: u64,
    /// Upserts in phase 1.
    #[arg(long, default_value_t = 2_000_000)]
    rows: u64,
    /// Value size in bytes.
    #[arg(long, default_value_t = 1024)]
    value_bytes: usize,
    /// Records per produce request (one batch; must fit the topic's max.message.bytes).
    #[arg(long, default_value_t = 200)]
    batch: usize,
    /// Duration of phase 2.
    #[arg(long, default_value_t = 20)]
    lookup_secs: u64,
}

fn key(i: u64) -> Bytes {
    Bytes::from(format!("k{i:07}"))
}

/// A batch of upserts of keys `first, first+step, …` (mod `keys`), values tagged with `round`
/// so that every round changes every row.
fn upserts(args: &Args, first: u64, step: u64, round: u64) -> Bytes {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let mut value = format!("{round:08}").into_bytes();
    value.resize(args.value_bytes, b'v');
    let value = Bytes::from(value);
    let records: Vec<LogRecord> = (0..args.batch as u64)
        .map(|n| LogRecord {
            offset: n as i64,
            timestamp: now,
            key: Some(key((first + n * step) % args.keys)),
            value: Some(value.clone()),
            headers: Vec::new(),
        })
        .collect();
    let mut out = BytesMut::new();
    encode_batch(&mut out, &records);
    out.freeze()
}

fn produce(topic: &str, partition: i32, records: Bytes) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![produce_request::TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_data(vec![
                produce_request::PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(records)),
            ])])
}

/// One producer: keys `partition, partition + partitions, …`, until `stop` or `quota` rows.
async fn producer(
    args: Arc<Args>,
    partition: i32,
    quota: Option<u64>,
    stop: Arc<AtomicBool>,
    written: Arc<AtomicU64>,
) -> Result<()> {
    let mut client = Client::connect(&ConnectArgs::plaintext(&args.bootstrap))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let step = args.partitions as u64;
    let mut next = partition as u64;
    let mut done = 0u64;
    let mut round = 0u64;
    while !stop.load(Ordering::Relaxed) && quota.is_none_or(|q| done < q) {
        let batch = upserts(&args, next, step, round);
        let response = client
            .call(&produce(&args.topic, partition, batch))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        for t in &response.responses {
            for p in &t.partition_responses {
                if p.error_code != 0 {
                    bail!(
                        "produce to partition {partition} failed: error {} {:?}",
                        p.error_code,
                        p.error_message
                    );
                }
            }
        }
        next += args.batch as u64 * step;
        round += 1;
        done += args.batch as u64;
        written.fetch_add(args.batch as u64, Ordering::Relaxed);
    }
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

fn lookups(args: &Args, stop: &AtomicBool) -> Result<Vec<Duration>> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut latencies = Vec::new();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let deadline = Instant::now() + Duration::from_secs(args.lookup_secs);
    while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        // xorshift: a uniformly spread key without a dependency.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        // Only keys phase 1 wrote exist.
        let k = state % args.keys.min(args.rows.max(1));
        let url = format!("http://{}/v1/tables/{}/keys/k{k:07}", args.http, args.topic);
        let started = Instant::now();
        let mut response = agent.get(&url).call().context("lookup")?;
        let body = response.body_mut().read_to_string()?;
        latencies.push(started.elapsed());
        if response.status().as_u16() != 200 {
            bail!("lookup of k{k:07}: HTTP {} {body}", response.status());
        }
    }
    latencies.sort();
    Ok(latencies)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Arc::new(Args::parse());
    let written = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));

    // Phase 1: upsert throughput.
    let per_partition = args.rows / args.partitions as u64;
    let started = Instant::now();
    let tasks: Vec<_> = (0..args.partitions)
        .map(|p| {
            tokio::spawn(producer(
                args.clone(),
                p,
                Some(per_partition),
                stop.clone(),
                written.clone(),
            ))
        })
        .collect();
    for t in tasks {
        t.await??;
    }
    let secs = started.elapsed().as_secs_f64();
    let rows = written.load(Ordering::Relaxed);
    println!(
        "upserts: {rows} rows ({} keys, {} B values) in {secs:.2} s = {:.0} rows/s, {:.1} MB/s",
        args.keys,
        args.value_bytes,
        rows as f64 / secs,
        rows as f64 * args.value_bytes as f64 / secs / 1e6
    );

    // Phase 2: lookups while upserts continue.
    written.store(0, Ordering::Relaxed);
    let started = Instant::now();
    let tasks: Vec<_> = (0..args.partitions)
        .map(|p| {
            tokio::spawn(producer(
                args.clone(),
                p,
                None,
                stop.clone(),
                written.clone(),
            ))
        })
        .collect();
    let lookup_args = args.clone();
    let lookup_stop = stop.clone();
    let latencies =
        tokio::task::spawn_blocking(move || lookups(&lookup_args, &lookup_stop)).await?;
    stop.store(true, Ordering::Relaxed);
    let secs = started.elapsed().as_secs_f64();
    for t in tasks {
        t.await??;
    }
    let latencies = latencies?;
    println!(
        "lookups under load: {} lookups in {secs:.1} s, p50 {:.3} ms, p99 {:.3} ms, p999 {:.3} ms (HTTP round trip); concurrent upserts {:.0} rows/s",
        latencies.len(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        percentile(&latencies, 0.999),
        written.load(Ordering::Relaxed) as f64 / secs
    );
    Ok(())
}
