"""Types of the compiled hot path (``stream_jobs/native``, Rust via PyO3)."""

from collections.abc import Callable
from typing import Any

class Scanner:
    def __init__(
        self,
        table: dict[str, tuple[int, list[tuple[str, int]]]],
        max_tokens: int,
        max_attribute_chars: int,
        price: Callable[[str, int], tuple[tuple[int, ...], str] | None],
        provider: Callable[[str], str],
        rules: dict[str, Any],
    ) -> None: ...
    def feed(
        self, value: bytes, partition: int, offset: int, future_ns: float, ancient_ns: float
    ) -> str | tuple[int, int, int, int, list[tuple[int, bool]]]: ...
    def take_block(self) -> tuple[bytes, int]: ...

def contract() -> dict[str, Any]:
    """The crate's field list, columns with types, constants and inline labels."""
