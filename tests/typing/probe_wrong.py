"""Type-checker probe that mypy must reject (see ``probe_ok.py``): each line is wrong
only for a checker that sees llmpulse's types; a blind one (``Any``) accepts them all."""

from __future__ import annotations

from llmpulse.schemas.record import CallRecord
from llmpulse.stream_jobs.pricing import PriceCatalogue


def probe(record: CallRecord) -> None:
    tokens: str = record.input_tokens  # noqa: F841  # PROBE: int is not str
    PriceCatalogue.load().no_such_method()  # PROBE: attribute does not exist
