"""Credits: what a model gives each touch of a batch, ready to be summed by any grouping key.

``credit`` is the touch's fraction of its journey's conversion (fractions of one attributable
journey sum to 1); ``value`` is the touch's share of the journey's conversion value in money
(shares of one journey sum to its value). Non-converting journeys and journeys without
touches get nothing; the caller reports the latter as unattributed.
"""

from __future__ import annotations

import numpy as np

from attribution.journeys import FloatArray, IntArray, JourneyBatch


class Credits:
    """Per-touch credit of one model over one batch (arrays aligned with ``batch.channel``).

    Models that credit one touch per journey build it from those touches only
    (:meth:`on_touches`); the dense ``credit`` and ``value`` arrays are then made on first use,
    and sums by a grouping key never need them.
    """

    __slots__ = (
        "_credit", "_index", "_journey", "_sparse_credit", "_sparse_value", "_value", "batch",
    )

    def __init__(self, batch: JourneyBatch, credit: FloatArray, value: FloatArray) -> None:
        self.batch = batch
        self._credit: FloatArray | None = credit
        self._value: FloatArray | None = value
        self._index: IntArray | None = None
        self._journey: IntArray | None = None
        self._sparse_credit: FloatArray | None = None
        self._sparse_value: FloatArray | None = None

    @classmethod
    def on_touches(
        cls,
        batch: JourneyBatch,
        index: IntArray,
        journey: IntArray,
        credit: FloatArray,
        value: FloatArray,
    ) -> Credits:
        """Credits that are zero except on the touches ``index`` (distinct touch indexes, of
        journeys ``journey``)."""
        credits = cls.__new__(cls)
        credits.batch, credits._credit, credits._value = batch, None, None
        credits._index, credits._journey = index, journey
        credits._sparse_credit, credits._sparse_value = credit, value
        return credits

    def _dense(self, sparse: FloatArray | None) -> FloatArray:
        assert self._index is not None and sparse is not None
        dense = np.zeros(self.batch.n_touches)
        dense[self._index] = sparse
        return dense

    @property
    def credit(self) -> FloatArray:
        """Each touch's fraction of its journey's conversion."""
        if self._credit is None:
            self._credit = self._dense(self._sparse_credit)
        return self._credit

    @property
    def value(self) -> FloatArray:
        """Each touch's share of its journey's conversion value, in money."""
        if self._value is None:
            self._value = self._dense(self._sparse_value)
        return self._value

    @property
    def conversions(self) -> FloatArray:
        """Attributed conversions per touch: the credit times the row's conversion count."""
        result: FloatArray = self.credit * self.batch.conversions[self.batch.journey_of_touch]
        return result

    def sum_by(self, codes: IntArray, size: int) -> tuple[FloatArray, FloatArray]:
        """Attributed conversions and value summed per group code (``0 <= code < size``)."""
        if self._index is not None and self._credit is None:
            assert self._journey is not None and self._sparse_credit is not None
            assert self._sparse_value is not None
            index = self._index
            weights = self._sparse_credit * self.batch.conversions[self._journey]
            conversions = np.bincount(codes[index], weights=weights, minlength=size)
            value = np.bincount(codes[index], weights=self._sparse_value, minlength=size)
        else:
            conversions = np.bincount(codes, weights=self.conversions, minlength=size)
            value = np.bincount(codes, weights=self.value, minlength=size)
        return conversions.astype(np.float64), value.astype(np.float64)

    def by_channel(self) -> dict[str, tuple[float, float]]:
        """``{channel: (attributed conversions, attributed value)}`` over the whole batch."""
        conversions, value = self.sum_by(self.batch.channel, len(self.batch.channels))
        return {
            name: (float(conversions[code]), float(value[code]))
            for code, name in enumerate(self.batch.channels)
        }

    def by_group(self, key: str) -> dict[str, tuple[float, float]]:
        """Like :meth:`by_channel` for a grouping key the batch carries (source, campaign...)."""
        codes, labels = self.batch.groups[key]
        conversions, value = self.sum_by(codes, len(labels))
        return {label: (float(conversions[c]), float(value[c])) for c, label in enumerate(labels)}

    def journey_totals(self) -> tuple[FloatArray, FloatArray]:
        """Credit and value summed per journey (1 and the value for attributable rows)."""
        n = self.batch.n_journeys
        journey = self.batch.journey_of_touch
        credit = np.bincount(journey, weights=self.credit, minlength=n).astype(np.float64)
        value = np.bincount(journey, weights=self.value, minlength=n).astype(np.float64)
        return credit, value


def credits_from_fractions(batch: JourneyBatch, fraction: FloatArray) -> Credits:
    """Credits whose value follows the same fractions as the conversion credit."""
    fraction = np.where(batch.attributable[batch.journey_of_touch], fraction, 0.0)
    return Credits(batch, fraction, fraction * batch.value[batch.journey_of_touch])


