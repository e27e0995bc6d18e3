"""Time-decay model: a touch's weight halves with every half-life between it and the conversion.

weight = 2 ** (-Δ / h), with Δ the time from touch to conversion and h the half-life (default
7 days, the figure third-party guides give for GA's former time-decay model), normalised per
journey. Touches after the conversion time (clock skew) count as Δ = 0.
"""

from __future__ import annotations

import numpy as np

from attribution.base import AttributionModel
from attribution.credits import Credits, credits_from_fractions, normalise_per_journey
from attribution.exceptions import AttributionError
from attribution.journeys import JourneyBatch

DAY = 86_400.0


class TimeDecayModel(AttributionModel):
    """Exponential decay towards the conversion.

    Parameters
    ----------
    half_life_days : float
        Days after which a touch's weight halves; must be > 0.
    """

    name = "time_decay"

    def __init__(self, *, half_life_days: float = 7.0) -> None:
        if not half_life_days > 0:
            raise AttributionError("half_life_days must be > 0")
        self.half_life_days = half_life_days

    def _attribute(self, batch: JourneyBatch) -> Credits:
        journey = batch.journey_of_touch
        age = np.maximum(batch.conversion_time[journey] - batch.time, 0.0)
        if batch.n_touches:
            # Measure ages from each journey's newest touch so old journeys don't underflow to 0.
            starts = batch.offsets[:-1][batch.lengths > 0]
            youngest = np.zeros(batch.n_journeys)
            youngest[batch.lengths > 0] = np.minimum.reduceat(age, starts)
            age = age - youngest[journey]
        weight = np.exp2(-age / (self.half_life_days * DAY))
        return credits_from_fractions(batch, normalise_per_journey(batch, weight))
