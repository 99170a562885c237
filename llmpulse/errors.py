"""The one exception hierarchy of llmpulse."""

from __future__ import annotations


class LlmpulseError(Exception):
    """Base class of every error llmpulse raises on purpose."""


class ConfigError(LlmpulseError):
    """A setting is missing or invalid; the message names the setting."""


#: The extras ``pyproject.toml`` declares (a test keeps them in step).
EXTRAS = ("dev", "pipeline")


class MissingExtraError(LlmpulseError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, module: str, extra: str = "pipeline") -> None:
        super().__init__(
            f"{module!r} is not installed; it comes with the {extra!r} extra: "
            f"pip install 'llmpulse[{extra}]'"
        )
        self.module = module
        self.extra = extra


class BrokerError(LlmpulseError):
    """The local Kafka broker could not be fetched, started or reached."""


class CollectorError(LlmpulseError):
    """The OpenTelemetry Collector could not be built, started or reached."""


class RetryLater(LlmpulseError):
    """A sink is overloaded or unavailable; retry after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after