def normalise_per_journey(batch: JourneyBatch, weight: FloatArray) -> FloatArray:
    """Scale non-negative per-touch weights so each journey's weights sum to 1.

    A journey whose weights are all zero falls back to equal shares, so credit is never lost.
    """
    journey = batch.journey_of_touch
    totals = np.bincount(journey, weights=weight, minlength=batch.n_journeys)
    zero = totals[journey] <= 0
    equal = 1.0 / np.maximum(batch.lengths[journey], 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(zero, equal, weight / np.where(zero, 1.0, totals[journey]))
    result: FloatArray = fraction.astype(np.float64)
    return result


# A dense journeys x channels matrix is the fastest form up to this many cells (8 bytes each).
DENSE_CELLS_LIMIT = 40_000_000


def channel_touch_counts(batch: JourneyBatch, touches: IntArray | None = None) -> IntArray | None:
    """How many touches of each channel each journey has, as a dense (J, C) matrix, or None
    when that matrix would be too large (callers then fall back to sorting). ``touches``
    restricts the count to those touch indexes."""
    cells = batch.n_journeys * len(batch.channels)
    if cells > DENSE_CELLS_LIMIT:
        return None
    journey, channel = batch.journey_of_touch, batch.channel
    if touches is not None:
        journey, channel = journey[touches], channel[touches]
    counts: IntArray = np.bincount(journey * len(batch.channels) + channel,
                                   minlength=cells).reshape(batch.n_journeys, -1)
    return counts


def split_by_channel_weight(
    batch: JourneyBatch,
    channel_weight: FloatArray,
    counts: IntArray | None = None,
    touches: IntArray | None = None,
) -> FloatArray:
    """Per-touch fractions: each journey's distinct channels share 1 in proportion to
    ``channel_weight[channel]``, and a channel's share is split equally over its touches.

    A journey whose channels all weigh 0 is split equally over its distinct channels.
    ``touches`` limits the work to those touch indexes (whole journeys only) and the result
    is aligned with it; ``counts`` may pass the matching :func:`channel_touch_counts`.
    """
    weight = np.asarray(channel_weight, dtype=np.float64)
    counts = channel_touch_counts(batch, touches) if counts is None else counts
    if counts is None:
        everything = _split_by_channel_weight_sorted(batch, weight)
        return everything if touches is None else everything[touches]
    journey, channel = batch.journey_of_touch, batch.channel
    if touches is not None:
        journey, channel = journey[touches], channel[touches]
    present = (counts > 0).astype(np.float64)
    totals = (present @ weight)[journey]
    distinct = present.sum(axis=1)[journey]
    same_channel_touches = counts.ravel()[journey * len(batch.channels) + channel]
    zero = totals <= 0
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(zero, 1.0 / distinct, weight[channel] / np.where(zero, 1.0, totals))
    result: FloatArray = share / same_channel_touches
    return result

def _split_by_channel_weight_sorted(batch: JourneyBatch, weight: FloatArray) -> FloatArray:
    journey = batch.journey_of_touch
    n_channels = max(len(batch.channels), 1)
    unique_pairs, pair_index, pair_touches = np.unique(
        journey * n_channels + batch.channel, return_inverse=True, return_counts=True
    )
    pair_journey, pair_channel = unique_pairs // n_channels, unique_pairs % n_channels
    pair_weight = weight[pair_channel]
    totals = np.bincount(pair_journey, weights=pair_weight, minlength=batch.n_journeys)
    distinct = np.bincount(pair_journey, minlength=batch.n_journeys)
    zero = totals[pair_journey] <= 0
    with np.errstate(invalid="ignore", divide="ignore"):
        pair_share = np.where(zero, 1.0 / distinct[pair_journey],
                              pair_weight / np.where(zero, 1.0, totals[pair_journey]))
    result: FloatArray = (pair_share / pair_touches)[pair_index].astype(np.float64)
    return result

def credits_from_channel_weights(
    batch: JourneyBatch, conversion_weight: FloatArray, value_weight: FloatArray
) -> Credits:
    """Per-touch credits from learned per-channel weights (the data-driven models' last step)."""
    # Only converting journeys get credit, usually a small share of all: work on those only.
    touches = np.flatnonzero(batch.attributable[batch.journey_of_touch])
    counts = channel_touch_counts(batch, touches)
    credit = np.zeros(batch.n_touches)
    value = np.zeros(batch.n_touches)
    credit[touches] = split_by_channel_weight(batch, conversion_weight, counts, touches)
    value[touches] = (split_by_channel_weight(batch, value_weight, counts, touches)
                      * batch.value[batch.journey_of_touch[touches]])
    return Credits(batch, credit, value)


def reindex_channel_weights(
    learned_channels: tuple[str, ...], learned: FloatArray, batch: JourneyBatch
) -> FloatArray:
    """Per-channel values learned on one batch, re-indexed to ``batch``'s channel codes.

    Channels the model never saw weigh 0 (they get credit only through the equal-split
    fallback of a journey made only of unseen channels).
    """
    index = {name: code for code, name in enumerate(learned_channels)}
    return np.array([learned[index[name]] if name in index else 0.0 for name in batch.channels])
