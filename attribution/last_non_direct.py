"""Last non-direct touch: 100% to the last touch whose channel is not Direct.

Direct gets credit only when every touch of the journey is Direct (GA's last non-direct click
rule); the channel name is a parameter because the tracker's channel group names it.
"""

from __future__ import annotations

import numpy as np

from attribution.base import AttributionModel
from attribution.credits import Credits
from attribution.journeys import JourneyBatch
from attribution.positional import single_touch_credits


class LastNonDirectModel(AttributionModel):
    """Parameters
    ----------
    direct_channel : str
        The channel that is skipped when any other channel is present.
    """

    name = "last_non_direct"

    def __init__(self, *, direct_channel: str = "Direct") -> None:
        self.direct_channel = direct_channel

    def _attribute(self, batch: JourneyBatch) -> Credits:
        direct = batch.channel_code(self.direct_channel)
        last = batch.offsets[1:] - 1
        if direct is not None and batch.n_touches:
            index = np.arange(batch.n_touches)
            candidate = np.where(batch.channel != direct, index, -1)
            best = np.full(batch.n_journeys, -1, dtype=np.int64)
            nonempty = batch.lengths > 0
            best[nonempty] = np.maximum.reduceat(candidate, batch.offsets[:-1][nonempty])
            last = np.where(best >= 0, best, last)
        return single_touch_credits(batch, last)
