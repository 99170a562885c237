"""Pricing: each token priced once, effective dates, aliases, unknown models."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from llmpulse.errors import ConfigError
from llmpulse.stream_jobs.pricing import PICO_PER_USD, PriceCatalogue


@pytest.fixture(scope="module")
def cat() -> PriceCatalogue:
    return PriceCatalogue.load()


def usd(pico: int) -> Decimal:
    return Decimal(pico) / PICO_PER_USD


def test_cached_tokens_are_carved_out_of_input_not_added(cat: PriceCatalogue) -> None:
    """10k input of which 6k cache read and 2k cache write: each part at its own price."""
    p = cat.lookup("claude-sonnet-4-20250514", date(2025, 6, 1))
    assert p is not None
    cost = usd(p.cost_pico(10_000, 1_000, cache_read_tokens=6_000, cache_creation_tokens=2_000))
    # 2000*3.00 + 6000*0.30 + 2000*3.75 + 1000*15.00, per million
    assert cost == Decimal("0.0303")


def test_reasoning_tokens_are_a_subset_of_output(cat: PriceCatalogue) -> None:
    """Reasoning tokens default to the output price and are not charged twice."""
    p = cat.lookup("o3-mini", date(2025, 6, 1))
    assert p is not None
    with_reasoning = p.cost_pico(100, 1_000, reasoning_tokens=800)
    without = p.cost_pico(100, 1_000)
    assert with_reasoning == without


def test_a_separate_reasoning_price_applies_only_to_reasoning_tokens() -> None:
    """A catalogue entry with its own reasoning price charges the subset at that price."""
    cat = PriceCatalogue.from_dict(
        {
            "version": "t",
            "models": [
                {
                    "model": "r1",
                    "effective_from": "2025-01-01",
                    "input": "1",
                    "output": "2",
                    "reasoning": "5",
                }
            ],
        }
    )
    p = cat.lookup("r1", date(2025, 2, 1))
    assert p is not None
    assert usd(p.cost_pico(0, 1_000_000, reasoning_tokens=250_000)) == Decimal("2.75")


def test_effective_dates_pick_the_price_in_force(cat: PriceCatalogue) -> None:
    """gpt-4o changed price on 2024-10-02; calls before and after get different prices."""
    before = cat.lookup("gpt-4o", date(2024, 9, 30))
    after = cat.lookup("gpt-4o-2024-08-06", date(2024, 10, 2))
    assert before is not None and after is not None
    assert (before.input, after.input) == (Decimal("5.00"), Decimal("2.50"))
    assert before.version != after.version
    assert after.version.startswith(cat.version)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("GPT-4o", "gpt-4o"),
        ("claude-3-5-sonnet-latest", "claude-3-5-sonnet"),
        ("anthropic.claude-sonnet-4-20250514-v1:0", "claude-sonnet-4"),
        ("models/gemini-2.0-flash", "gemini-2.0-flash"),
        ("gemini-2.0-flash-001", "gemini-2.0-flash"),
        ("acme-llm-7b", None),
        ("gpt-4o-mini-tts", None),
    ],
)
def test_model_names_resolve_through_aliases_and_dates(
    cat: PriceCatalogue, name: str, expected: str | None
) -> None:
    """Dated variants and aliases map to the catalogue entry; unknown names do not."""
    assert cat.resolve(name) == expected


def test_provider_names_from_every_convention_are_canonical(cat: PriceCatalogue) -> None:
    """gen_ai.provider.name, gen_ai.system and llm.provider values map to one name."""
    assert cat.canonical_provider("azure.ai.openai") == "openai"
    assert cat.canonical_provider("gcp.gemini") == "google"
    assert cat.canonical_provider("Anthropic") == "anthropic"
    assert cat.canonical_provider("somebody") == "somebody"


def test_unknown_model_has_no_price(cat: PriceCatalogue) -> None:
    """An unknown model returns None so the caller flags it instead of pricing it at 0."""
    assert cat.lookup("acme-llm-7b", date(2025, 1, 1)) is None


@pytest.mark.parametrize(
    "entry",
    [
        {"model": "x", "effective_from": "2025-01-01", "input": "1"},
        {"model": "x", "effective_from": "not a date", "input": "1", "output": "1"},
        {"model": "x", "effective_from": "2025-01-01", "input": "0.0000001", "output": "1"},
    ],
)
def test_invalid_catalogue_entries_raise_config_error(entry: dict) -> None:
    """Missing prices, bad dates and sub-pico prices are configuration errors."""
    with pytest.raises(ConfigError):
        PriceCatalogue.from_dict({"version": "t", "models": [entry]})


def test_shipped_catalogue_prices_are_sane(cat: PriceCatalogue) -> None:
    """Every shipped model has non-negative prices and cache reads below input."""
    assert len(cat.models()) >= 10
    for model in cat.models():
        p = cat.lookup(model, date(2026, 1, 1))
        assert p is not None
        assert min(p.input, p.output, p.cache_read, p.cache_creation) >= 0
        assert p.cache_read <= p.input
