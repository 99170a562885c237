"""Kafka record batches as the worker reads them: every codec, bounded, never a crash.

aiokafka inflates a compressed record batch whole, with no limit, and raises on one
it cannot inflate: a 1.5 MB gzip batch of zeros took a worker to 3.8 GB, and a batch
in a codec whose library is missing (or damaged) crashed the worker on the same
offset at every restart. :func:`install` replaces its decoders with ones that stop
at ``limit`` decompressed bytes (checked as they inflate, or from the declared size
before anything is allocated), and makes a batch that cannot be read stand for its
offsets as *refused* records: each is dead-lettered with the reason and the
partition goes on.

Codecs: gzip (zlib), snappy (raw and xerial framing, cramjam), lz4 (frame, lz4),
zstd (backports.zstd) - what Kafka clients and the OpenTelemetry Collector write.
"""

from __future__ import annotations

import logging
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["REFUSED_HEADER", "BatchRefused", "bounded_decoders", "install", "refused_reason"]

log = logging.getLogger(__name__)
#: Header of a record that stands for an unreadable batch's offset; value is the reason.
REFUSED_HEADER = "llmpulse.refused"
_XERIAL = b"\x82SNAPPY\x00"


class BatchRefused(Exception):
    """A record batch that is not read: too large once inflated, or undecodable."""


def _gzip(data: Any, limit: int) -> bytes:
    out, view = [], memoryview(data).tobytes()
    total = 0
    while view:
        d = zlib.decompressobj(wbits=47)  # gzip or zlib header, members one after another
        try:
            chunk = d.decompress(view, limit + 1 - total)
        except zlib.error as exc:
            raise BatchRefused(f"gzip: {exc}") from None
        total += len(chunk)
        if total > limit or d.unconsumed_tail:
            raise BatchRefused(f"gzip batch inflates past {limit} bytes")
        if not d.eof:
            raise BatchRefused("gzip: truncated stream")
        out.append(chunk)
        view = d.unused_data
    return b"".join(out)


def _snappy(data: Any, limit: int) -> bytes:
    import cramjam

    raw = bytes(data)

    def block(b: bytes) -> bytes:
        try:
            n = int(cramjam.snappy.decompress_raw_len(b))
        except Exception as exc:
            raise BatchRefused(f"snappy: {exc}") from None
        if n > limit:
            raise BatchRefused(f"snappy batch declares {n} bytes > {limit}")
        try:
            return bytes(cramjam.snappy.decompress_raw(b))
        except Exception as exc:
            raise BatchRefused(f"snappy: {exc}") from None

    if not raw.startswith(_XERIAL):
        return block(raw)
    pos, out, total = 16, [], 0  # xerial: 16-byte header, then [int32 length][raw block]...
    while pos < len(raw):
        if pos + 4 > len(raw):
            raise BatchRefused("snappy: truncated xerial block")
        (n,) = struct.unpack_from(">i", raw, pos)
        if n < 0 or pos + 4 + n > len(raw):
            raise BatchRefused("snappy: xerial block past the end")
        chunk = block(raw[pos + 4 : pos + 4 + n])
        total += len(chunk)
        if total > limit:
            raise BatchRefused(f"snappy batch inflates past {limit} bytes")
        out.append(chunk)
        pos += 4 + n
    return b"".join(out)


def _lz4(data: Any, limit: int) -> bytes:
    import lz4.frame

    d = lz4.frame.LZ4FrameDecompressor()
    try:
        out = d.decompress(bytes(data), max_length=limit + 1)
    except RuntimeError as exc:
        raise BatchRefused(f"lz4: {exc}") from None
    if len(out) > limit or (not d.eof and not d.needs_input):
        raise BatchRefused(f"lz4 batch inflates past {limit} bytes")
    if not d.eof:
        raise BatchRefused("lz4: truncated frame")
    return bytes(out)


