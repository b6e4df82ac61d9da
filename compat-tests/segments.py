"""Minimal reader of Kafka record-batch v2 framing in Weir segment files (test-side only)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

# baseOffset int64, batchLength int32, partitionLeaderEpoch int32, magic int8, crc uint32,
# attributes int16, lastOffsetDelta int32
_HDR = struct.Struct(">qiibIhi")
BATCH_OVERHEAD = 12  # baseOffset + batchLength


@dataclass
class BatchInfo:
    pos: int
    base_offset: int
    length: int  # batchLength (bytes after the length field)
    magic: int
    attributes: int
    last_offset_delta: int

    @property
    def end_pos(self) -> int:
        return self.pos + BATCH_OVERHEAD + self.length

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def codec(self) -> int:
        return self.attributes & 0x7


CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def read_batches(path: Path) -> list[BatchInfo]:
    """Whole batches from the start of the file; stops at the first incomplete one."""
    data = Path(path).read_bytes()
    out = []
    pos = 0
    while pos + _HDR.size <= len(data):
        base, length, _epoch, magic, _crc, attrs, lod = _HDR.unpack_from(data, pos)
        if length <= 0 or pos + BATCH_OVERHEAD + length > len(data):
            break
        out.append(BatchInfo(pos, base, length, magic, attrs, lod))
        pos += BATCH_OVERHEAD + length
    return out
