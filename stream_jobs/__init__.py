"""Pipeline side of llmpulse: the Faust worker and the plain stream logic it wires.

Needs the ``pipeline`` extra: ``pip install 'llmpulse[pipeline]'``.
"""

from llmpulse.stream_jobs.normalise import Limits, Rejection, normalise_span
from llmpulse.stream_jobs.pipeline import BatchResult, Message, Pipeline
from llmpulse.stream_jobs.pricing import ModelPrice, PriceCatalogue

__all__ = [
    "BatchResult",
    "Limits",
    "Message",
    "ModelPrice",
    "Pipeline",
    "PriceCatalogue",
    "Rejection",
    "normalise_span",
]