def _zstd(data: Any, limit: int) -> bytes:
    from backports import zstd

    raw, out, total = bytes(data), [], 0
    while raw:
        d = zstd.ZstdDecompressor()
        try:
            chunk = d.decompress(raw, max_length=limit + 1 - total)
        except zstd.ZstdError as exc:
            raise BatchRefused(f"zstd: {exc}") from None
        total += len(chunk)
        if total > limit or (not d.eof and not d.needs_input):
            raise BatchRefused(f"zstd batch inflates past {limit} bytes")
        if not d.eof:
            raise BatchRefused("zstd: truncated frame")
        out.append(chunk)
        raw = d.unused_data
    return b"".join(out)


def bounded_decoders(limit: int) -> dict[str, Any]:
    """aiokafka's decoder names -> decoders that refuse past ``limit`` bytes."""
    return {
        "gzip_decode": lambda data: _gzip(data, limit),
        "snappy_decode": lambda data: _snappy(data, limit),
        "lz4_decode": lambda data: _lz4(data, limit),
        "zstd_decode": lambda data: _zstd(data, limit),
    }


@dataclass
class _Refused:
    """A record standing for one offset of a batch that was not read."""

    offset: int
    timestamp: int
    timestamp_type: int
    reason: str
    key: None = None
    value: bytes = b""
    checksum: None = None
    headers: list[tuple[str, bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.headers = [(REFUSED_HEADER, self.reason.encode()[:500])]


class _GuardedBatch:
    """A batch whose records are read, or, when it cannot be read, refused per offset."""

    def __init__(self, batch: Any) -> None:
        self._batch = batch

    def __getattr__(self, name: str) -> Any:
        return getattr(self._batch, name)

    def __next__(self) -> Any:
        return next(self._batch)

    def __iter__(self) -> Iterator[Any]:
        b, last = self._batch, None
        try:
            for record in b:
                last = record.offset
                yield record
        except Exception as exc:
            reason = str(exc) if isinstance(exc, BatchRefused) else f"{type(exc).__name__}: {exc}"
            first = b.base_offset if last is None else last + 1
            log.error(
                "record batch at offset %d (to %d) not read: %s",
                b.base_offset,
                b.next_offset - 1,
                reason,
            )
            ts = getattr(b, "first_timestamp", -1) or -1
            for offset in range(first, b.next_offset):
                yield _Refused(offset, ts, getattr(b, "timestamp_type", 0) or 0, reason)


class _GuardedRecords:
    def __init__(self, records: Any) -> None:
        self._records = records

    def __getattr__(self, name: str) -> Any:
        return getattr(self._records, name)

    def next_batch(self) -> Any:
        batch = self._records.next_batch()
        return None if batch is None else _GuardedBatch(batch)


def refused_reason(headers: Any) -> str:
    """The reason a record stands for an unread batch ("" for a real record)."""
    items = headers.items() if isinstance(headers, dict) else headers or ()
    for key, value in items:
        if key == REFUSED_HEADER:
            return bytes(value).decode(errors="replace") or "unreadable record batch"
    return ""


_installed: list[int] = []


def install(limit: int) -> None:
    """Bound every codec aiokafka uses to ``limit`` decompressed bytes per batch, and
    turn an unreadable batch into refused records (idempotent; the last limit wins)."""
    import aiokafka.codec
    import aiokafka.record.default_records as pure
    from aiokafka.consumer import fetcher

    decoders = bounded_decoders(limit)
    modules: list[Any] = [pure, aiokafka.codec]
    try:
        from aiokafka.record._crecords import default_records as compiled

        modules.append(compiled)
    except ImportError:  # pure-Python aiokafka
        pass
    for module in modules:
        for name, fn in decoders.items():
            setattr(module, name, fn)
    for name in ("has_snappy", "has_lz4", "has_zstd"):
        setattr(aiokafka.codec, name, lambda: True)
    if not _installed:
        original = fetcher.PartitionRecords.__init__

        def guarded_init(self: Any, tp: Any, records: Any, *args: Any, **kw: Any) -> None:
            original(self, tp, _GuardedRecords(records), *args, **kw)

        fetcher.PartitionRecords.__init__ = guarded_init
    _installed[:] = [limit]
