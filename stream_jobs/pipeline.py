"""One batch of Kafka messages in, priced call records and dead letters out.

Plain code, testable without Kafka: the Faust agent hands it messages and writes
what comes back. Nothing in here raises on bad input: every message ends up as
call records, skipped non-LLM spans (counted), or dead letters with a reason.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import crc32c

from llmpulse.schemas.record import AgentSpan, BatchRow, CallRecord, DeadLetter
from llmpulse.stream_jobs.agents import agent_span
from llmpulse.stream_jobs.conventions import RESOURCE_FIRST
from llmpulse.stream_jobs.dead_letters import message_dead_letter, span_dead_letter
from llmpulse.stream_jobs.decode import DecodeError, decode_request
from llmpulse.stream_jobs.encodings import HINT, NotOtlp, is_json, json_to_protobuf, stray_fields
from llmpulse.stream_jobs.extract import extract, is_agent, is_llm
from llmpulse.stream_jobs.fastpath import Fed, NativeScanner, native_available, read_block
from llmpulse.stream_jobs.normalise import Limits, Rejection, normalise_span
from llmpulse.stream_jobs.pricing import PriceCatalogue
from llmpulse.stream_jobs.salvage import salvage_request

__all__ = ["BatchResult", "Message", "Pipeline"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Message:
    """One Kafka message: where it came from and its value.

    ``refused`` is set when the record batch holding it could not be read (see
    :mod:`~llmpulse.stream_jobs.record_batches`): the message is a dead letter.
    """

    topic: str
    partition: int
    offset: int
    value: bytes
    refused: str = ""


@dataclass
class BatchResult:
    """What a batch produced; ``token`` identifies the batch for idempotent inserts.

    Calls settled by the compiled path are in ``native_block`` (a ClickHouse Native
    block of ``native_rows`` rows), the rest in ``calls``; :meth:`records` has both.
    """

    calls: list[CallRecord] = field(default_factory=list)
    native_block: bytes = b""
    native_rows: int = 0
    dead_letters: list[DeadLetter] = field(default_factory=list)
    batches: list[BatchRow] = field(default_factory=list)
    #: Tool, agent, workflow and task spans (counted in ``non_llm_spans`` too).
    agent_spans: list[AgentSpan] = field(default_factory=list)
    spans: int = 0
    non_llm_spans: int = 0
    #: Each source message: (topic, partition, offset, length, CRC-32C of its value).
    sources: list[tuple[str, int, int, int, int]] = field(default_factory=list)
    #: Rejected spans per (topic, partition, offset, reason); where the record that
    #: counts those beyond the samples stands in ``dead_letters``.
    rejections: dict[tuple[str, int, int, str], int] = field(default_factory=dict)
    overflow: dict[tuple[str, int, int, str], int] = field(default_factory=dict)

    @property
    def call_count(self) -> int:
        return len(self.calls) + self.native_rows

    def records(self) -> list[CallRecord]:
        """Every call of the batch as a CallRecord (the Native block read back)."""
        return read_block(self.native_block) + self.calls

    @property
    def token(self) -> str:
        """A deterministic id of the batch's messages: where each came from AND what it
        held (length and CRC-32C of its bytes), so the same input gives the same token
        and a different message at a reused offset (topic recreated, another cluster,
        a restored broker) never passes for a replay and is never deduplicated away."""
        h = hashlib.sha256()
        for topic, partition, offset, size, crc in sorted(self.sources):
            h.update(f"{topic}/{partition}/{offset}/{size}/{crc:08x};".encode())
        return h.hexdigest()[:32]


class Pipeline:
    """Decode, keep LLM spans, validate, normalise and price a batch of messages.

    ``native`` picks the compiled path (default: when it is built); without it
    every span takes the Python reference path, with the same results.
    """

    def __init__(
        self,
        catalogue: PriceCatalogue | None = None,
        limits: Limits | None = None,
        max_message_bytes: int = 8 * 1024 * 1024,
        clock_ns: Callable[[], int] = time.time_ns,
        native: bool | None = None,
        dead_letter_samples: int = 10,
    ) -> None:
        #: Per message and reason, this many rejected spans get a dead letter each;
        #: one more record counts the rest (bounds dead letters per message).
        self.dead_letter_samples = dead_letter_samples
        self.catalogue = catalogue or PriceCatalogue.load()
        self.limits = limits or Limits()
        self.max_message_bytes = max_message_bytes
        self.clock_ns = clock_ns
        if native is None:
            native = native_available()
        self.native = NativeScanner(self.catalogue, self.limits) if native else None

    def process(self, messages: Sequence[Message]) -> BatchResult:
        """Process messages in order; never raises on their content."""
        result = BatchResult()
        now_ns = self.clock_ns()
        for msg in messages:
            value = msg.value or b""
            result.sources.append(
                (msg.topic, msg.partition, msg.offset, len(value), crc32c.crc32c(value))
            )
            try:
                self._process_message(msg, now_ns, result)
            except Exception as exc:  # a bug must not stall the partition
                log.exception("internal error on %s/%d@%d", *_where(msg))
                result.dead_letters.append(
                    message_dead_letter(
                        msg, -1, "normalise", "internal_error", repr(exc)[:500], payload=msg.value
                    )
                )
        if self.native is not None:
            result.native_block, result.native_rows = self.native.take_block()
        for key, pos in result.overflow.items():
            more = result.rejections[key] - self.dead_letter_samples
            dl = result.dead_letters[pos]
            result.dead_letters[pos] = dl._replace(
                span_count=more, detail=f"{dl.detail} (this and {more - 1} more spans like it)"
            )
        return result

    def _reject(
        self,
        msg: Message,
        index: int,
        rej: Rejection,
        span: Any,
        fields: dict[str, Any],
        result: BatchResult,
    ) -> None:
        """A dead letter for the span, unless the message's samples of this reason are
        taken: then it is counted on the one record that stands for the rest."""
        key = (msg.topic, msg.partition, msg.offset, rej.reason)
        n = result.rejections[key] = result.rejections.get(key, 0) + 1
        if n > self.dead_letter_samples + 1:
            return
        if n == self.dead_letter_samples + 1:
            result.overflow[key] = len(result.dead_letters)
        result.dead_letters.append(span_dead_letter(msg, index, rej, span, fields))

    def _process_message(self, msg: Message, now_ns: int, result: BatchResult) -> None:
        value = msg.value or b""
        counts = [0, 0, 0, 0, 0]  # spans, llm, non_llm, rejected, unpriced
        if msg.refused:
            result.dead_letters.append(
                message_dead_letter(msg, -1, "fetch", "unreadable_batch", msg.refused, payload=b"")
            )
            counts[3] = 1
        elif len(value) > self.max_message_bytes:
            result.dead_letters.append(
                message_dead_letter(
                    msg,
                    -1,
                    "decode",
                    "oversized_message",
                    f"{len(value)} bytes > {self.max_message_bytes}",
                    payload=value,
                )
            )
            counts[3] = 1
        elif is_json(value):
            try:
                self._process_body(msg, json_to_protobuf(value), now_ns, result, counts)
            except NotOtlp as exc:
                result.dead_letters.append(
                    message_dead_letter(
                        msg, -1, "decode", "wrong_encoding", str(exc), payload=value
                    )
                )
                counts[3] = 1
        else:
            self._process_body(msg, value, now_ns, result, counts)
        result.spans += counts[0]
        result.non_llm_spans += counts[2]
        spans, llm, non_llm, rejected, unpriced = counts
        result.batches.append(
            BatchRow(
                msg.topic,
                msg.partition,
                msg.offset,
                len(value),
                spans,
                llm,
                non_llm,
                rejected,
                unpriced,
                datetime.now(UTC),
            )
        )

    def _process_body(
        self, msg: Message, value: bytes, now_ns: int, result: BatchResult, counts: list[int]
    ) -> None:
        """An OTLP protobuf request: the compiled path, else the Python one (salvaging
        what it can of a message that does not decode)."""
        fed = self._feed_native(msg, value, now_ns)
        if isinstance(fed, Fed):
            counts[:] = [fed.spans, fed.llm, fed.non_llm, 0, fed.unpriced]
            if fed.slow or fed.agents:
                req = decode_request(value)
                slow = dict(fed.slow)
                for index in fed.agents:
                    slow[index] = False  # read by the Python path, kept as agent spans
                self._process_request(
                    msg, req, now_ns, result, counts, slow, agents=frozenset(fed.agents)
                )
        else:
            try:
                req = decode_request(value)
            except DecodeError as exc:
                salvaged = salvage_request(value)
                if salvaged is None:
                    result.dead_letters.append(
                        message_dead_letter(
                            msg,
                            -1,
                            "decode",
                            "malformed_protobuf",
                            f"{str(exc)[:400]}; {HINT}",
                            payload=value,
                        )
                    )
                    counts[3] = 1
                else:  # one bad span costs only that span
                    req, broken = salvaged
                    self._process_request(msg, req, now_ns, result, counts, broken=broken)
            else:
                self._process_request(msg, req, now_ns, result, counts)
        if counts[0] == 0 and counts[3] == 0 and value:
            try:
                stray = stray_fields(decode_request(value))
            except DecodeError:
                stray = 0
            if stray:  # decoded to no spans, but carries fields OTLP does not define
                result.dead_letters.append(
                    message_dead_letter(
                        msg,
                        -1,
                        "decode",
                        "wrong_encoding",
                        f"no spans, {stray} fields OTLP does not define; {HINT}",
                        payload=value,
                    )
                )
                counts[3] = 1

    def _feed_native(self, msg: Message, value: bytes, now_ns: int) -> Fed | str | None:
        if self.native is None:
            return None
        latest, earliest = self.limits.start_window(now_ns)
        fed = self.native.feed(value, msg.partition, msg.offset, latest, earliest)
        if isinstance(fed, str):
            log.debug("%s/%d@%d left to the Python path: %s", *_where(msg), fed)
        return fed

    def _process_request(
        self,
        msg: Message,
        req: Any,
        now_ns: int,
        result: BatchResult,
        counts: list[int],
        only: dict[int, bool] | None = None,
        broken: dict[int, str] | None = None,
        agents: frozenset[int] = frozenset(),
    ) -> None:
        """Every span of the request, or ``only`` those (index -> duplicate) the
        compiled path left over (it counted the spans already); ``broken`` spans
        (index -> decoding error, from :func:`.salvage.salvage_request`) are rejected."""
        seen: set[bytes] = set()
        index = -1
        for rs in req.resource_spans:
            resource: dict[str, Any] | None = None
            for ss in rs.scope_spans:
                for span in ss.spans:
                    index += 1
                    if only is not None and index not in only:
                        continue
                    if broken and index in broken:
                        counts[0] += 1
                        counts[1] += 1
                        counts[3] += 1
                        bad = Rejection("malformed_protobuf", broken[index], "decode")
                        self._reject(msg, index, bad, span, {}, result)
                        continue
                    if resource is None:
                        resource, _ = extract(rs.resource.attributes)
                        resource.pop("oi_kind", None)
                    fields, flags = extract(span.attributes)
                    if index in agents or (only is None and not is_llm(fields, flags)):
                        if only is None:
                            counts[0] += 1
                            counts[2] += 1
                        if index in agents or is_agent(fields):
                            self._agent(msg, span, resource, fields, now_ns, result)
                        continue
                    if only is None:
                        counts[0] += 1
                        counts[1] += 1
                        key = span.trace_id + span.span_id
                        duplicate = key in seen
                        seen.add(key)
                    else:
                        duplicate = only[index]
                    merged = _merge(resource, fields)
                    self._one_span(
                        msg, index, span, merged, flags, duplicate, now_ns, result, counts
                    )

    def _agent(
        self,
        msg: Message,
        span: Any,
        resource: dict[str, Any],
        fields: dict[str, Any],
        now_ns: int,
        result: BatchResult,
    ) -> None:
        row = agent_span(
            span, _merge(resource, fields), now_ns, self.limits, (msg.partition, msg.offset)
        )
        if row is not None:
            result.agent_spans.append(row)

    def _one_span(
        self,
        msg: Message,
        index: int,
        span: Any,
        merged: dict[str, Any],
        flags: int,
        duplicate: bool,
        now_ns: int,
        result: BatchResult,
        counts: list[int],
    ) -> None:
        try:
            if duplicate and len(span.trace_id) == 16 and len(span.span_id) == 8:
                raise Rejection("duplicate_span", "span id repeated in the message")
            record = normalise_span(
                span,
                merged,
                flags,
                self.catalogue,
                now_ns,
                self.limits,
                (msg.partition, msg.offset),
            )
        except Rejection as rej:
            counts[3] += 1
            self._reject(msg, index, rej, span, merged, result)
            return
        except Exception as exc:
            log.exception("internal error normalising span %d of %s/%d@%d", index, *_where(msg))
            counts[3] += 1
            bug = Rejection("internal_error", repr(exc)[:500], "normalise")
            self._reject(msg, index, bug, span, merged, result)
            return
        if record.price_status != "ok":
            counts[4] += 1
        result.calls.append(record)


def _where(msg: Message) -> tuple[str, int, int]:
    return msg.topic, msg.partition, msg.offset


def _merge(resource: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """A span's fields over its resource's, except RESOURCE_FIRST (the resource wins)."""
    if not resource:
        return fields
    merged = {**resource, **fields}
    for name in RESOURCE_FIRST:
        if resource.get(name) not in (None, ""):
            merged[name] = resource[name]
    return merged
