"""llmpulse: streaming observability and cost monitoring for LLM calls.

The app side lives in :mod:`llmpulse.collectors` (plain install); the pipeline
side in :mod:`llmpulse.stream_jobs` (``pip install 'llmpulse[pipeline]'``); the
event contract, price catalogue and ClickHouse DDL in :mod:`llmpulse.schemas`.
"""

from llmpulse.errors import (
    BrokerError,
    CollectorError,
    ConfigError,
    LlmpulseError,
    MissingExtraError,
    RetryLater,
)

__version__ = "0.1.0"

__all__ = [
    "BrokerError",
    "CollectorError",
    "ConfigError",
    "LlmpulseError",
    "MissingExtraError",
    "RetryLater",
    "__version__",
]
