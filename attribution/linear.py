"""Linear model: equal credit to every touch (or to every distinct channel) of a journey."""

from __future__ import annotations

import numpy as np

from attribution.base import AttributionModel
from attribution.credits import Credits, credits_from_fractions, split_by_channel_weight
from attribution.journeys import JourneyBatch


class LinearModel(AttributionModel):
    """1/n to each of the n touches.

    Parameters
    ----------
    per_distinct_channel : bool
        If true, each distinct channel of the journey gets 1/k (k distinct channels), split
        equally over that channel's touches. The default, per touch, is also what
        ChannelAttribution's ``heuristic_models`` computes.
    """

    name = "linear"

    def __init__(self, *, per_distinct_channel: bool = False) -> None:
        self.per_distinct_channel = per_distinct_channel

    def _attribute(self, batch: JourneyBatch) -> Credits:
        journey = batch.journey_of_touch
        if not self.per_distinct_channel:
            return credits_from_fractions(batch, 1.0 / batch.lengths[journey])
        equal = np.ones(len(batch.channels))
        return credits_from_fractions(batch, split_by_channel_weight(batch, equal))
