//! Uploading one closed segment: convert it to an Arrow IPC file in a spool directory
//! (memory stays bounded by one chunk), stream the file to the store (one PUT for small
//! files, a multipart upload in [`PART_BYTES`] parts otherwise), then record it in the
//! manifest. The object name is derived from the offsets, so re-uploading after a crash
//! overwrites the same object instead of doubling it.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path as FsPath, PathBuf};
use std::time::Instant;

use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload, WriteMultipart};
use weir_storage::{PartitionLog, SegmentInfo};

use crate::error::TieringError;
use crate::manifest::RemoteSegment;
use crate::metrics;
use crate::partition::TieredPartition;
use crate::segment_file::{SegmentFileWriter, SegmentSummary};

/// Part size of multipart uploads (S3 needs at least 5 MiB per part but the last).
pub const PART_BYTES: usize = 8 * 1024 * 1024;
/// Parts of one upload in flight at once.
const PARTS_IN_FLIGHT: usize = 2;

/// Converts the closed segment at `base_offset` of `log` into an Arrow file at `spool`.
fn convert(
    log: &PartitionLog,
    base_offset: i64,
    changelog: bool,
    value: Option<weir_typed::ValueSchema>,
    spool: &FsPath,
) -> Result<SegmentSummary, TieringError> {
    let batches = log.closed_segment_batches(base_offset).ok_or_else(|| {
        TieringError::SegmentGone(format!("{}: segment {base_offset}", log.dir().display()))
    })?;
    let file = File::create(spool)?;
    let mut writer = SegmentFileWriter::typed(
        BufWriter::new(file),
        changelog,
        crate::ChunkLimits::default(),
        value,
    )?;
    for batch in batches {
        writer.push_batch(&batch?)?;
    }
    let (summary, mut out) = writer.finish_into_inner()?;
    out.flush()?;
    Ok(summary)
}

/// Streams the file at `spool` to `path`.
async fn put_file(tp: &TieredPartition, spool: PathBuf, path: &Path) -> Result<(), TieringError> {
    let store = tp.remote.store();
    let size = std::fs::metadata(&spool)?.len();
    if size <= PART_BYTES as u64 {
        let bytes = tokio::fs::read(&spool).await?;
        store
            .put(path, PutPayload::from(bytes))
            .await
            .inspect_err(|_| metrics::object_store_error("put"))?;
        return Ok(());
    }
    let upload = store
        .put_multipart(path)
        .await
        .inspect_err(|_| metrics::object_store_error("put"))?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
    let mut file = tokio::fs::File::open(&spool).await?;
    let mut buf = vec![0u8; PART_BYTES];
    let outcome: Result<(), TieringError> = async {
        loop {
            let n = tokio::io::AsyncReadExt::read(&mut file, &mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            writer.wait_for_capacity(PARTS_IN_FLIGHT).await?;
            writer.write(&buf[..n]);
        }
    }
    .await;
    match outcome {
        Ok(()) => {
            writer
                .finish()
                .await
                .inspect_err(|_| metrics::object_store_error("put"))?;
            Ok(())
        }
        Err(e) => {
            metrics::object_store_error("put");
            if let Err(abort) = writer.abort().await {
                tracing::warn!(error = %abort, "cannot abort multipart upload");
            }
            Err(e)
        }
    }
}

/// Uploads `segment` of `tp` and records it in the manifest.
pub(crate) async fn upload_segment(
    tp: &TieredPartition,
    segment: SegmentInfo,
    spool_dir: &FsPath,
    now_ms: i64,
) -> Result<(), TieringError> {
    let started = Instant::now();
    let id = tp.id();
    let spool = spool_dir.join(format!(
        "{}-{}-{:020}.arrow",
        id.topic, id.partition, segment.base_offset
    ));
    let log = tp.log.clone();
    let (base, changelog, file) = (segment.base_offset, id.changelog, spool.clone());
    let value = tp.value_schema();
    let converted =
        tokio::task::spawn_blocking(move || convert(&log, base, changelog, value, &file)).await;
    let summary = match converted {
        Ok(Ok(summary)) => summary,
        Ok(Err(e)) => {
            let _ = std::fs::remove_file(&spool);
            return Err(e);
        }
        Err(e) => {
            let _ = std::fs::remove_file(&spool);
            return Err(TieringError::Io(std::io::Error::other(format!(
                "conversion task failed: {e}"
            ))));
        }
    };
    let path = tp
        .remote
        .segment_path(&id.topic, id.partition, base, summary.last_offset);
    let put = put_file(tp, spool.clone(), &path).await;
    let _ = std::fs::remove_file(&spool);
    put?;
    // Durable before the manifest names it (and local retention may delete the segment).
    let (remote, object) = (tp.remote.clone(), path.clone());
    tokio::task::spawn_blocking(move || remote.sync(&object))
        .await
        .map_err(|e| std::io::Error::other(format!("sync task failed: {e}")))??;
    tp.metrics.uploaded_bytes.increment(summary.bytes_written);
    tp.record_upload(RemoteSegment {
        base_offset: base,
        last_offset: summary.last_offset,
        next_offset: segment.next_offset,
        record_count: i64::try_from(summary.record_count).unwrap_or(i64::MAX),
        max_timestamp: summary.max_timestamp,
        size_bytes: summary.bytes_written,
        log_bytes: segment.size_bytes,
        object: path.to_string(),
        uploaded_at_ms: now_ms,
    })
    .await?;
    metrics::upload_seconds().record(started.elapsed().as_secs_f64());
    tracing::info!(
        topic = %id.topic,
        partition = id.partition,
        base,
        last = summary.last_offset,
        bytes = summary.bytes_written,
        ms = started.elapsed().as_millis() as u64,
        "tiered segment"
    );
    Ok(())
}
