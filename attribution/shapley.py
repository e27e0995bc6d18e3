"""Shapley model: channel credit as Shapley values of a game over coalition conversion rates.

Following Zhao, Mahboobi and Bagheri (2018), journeys are grouped by their *set* of distinct
channels. ``R(T)`` is the conversion rate of journeys whose channel set is exactly ``T``
(conversions / paths) and the worth of a coalition is ``v(S) = sum of R(T) over T ⊆ S``. The
Shapley value of channel ``i``,

    phi_i = sum over S ⊆ N \\ {i} of |S|! (n - |S| - 1)! / n! * (v(S ∪ {i}) - v(S)),

simplifies for this ``v`` to ``phi_i = sum over observed T containing i of R(T) / |T|``
(the paper's simplified formula), which is exact and costs one pass over the observed channel
sets, however many channels there are; no sampling is needed beyond 15 channels. The unit
tests check the simplified formula against the definition above by enumerating every
coalition. A channel's share of all conversions is ``phi_i / sum(phi)``. Value is attributed
by the same game with ``R(T)`` the conversion value per path of set ``T``.

Per-touch credit for one converting journey: its channels share the conversion in proportion
to their Shapley values, and a channel's share is split equally over its touches.

References
----------
Zhao, K., Mahboobi, S. H., Bagheri, S. R. (2018). Shapley value methods for attribution
modeling in online advertising. arXiv:1804.05327.
Shapley, L. S. (1953). A value for n-person games. Contributions to the Theory of Games II.
"""

from __future__ import annotations

from typing import Self

import numpy as np

from attribution.base import AttributionModel, JourneysLike
from attribution.credits import (
    Credits,
    channel_touch_counts,
    credits_from_channel_weights,
    reindex_channel_weights,
)
from attribution.exceptions import AttributionError, NotFittedError
from attribution.journeys import FloatArray, IntArray, JourneyBatch, as_batch


def coalition_ids(batch: JourneyBatch) -> tuple[IntArray, list[frozenset[int]]]:
    """Each journey's channel-set id and the channel codes of each distinct set."""
    n_channels = max(len(batch.channels), 1)
    counts = channel_touch_counts(batch) if 0 < len(batch.channels) <= 62 else None
    if counts is not None:
        bits = (counts > 0).astype(np.int64) @ np.left_shift(1, np.arange(n_channels))
        unique_bits, coalition = np.unique(bits, return_inverse=True)
        sets = [frozenset(c for c in range(n_channels) if (int(b) >> c) & 1)
                for b in unique_bits]
        return coalition.astype(np.int64), sets
    journey = batch.journey_of_touch
    pairs = np.unique(journey * n_channels + batch.channel)
    pair_journey, pair_channel = pairs // n_channels, pairs % n_channels
    members: list[list[int]] = [[] for _ in range(batch.n_journeys)]
    for j, c in zip(pair_journey.tolist(), pair_channel.tolist(), strict=True):
        members[j].append(c)
    keys = [frozenset(m) for m in members]
    index: dict[frozenset[int], int] = {}
    coalition_list = [index.setdefault(key, len(index)) for key in keys]
    return np.asarray(coalition_list, dtype=np.int64), list(index)


def simplified_shapley(
    sets: list[frozenset[int]], worth: FloatArray, n_channels: int
) -> FloatArray:
    """``phi_i = sum over sets T containing i of worth(T) / |T|`` (Zhao et al., eq. 9)."""
    phi = np.zeros(n_channels)
    for members, rate in zip(sets, worth.tolist(), strict=True):
        if members:
            share = rate / len(members)
            for channel in members:
                phi[channel] += share
    return phi


class ShapleyModel(AttributionModel):
    """Shapley values of channels over coalition conversion rates (exact, any channel count).

    Attributes
    ----------
    channels_ : tuple of str
    coalitions_ : tuple of tuple of str
        The observed channel sets.
    coalition_conversion_rates_, coalition_values_ : numpy arrays
        ``R(T)`` for conversions and value per path, aligned with ``coalitions_``.
    shapley_values_, value_shapley_values_ : numpy arrays
        ``phi`` per channel for conversions and for value.
    conversion_shares_, value_shares_ : numpy arrays
        The Shapley values normalised to sum 1.
    conversions_by_channel_, value_by_channel_ : numpy arrays
        Shares times the total conversions and value of the fitted journeys.
    """

    name = "shapley"
    data_driven = True

    def fit(self, journeys: JourneysLike) -> Self:
        batch = as_batch(journeys)
        coalition, sets = coalition_ids(batch)
        paths = np.bincount(coalition, weights=batch.conversions + batch.nulls,
                            minlength=len(sets))
        conversions = np.bincount(coalition, weights=batch.conversions, minlength=len(sets))
        value = np.bincount(coalition, weights=batch.value, minlength=len(sets))
        if not np.any(batch.attributable):
            raise AttributionError(
                "the Shapley model needs at least one converting journey with a touch"
            )
        safe_paths = np.where(paths > 0, paths, 1.0)
        rates, values = conversions / safe_paths, value / safe_paths
        n = len(batch.channels)
        phi = simplified_shapley(sets, rates, n)
        value_phi = simplified_shapley(sets, values, n)
        self.channels_ = batch.channels
        self.coalitions_ = tuple(tuple(batch.channels[c] for c in sorted(s)) for s in sets)
        self.coalition_conversion_rates_ = rates
        self.coalition_values_ = values
        self.shapley_values_ = phi
        self.value_shapley_values_ = value_phi
        self.conversion_shares_ = phi / phi.sum()
        self.value_shares_ = value_phi / value_phi.sum() if value_phi.sum() > 0 else value_phi
        self.conversions_by_channel_ = self.conversion_shares_ * float(batch.conversions.sum())
        self.value_by_channel_ = self.value_shares_ * float(batch.value.sum())
        return self

    def _attribute(self, batch: JourneyBatch) -> Credits:
        if not hasattr(self, "channels_"):
            raise NotFittedError("fit the Shapley model before attributing")
        return credits_from_channel_weights(
            batch,
            reindex_channel_weights(self.channels_, self.shapley_values_, batch),
            reindex_channel_weights(self.channels_, self.value_shapley_values_, batch),
        )
