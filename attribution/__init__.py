"""LeadTrail's attribution engine: journeys in, per-touch credits out, plus the metric formulas.

Pure Python on numpy and scipy. It must not import Flask, SQLAlchemy, ``tracker`` or
``crm_sync`` (an import-linter contract in ``make test`` keeps it so); the tracker builds
journeys from its database and hands them over as a :class:`JourneyBatch`.
"""

from attribution.credits import Credits
from attribution.exceptions import AttributionError, NotFittedError, UnknownModelError
from attribution.journeys import Journey, JourneyBatch, Touch
from attribution.registry import MODEL_CLASSES, AttributionModel, create_model, model_names

__all__ = [
    "MODEL_CLASSES",
    "AttributionError",
    "AttributionModel",
    "Credits",
    "Journey",
    "JourneyBatch",
    "NotFittedError",
    "Touch",
    "UnknownModelError",
    "create_model",
    "model_names",
]
