"""Dead letters: the message or span rejected, why, where, and only its metadata.

A span's dead letter keeps the attributes llmpulse reads (the conventions' keys and
its own ``llmpulse.*`` tags) and the names of the others, never their values: content
hides under keys nobody listed (``gen_ai.task.input``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from llmpulse.schemas.content import is_content_key
from llmpulse.schemas.record import DeadLetter
from llmpulse.stream_jobs.decode import attributes
from llmpulse.stream_jobs.extract import key_table
from llmpulse.stream_jobs.normalise import Rejection

__all__ = ["message_dead_letter", "span_dead_letter"]

_PAYLOAD_KEEP = 64 * 1024
_READ_KEYS = frozenset(key_table())
_PARAMS = "llm.invocation_parameters"  # request parameters: may hold the messages


def message_dead_letter(
    msg: Any,
    index: int,
    stage: str,
    reason: str,
    detail: str,
    *,
    payload: bytes,
    trace_id: str = "",
    span_id: str = "",
    service: str = "",
) -> DeadLetter:
    return DeadLetter(
        source_topic=msg.topic,
        source_partition=msg.partition,
        source_offset=msg.offset,
        span_index=index,
        stage=stage,
        reason=reason,
        detail=detail,
        trace_id=trace_id,
        span_id=span_id,
        service_name=service,
        payload=payload[:_PAYLOAD_KEEP],
        payload_size=len(payload),
        rejected_at=datetime.now(UTC),
    )


def span_dead_letter(
    msg: Any, index: int, rej: Rejection, span: Any, fields: dict[str, Any]
) -> DeadLetter:
    # Only what llmpulse reads (the conventions' keys, its own llmpulse.* tags) is
    # kept, never the rest: content hides under keys nobody listed (gen_ai.task.input).
    kept, others = {}, []
    for k, v in attributes(span.attributes).items():
        if (k in _READ_KEYS and k != _PARAMS) or k.startswith("llmpulse."):
            if not is_content_key(k):
                kept[k] = v if not isinstance(v, str) else v[:512]
        else:
            others.append(k[:100])
    doc = {
        "name": span.name[:256],
        "start_time_unix_nano": span.start_time_unix_nano,
        "end_time_unix_nano": span.end_time_unix_nano,
        "attributes": kept,
        "other_attribute_keys": sorted(others)[:50],
    }
    payload = json.dumps(doc, default=str).encode()
    service = fields.get("service_name")
    return message_dead_letter(
        msg,
        index,
        rej.stage,
        rej.reason,
        rej.detail,
        payload=payload,
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        service=str(service or "")[:256],
    )
