"""Price LLM calls from the versioned catalogue in ``schemas/prices.toml``.

Costs are computed in integer pico-dollars (1e-12 USD), so sums are exact; each
token is priced once: cache reads and cache creations are carved out of the input
tokens, reasoning tokens out of the output tokens.

>>> cat = PriceCatalogue.load()
>>> price = cat.lookup("gpt-4o-mini-2024-07-18", date(2025, 1, 1))
>>> price.model, str(price.input)
('gpt-4o-mini', '0.15')
>>> price.cost_pico(input_tokens=1000, output_tokens=100)
210000000
"""

from __future__ import annotations

import bisect
import re
import tomllib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from llmpulse.errors import ConfigError

PICO_PER_USD = 10**12
_MTOK = 10**6
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_DATE_SUFFIX = re.compile(r"(-\d{4}-\d{2}-\d{2}|-\d{8}|@\d{8}|-\d{4})$")


@dataclass(frozen=True)
class ModelPrice:
    """Prices (USD per 1M tokens) of one model from ``effective_from`` on."""

    model: str
    provider: str
    effective_from: date
    input: Decimal
    output: Decimal
    cache_read: Decimal
    cache_creation: Decimal
    reasoning: Decimal
    version: str

    @property
    def rates(self) -> tuple[int, int, int, int, int]:
        """Pico-dollars per token: input, output, cache read, cache creation, reasoning."""
        cached = self.__dict__.get("_rates")
        if cached is None:
            cached = tuple(
                self._pico_per_token(p)
                for p in (
                    self.input,
                    self.output,
                    self.cache_read,
                    self.cache_creation,
                    self.reasoning,
                )
            )
            object.__setattr__(self, "_rates", cached)
        return cached

    def _pico_per_token(self, usd_per_mtok: Decimal) -> int:
        value = usd_per_mtok * PICO_PER_USD / _MTOK
        if value != value.to_integral_value():
            raise ConfigError(f"price {usd_per_mtok} of {self.model} has more than 6 decimals")
        return int(value)

    def cost_pico(
        self,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cache_read_tokens: int = 0,
        cache_creation_tokens: int = 0,
        reasoning_tokens: int = 0,
    ) -> int:
        """Exact cost in pico-dollars; cached ⊂ input and reasoning ⊂ output."""
        r_in, r_out, r_cr, r_cc, r_rs = self.rates
        return (
            (input_tokens - cache_read_tokens - cache_creation_tokens) * r_in
            + cache_read_tokens * r_cr
            + cache_creation_tokens * r_cc
            + (output_tokens - reasoning_tokens) * r_out
            + reasoning_tokens * r_rs
        )


class PriceCatalogue:
    """All model prices, by model name and alias, with effective dates."""

    def __init__(
        self,
        version: str,
        prices: list[ModelPrice],
        aliases: dict[str, str],
        providers: dict[str, str],
    ) -> None:
        self.version = version
        self._by_model: dict[str, list[ModelPrice]] = {}
        for p in sorted(prices, key=lambda p: p.effective_from):
            self._by_model.setdefault(p.model, []).append(p)
        self._starts = {m: [p.effective_from for p in ps] for m, ps in self._by_model.items()}
        self._aliases = aliases
        self._providers = providers
        self._cache: dict[str, str | None] = {}
        self._day_cache: dict[tuple[str, int], ModelPrice | None] = {}
        self.source_text = ""

    @classmethod
    def load(cls, path: str | Path | None = None) -> PriceCatalogue:
        """Load the catalogue shipped in ``llmpulse.schemas`` or the file at ``path``."""
        if path is None:
            text = resources.files("llmpulse.schemas").joinpath("prices.toml").read_text()
        else:
            try:
                text = Path(path).read_text()
            except OSError as exc:
                raise ConfigError(f"cannot read price catalogue {path}: {exc}") from exc
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"price catalogue {path or 'prices.toml'} is invalid: {exc}") from exc
        catalogue = cls.from_dict(data)
        catalogue.source_text = text
        return catalogue

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PriceCatalogue:
        version = str(data.get("version", "")) or "unversioned"
        providers: dict[str, str] = {}
        for canonical, names in data.get("providers", {}).items():
            for name in [canonical, *names]:
                providers[name.lower()] = canonical
        prices: list[ModelPrice] = []
        aliases: dict[str, str] = {}
        for i, entry in enumerate(data.get("models", [])):
            try:
                model = entry["model"].lower()
                inp = Decimal(str(entry["input"]))
                out = Decimal(str(entry["output"]))
                eff = date.fromisoformat(str(entry["effective_from"]))
                price = ModelPrice(
                    model=model,
                    provider=str(entry.get("provider", "")),
                    effective_from=eff,
                    input=inp,
                    output=out,
                    cache_read=Decimal(str(entry.get("cache_read", inp))),
                    cache_creation=Decimal(str(entry.get("cache_creation", inp))),
                    reasoning=Decimal(str(entry.get("reasoning", out))),
                    version=f"{version}/{model}@{eff.isoformat()}",
                )
            except (KeyError, ValueError, ArithmeticError) as exc:
                raise ConfigError(f"price catalogue entry #{i} is invalid: {exc!r}") from exc
            price.cost_pico(1, 1, 0, 0, 0)  # validates decimals
            prices.append(price)
            for alias in entry.get("aliases", []):
                aliases[alias.lower()] = model
        return cls(version, prices, aliases, providers)

    def canonical_provider(self, name: str) -> str:
        """Map a provider name from any convention onto the catalogue's name."""
        return self._providers.get(name.lower(), name.lower())

    def resolve(self, model: str) -> str | None:
        """The catalogue's model name for ``model`` (alias, dated variant), or None."""
        key = model.lower()
        if key in self._cache:
            return self._cache[key]
        found: str | None = None
        for candidate in (key, key.rsplit("/", 1)[-1]):
            if candidate in self._by_model:
                found = candidate
            elif candidate in self._aliases:
                found = self._aliases[candidate]
            else:
                stripped = _DATE_SUFFIX.sub("", candidate)
                if stripped in self._by_model:
                    found = stripped
                elif stripped in self._aliases:
                    found = self._aliases[stripped]
            if found:
                break
        if len(self._cache) < 100_000:
            self._cache[key] = found
        return found

    def lookup(self, model: str, on: date) -> ModelPrice | None:
        """The price of ``model`` in force on day ``on``, or None if unknown."""
        name = self.resolve(model)
        if name is None:
            return None
        idx = bisect.bisect_right(self._starts[name], on) - 1
        if idx < 0:  # before the first known price: use the earliest one
            idx = 0
        return self._by_model[name][idx]

    def lookup_day(self, model: str, day: int) -> ModelPrice | None:
        """:meth:`lookup` by day number since the epoch, cached (the hot path)."""
        key = (model, day)
        try:
            return self._day_cache[key]
        except KeyError:
            pass
        price = self.lookup(model, date.fromordinal(_EPOCH_ORDINAL + day))
        if len(self._day_cache) < 100_000:
            self._day_cache[key] = price
        return price

    def models(self) -> list[str]:
        return sorted(self._by_model)
