"""Deterministic synthetic journeys for benchmarks, contract tests and the demo site.

Channels differ in how often they appear, where in the path they tend to sit and how much
they raise the chance to convert, so models disagree in measurable ways. All randomness comes
from the ``numpy.random.Generator`` the caller passes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attribution.journeys import FloatArray, IntArray, JourneyBatch

DAY = 86_400.0
DEFAULT_CHANNELS = (
    "Paid Search", "Organic Search", "Paid Social", "Organic Social",
    "Email", "Referral", "Display", "Direct",
)


@dataclass(frozen=True, slots=True)
class SyntheticJourneys:
    """Journeys as flat arrays: ``lengths`` per journey, ``channel`` codes per touch."""

    channels: tuple[str, ...]
    lengths: IntArray
    channel: IntArray
    conversions: FloatArray
    value: FloatArray
    time: FloatArray  # seconds relative to the conversion (or path end) at time 0

    def batch(self) -> JourneyBatch:
        return JourneyBatch.from_arrays(
            self.lengths, self.channel, self.channels, self.conversions,
            nulls=1.0 - self.conversions, value=self.value, time=self.time,
        )

    def path_strings(self, separator: str = ">") -> list[str]:
        """One path string per journey (the input form of ChannelAttribution and others)."""
        names = np.array(self.channels, dtype=object)[self.channel]
        ends = np.cumsum(self.lengths)
        return [separator.join(part) for part in np.split(names, ends[:-1])]


def generate_journeys(
    n_journeys: int,
    rng: np.random.Generator,
    channels: tuple[str, ...] = DEFAULT_CHANNELS,
    mean_touches: float = 3.0,
) -> SyntheticJourneys:
    """``n_journeys`` journeys of about ``mean_touches`` touches (1 + Poisson), each ending in
    a conversion with a probability that grows with the channels it touched."""
    n_channels = len(channels)
    popularity = rng.dirichlet(np.full(n_channels, 2.0))
    lift = rng.uniform(0.01, 0.12, n_channels)
    lengths = 1 + rng.poisson(mean_touches - 1, n_journeys).astype(np.int64)
    channel = rng.choice(n_channels, size=int(lengths.sum()), p=popularity).astype(np.int64)
    journey = np.repeat(np.arange(n_journeys), lengths)
    pressure = np.bincount(journey, weights=lift[channel], minlength=n_journeys)
    converted = rng.random(n_journeys) < 1.0 - np.exp(-pressure)
    amount = np.round(rng.lognormal(7.0, 0.8, n_journeys), 2)
    age = rng.exponential(5 * DAY, channel.size)
    age = age[np.lexsort((-age, journey))]  # older touches first within each journey
    return SyntheticJourneys(
        channels=tuple(channels),
        lengths=lengths,
        channel=channel,
        conversions=converted.astype(np.float64),
        value=np.where(converted, amount, 0.0),
        time=-age,
    )
