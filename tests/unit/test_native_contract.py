"""The compiled path and the Python definitions: rules handed over, constants checked."""

from __future__ import annotations

import time
from typing import Any

import pytest

from llmpulse.errors import ConfigError
from llmpulse.schemas import record
from llmpulse.schemas.record import CallRecord
from llmpulse.stream_jobs import Message, Pipeline, _native, extract, normalise
from llmpulse.stream_jobs.extract import key_table
from llmpulse.stream_jobs.fastpath import Fed, NativeScanner, check_contract, read_block
from llmpulse.stream_jobs.normalise import Limits
from llmpulse.stream_jobs.pricing import PriceCatalogue
from tests import otlp

CATALOGUE = PriceCatalogue.load()
NOW = time.time_ns()


def scanner() -> NativeScanner:
    return NativeScanner(CATALOGUE, Limits())


def feed(s: NativeScanner, payload: bytes) -> Fed:
    fed = s.feed(payload, 0, 0, *Limits().start_window(NOW))
    assert isinstance(fed, Fed), fed
    return fed


def rows(s: NativeScanner, *attrs: dict[str, Any]) -> list[CallRecord]:
    fed = feed(s, otlp.request([otlp.span(a) for a in attrs]))
    assert fed.slow == []
    return read_block(s.take_block()[0])


def test_the_extension_agrees_with_python() -> None:
    """Fields, columns, types, constants and labels all match: the scanner builds."""
    check_contract(_native.contract(), key_table())
    assert len(rows(scanner(), otlp.gen_ai())) == 1


@pytest.mark.parametrize(
    "columns",
    [
        (record.CALL_COLUMNS[1], record.CALL_COLUMNS[0], *record.CALL_COLUMNS[2:]),
        (*record.CALL_COLUMNS, "ingested_at"),
        record.CALL_COLUMNS[:-1],
    ],
    ids=["reordered", "one-more", "one-fewer"],
)
def test_call_columns_unlike_the_blocks_are_caught(
    monkeypatch: pytest.MonkeyPatch, columns: tuple[str, ...]
) -> None:
    """CALL_COLUMNS in another order, or with a column more or less: no scanner."""
    monkeypatch.setattr(record, "CALL_COLUMNS", columns)
    with pytest.raises(ConfigError, match=r"the block's columns .* are not CALL_COLUMNS"):
        scanner()


def test_a_column_type_unlike_the_callrecord_field_is_caught() -> None:
    """A block column whose ClickHouse type does not hold the CallRecord field's type."""
    contract = _native.contract()
    contract["columns"] = tuple(
        (name, "Float64" if name == "retry_attempt" else ty) for name, ty in contract["columns"]
    )
    with pytest.raises(ConfigError, match=r"retry_attempt is Float64 .* CallRecord.retry_attempt"):
        check_contract(contract, key_table())


def test_a_field_the_extractor_lacks_is_caught() -> None:
    """A key table filling a field the crate has no slot for."""
    table = {**key_table(), "llmpulse.colour": (0, (("colour", 0),))}
    with pytest.raises(ConfigError, match=r"lacks fields \['colour'\]"):
        check_contract(_native.contract(), table)


def test_a_field_the_table_no_longer_fills_is_caught() -> None:
    """A crate slot that no key of the table fills any more."""
    table = {
        key: (flags, tuple(t for t in targets if t[0] != "team"))
        for key, (flags, targets) in key_table().items()
    }
    with pytest.raises(ConfigError, match=r"has fields \['team'\]"):
        check_contract(_native.contract(), table)


@pytest.mark.parametrize(
    ("name", "value", "key"),
    [("_STATUS_ERROR", 3, "status_error"), ("_NS_PER_DAY", 86_400 * 10**6, "ns_per_day")],
)
def test_a_changed_normalise_constant_is_caught(
    monkeypatch: pytest.MonkeyPatch, name: str, value: int, key: str
) -> None:
    """The error status code and the day length are the crate's too."""
    monkeypatch.setattr(normalise, name, value)
    with pytest.raises(ConfigError, match=rf"{key} is .* in the extension, {value} in Python"):
        scanner()


