"""Kafka record batches through aiokafka's own reader: every codec, bounded, never a crash."""

from __future__ import annotations

import zlib
from typing import Any

import pytest
from aiokafka.consumer.fetcher import PartitionRecords
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.memory_records import MemoryRecords
from aiokafka.structs import TopicPartition

from llmpulse.stream_jobs.record_batches import (
    BatchRefused,
    bounded_decoders,
    install,
    refused_reason,
)

CODECS = {"gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
LIMIT = 4 * 1024 * 1024


def batch(codec: int, values: list[bytes], base_offset: int = 0) -> bytes:
    """A record batch as a producer writes it (aiokafka's builder and encoders)."""
    builder = DefaultRecordBatchBuilder(2, codec, 0, -1, -1, -1, 2**31 - 1)
    for i, v in enumerate(values):
        builder.append(i, timestamp=1_700_000_000_000, key=None, value=v, headers=[])
    raw = bytearray(builder.build())
    raw[0:8] = base_offset.to_bytes(8, "big")
    return bytes(raw)


def read(data: bytes) -> list[Any]:
    tp = TopicPartition("t", 0)
    return list(PartitionRecords(tp, MemoryRecords(data), [], 0, None, None, False, 0))


@pytest.fixture(autouse=True)
def guarded() -> None:
    install(LIMIT)


@pytest.mark.parametrize("name", sorted(CODECS))
def test_every_codec_reads_back_what_was_written(name: str) -> None:
    """snappy, lz4 and zstd crashed the worker: aiokafka had no library for them."""
    values = [b"span batch %d " % i * 200 for i in range(50)]
    got = read(batch(CODECS[name], values))
    assert [r.value for r in got] == values
    assert [r.offset for r in got] == list(range(50))
    assert all(refused_reason(r.headers) == "" for r in got)


@pytest.mark.parametrize("name", sorted(CODECS))
def test_a_batch_inflating_past_the_limit_stands_refused_for_each_offset(name: str) -> None:
    """A small batch of zeros that inflates to 4x the limit is never inflated whole:
    each of its offsets comes back refused, the batch after it is read."""
    bomb = batch(CODECS[name], [b"\0" * (LIMIT * 2), b"\0" * (LIMIT * 2)], base_offset=0)
    after = batch(CODECS[name], [b"fine"], base_offset=2)
    assert len(bomb) < LIMIT // 4  # snappy compresses zeros least: ~21x
    got = read(bomb + after)
    assert [r.offset for r in got] == [0, 1, 2]
    assert [bool(refused_reason(r.headers)) for r in got] == [True, True, False]
    assert "past" in refused_reason(got[0].headers) or "declares" in refused_reason(got[0].headers)
    assert got[2].value == b"fine"


@pytest.mark.parametrize("name", sorted(CODECS))
def test_a_damaged_compressed_batch_is_refused_not_raised(name: str) -> None:
    data = bytearray(batch(CODECS[name], [b"x" * 5000, b"y" * 5000]))
    data[-40:] = b"\xff" * 40  # the end of the compressed records (CRC is not checked)
    got = read(bytes(data) + batch(0, [b"next"], base_offset=2))
    assert [r.offset for r in got][-1] == 2 and got[-1].value == b"next"
    assert all(refused_reason(r.headers) for r in got[:-1])


def test_gzip_members_one_after_another_and_the_limit_exactly() -> None:
    gz = bounded_decoders(10)["gzip_decode"]
    member = zlib.compressobj(wbits=31)
    one = member.compress(b"12345") + member.flush()
    assert gz(one + one) == b"1234512345"
    with pytest.raises(BatchRefused):
        gz(one + one + one)


def test_a_refused_reason_comes_from_the_header_only() -> None:
    assert refused_reason([("llmpulse.refused", b"gzip: bad")]) == "gzip: bad"
    assert refused_reason({"other": b"x"}) == ""
    assert refused_reason(None) == ""