def test_an_inline_label_changed_in_normalise_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """A default operation other than the crate's, as if normalise.py said "converse"."""
    real = normalise.normalise_span

    def converse(*args: Any, **kwargs: Any) -> CallRecord:
        return real(*args, **kwargs)._replace(operation="converse")

    monkeypatch.setattr(normalise, "normalise_span", converse)
    with pytest.raises(ConfigError, match=r"label 'operation' is 'chat' .* 'converse' in Python"):
        scanner()


def test_a_changed_finish_reason_limit_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Four finish reasons kept where the crate keeps eight."""
    monkeypatch.setattr(
        normalise, "_finish_reasons", lambda v: [] if v is None else [s[:32] for s in v[:4]]
    )
    with pytest.raises(ConfigError, match=r"finish reasons .* \(8, 32\) .* \(4, 32\)"):
        scanner()


def test_an_extension_without_a_contract_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """An extension built from older sources says to rebuild it."""
    monkeypatch.delattr(_native, "contract")
    with pytest.raises(ConfigError, match=r"no contract\(\); rebuild it"):
        scanner()


def test_operation_aliases_are_handed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    """An alias added in Python renames the operation on the compiled path too."""
    monkeypatch.setattr(normalise, "_OPERATIONS", {**normalise._OPERATIONS, "converse": "chat"})
    [row] = rows(scanner(), {**otlp.gen_ai(), "gen_ai.operation.name": "Converse"})
    assert row.operation == "chat"


def test_the_unknown_label_is_handed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    """Absent dimensions and provider take record.UNKNOWN as it is when the scanner is built."""
    monkeypatch.setattr(record, "UNKNOWN", "n/a")
    attrs = otlp.gen_ai()
    del attrs["gen_ai.provider.name"]
    [row] = rows(scanner(), attrs)
    assert (row.team, row.feature, row.risk_tier, row.environment, row.provider) == ("n/a",) * 5


def test_convention_labels_are_handed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    """The label of each flag word is convention_of's, whatever it says."""
    monkeypatch.setattr(extract, "convention_of", lambda flags: f"flags={flags}")
    attrs = [
        otlp.gen_ai(),
        {"llm.model_name": "gpt-4o", "gen_ai.system": "openai", "llm.token_count.prompt": 5},
    ]
    got = [r.convention for r in rows(scanner(), *attrs)]
    assert got == [f"flags={extract.extract(otlp.kvs(a))[1]}" for a in attrs]


def test_llm_span_kinds_are_handed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    """An OpenInference span kind counts as an LLM span when Python says it does."""
    payload = otlp.request([otlp.span({"openinference.span.kind": "AGENT"})])
    assert (feed(scanner(), payload).llm, feed(scanner(), payload).non_llm) == (0, 1)
    monkeypatch.setattr(extract, "_OI_KINDS", extract._OI_KINDS | {"AGENT"})
    assert (feed(scanner(), payload).llm, feed(scanner(), payload).non_llm) == (1, 0)


@pytest.mark.parametrize(
    "payload",
    [b"\x80\x80\x80\x80\x10\x01", b"\xa0\x86\x80\x80\x80\x00\x01"],
    ids=["tag-above-32-bits", "tag-of-6-bytes"],
)
def test_a_tag_the_protobuf_library_refuses_is_refused_on_both_paths(payload: bytes) -> None:
    """upb rejects a tag above 32 bits or longer than 5 bytes; the wire reader leaves it to it."""
    assert isinstance(scanner().feed(payload, 0, 0, *Limits().start_window(NOW)), str)
    for native in (True, False):
        pipeline = Pipeline(clock_ns=lambda: NOW, native=native)
        result = pipeline.process([Message("t", 0, 0, payload)])
        assert [d.reason for d in result.dead_letters] == ["malformed_protobuf"]
