"""Markov model: credit by removal effect in an absorbing Markov chain, solved exactly.

States are the channels (order 1) or the tuples of the last ``order`` channels, plus
``(start)``, ``(conversion)`` and ``(null)``. Transition probabilities are the observed
transition counts of converting and non-converting journeys, each row normalised. The base
conversion probability ``P`` is the probability of absorption in ``(conversion)`` from
``(start)``; removing channel ``c`` redirects every transition into a state containing ``c``
to ``(null)``, giving ``P_c``. The removal effect is ``1 - P_c / P``, and a channel's share of
all conversions is its removal effect divided by the sum of removal effects (Anderl et al.).

Absorption probabilities come from one sparse linear solve per removal, ``(I - Q) x = r``
(Q: transient-to-transient probabilities, r: transient-to-conversion), instead of the
random-walk simulation ChannelAttribution uses, so the result has no simulation error.

**Value** is attributed by its own chain: the transition into ``(conversion)`` carries the
journey's conversion value instead of a count, so ``x`` becomes the expected value from each
state, and a channel's value removal effect is ``1 - V_c / V``. Its value share is that effect
normalised. (ChannelAttribution instead credits value by the value flowing through each state
during its simulation; totals match, channel splits can differ when values differ by path.)

**Per-touch credit** for one converting journey (what reports store): the journey's channels
share the conversion in proportion to their removal effects, and a channel's share is split
equally over its touches; value the same way with the value removal effects.

References
----------
Anderl, E., Becker, I., von Wangenheim, F., Schumann, J. H. (2016). Mapping the customer
journey: Lessons learned from graph-based online attribution modeling. International Journal
of Research in Marketing 33(3), 457-474.
Kemeny, J. G., Snell, J. L. (1976). Finite Markov Chains, chapter 3 (absorbing chains).
"""

from __future__ import annotations

from typing import Self

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from attribution.base import AttributionModel, JourneysLike
from attribution.credits import (
    DENSE_CELLS_LIMIT,
    Credits,
    credits_from_channel_weights,
    reindex_channel_weights,
)
from attribution.exceptions import AttributionError, NotFittedError
from attribution.journeys import FloatArray, IntArray, JourneyBatch, as_batch

START, CONVERSION, NULL = "(start)", "(conversion)", "(null)"


def encode_states(batch: JourneyBatch, order: int) -> tuple[IntArray, list[tuple[int, ...]]]:
    """A dense state id per touch and the channel tuple of each state (oldest channel first)."""
    if order == 1:
        used = np.unique(batch.channel)
        dense = np.full(len(batch.channels), -1, dtype=np.int64)
        dense[used] = np.arange(used.size)
        return dense[batch.channel], [(int(c),) for c in used]
    base = len(batch.channels) + 1
    if base**order >= 2**62:
        raise AttributionError("order too high for the number of channels")
    code = np.zeros(batch.n_touches, dtype=np.int64)
    for back in range(order):
        shifted = np.zeros(batch.n_touches, dtype=np.int64)
        if back:
            shifted[back:] = batch.channel[:-back] + 1
        else:
            shifted[:] = batch.channel + 1
        code += np.where(batch.position >= back, shifted, 0) * base**back
    unique_codes, dense_ids = np.unique(code, return_inverse=True)
    states = []
    for value in unique_codes.tolist():
        digits = []
        for _ in range(order):
            value, digit = divmod(value, base)
            if digit:
                digits.append(digit - 1)
        states.append(tuple(reversed(digits)))
    return dense_ids.astype(np.int64), states


def _transition_counts(
    batch: JourneyBatch, state: IntArray, n_states: int
) -> tuple[sp.csr_matrix, FloatArray, FloatArray, FloatArray]:
    """Counts among transient states (0 = start, 1.. = states) and into conversion/null/value."""
    paths = batch.conversions + batch.nulls
    n_transient = n_states + 1
    has = batch.lengths > 0
    first, last = batch.offsets[:-1][has], batch.offsets[1:][has] - 1
    # Touch i -> touch i+1 inside a journey; the pair that crosses into the next journey
    # gets weight 0 instead of being filtered out (cheaper than boolean indexing).
    step_weight = paths[batch.journey_of_touch[:-1]].copy()
    step_weight[last[last < batch.n_touches - 1]] = 0.0
    source = np.concatenate((np.zeros(first.size, dtype=np.int64), state[:-1] + 1))
    target = np.concatenate((state[first] + 1, state[1:] + 1))
    weight = np.concatenate((paths[has], step_weight))
    if n_transient**2 <= DENSE_CELLS_LIMIT:
        # Few states (always at order 1): a bincount beats sorting millions of pairs.
        dense = np.bincount(source * n_transient + target, weights=weight,
                            minlength=n_transient**2)
        counts = sp.csr_matrix(dense.reshape(n_transient, n_transient))
    else:
        counts = sp.csr_matrix((weight, (source, target)), shape=(n_transient, n_transient))
        counts.eliminate_zeros()
    end_state = np.zeros(batch.n_journeys, dtype=np.int64)  # empty journeys end at (start)
    end_state[has] = state[last] + 1

    def ending_in(weights: FloatArray) -> FloatArray:
        return np.bincount(end_state, weights=weights, minlength=n_transient).astype(np.float64)

    return counts, ending_in(batch.conversions), ending_in(batch.nulls), ending_in(batch.value)


def _absorption(
    transient: sp.csr_matrix, rewards: FloatArray, keep: IntArray | None = None
) -> FloatArray:
    """Solve (I - Q) x = r on the kept states; x[0] is the value from (start)."""
    q = transient if keep is None else transient[keep][:, keep]
    r = rewards if keep is None else rewards[keep]
    system = (sp.identity(q.shape[0], format="csc") - q.tocsc()).tocsc()
    if system.shape[0] == 1:
        return np.atleast_2d(r / system.toarray()[0, 0])
    solution: FloatArray = np.asarray(spla.spsolve(system, r)).reshape(r.shape)
    return solution


class MarkovModel(AttributionModel):
    """Exact removal-effect attribution over an order-``order`` absorbing Markov chain.

    Parameters
    ----------
    order : int
        How many past channels make a state (1 = the current channel).

    Attributes
    ----------
    channels_ : tuple of str
        Channel names, aligned with every per-channel array below.
    states_ : tuple of tuple of str
        The chain's channel states (oldest channel first), after ``(start)``.
    transition_matrix_ : scipy.sparse.csr_matrix
        Row-stochastic matrix over ``(start)``, ``states_``, ``(conversion)``, ``(null)``.
    conversion_probability_ : float
        P(conversion) from ``(start)``.
    expected_value_ : float
        Expected conversion value per journey from ``(start)``.
    removal_effects_, value_removal_effects_ : numpy arrays
        ``1 - P_c / P`` and ``1 - V_c / V`` per channel.
    conversion_shares_, value_shares_ : numpy arrays
        The removal effects normalised to sum 1.
    conversions_by_channel_, value_by_channel_ : numpy arrays
        Shares times the total conversions and the total value of the fitted journeys.
    """

    name = "markov"
    data_driven = True

    def __init__(self, *, order: int = 1) -> None:
        if order < 1:
            raise AttributionError("order must be >= 1")
        self.order = order

    def fit(self, journeys: JourneysLike) -> Self:
        batch = as_batch(journeys)
        state, state_channels = encode_states(batch, self.order)
        n_states = len(state_channels)
        counts, to_conversion, to_null, to_value = _transition_counts(batch, state, n_states)
        row_total = np.asarray(counts.sum(axis=1)).ravel() + to_conversion + to_null
        if row_total[0] <= 0 or to_conversion[1:].sum() <= 0:
            raise AttributionError(
                "the Markov model needs at least one converting journey with a touch"
            )
        inverse = sp.diags(1.0 / np.where(row_total > 0, row_total, 1.0))
        transient = (inverse @ counts).tocsr()
        p_conversion = to_conversion / np.where(row_total > 0, row_total, 1.0)
        value_reward = to_value / np.where(row_total > 0, row_total, 1.0)

        base = _absorption(transient, np.column_stack((p_conversion, value_reward)))
        base_probability, base_value = float(base[0, 0]), float(base[0, 1])
        n_channels = len(batch.channels)
        removal = np.zeros(n_channels)
        value_removal = np.zeros(n_channels)
        states_with: list[list[int]] = [[] for _ in range(n_channels)]
        for index, channels in enumerate(state_channels):
            for channel in set(channels):
                states_with[channel].append(index + 1)
        for channel in range(n_channels):
            if not states_with[channel]:
                continue
            keep = np.setdiff1d(np.arange(n_states + 1), states_with[channel])
            removed = _absorption(
                transient, np.column_stack((p_conversion, value_reward)), keep
            )
            removal[channel] = 1.0 - removed[0, 0] / base_probability
            if base_value > 0:
                value_removal[channel] = 1.0 - removed[0, 1] / base_value
        removal = np.clip(removal, 0.0, None)
        value_removal = np.clip(value_removal, 0.0, None)

        self.channels_ = batch.channels
        self.states_ = tuple(tuple(batch.channels[c] for c in s) for s in state_channels)
        self.transition_matrix_ = _full_matrix(transient, p_conversion, to_null, row_total)
        self.conversion_probability_ = base_probability
        self.expected_value_ = base_value
        self.removal_effects_ = removal
        self.value_removal_effects_ = value_removal
        self.conversion_shares_ = _shares(removal)
        self.value_shares_ = _shares(value_removal)
        self.conversions_by_channel_ = self.conversion_shares_ * float(batch.conversions.sum())
        self.value_by_channel_ = self.value_shares_ * float(batch.value.sum())
        return self

    def _attribute(self, batch: JourneyBatch) -> Credits:
        if not hasattr(self, "channels_"):
            raise NotFittedError("fit the Markov model before attributing")
        return credits_from_channel_weights(
            batch,
            reindex_channel_weights(self.channels_, self.removal_effects_, batch),
            reindex_channel_weights(self.channels_, self.value_removal_effects_, batch),
        )

    def removal_effects(self) -> dict[str, float]:
        """``{channel: removal effect}``, for inspection and reports."""
        if not hasattr(self, "channels_"):
            raise NotFittedError("fit the Markov model first")
        return dict(zip(self.channels_, self.removal_effects_.tolist(), strict=True))


def _shares(effects: FloatArray) -> FloatArray:
    total = float(effects.sum())
    result: FloatArray = effects / total if total > 0 else np.zeros_like(effects)
    return result


def _full_matrix(
    transient: sp.csr_matrix, p_conversion: FloatArray, to_null: FloatArray,
    row_total: FloatArray,
) -> sp.csr_matrix:
    n = transient.shape[0]
    p_null = to_null / np.where(row_total > 0, row_total, 1.0)
    absorbing = sp.csr_matrix(np.column_stack((p_conversion, p_null)))
    top = sp.hstack((transient, absorbing))
    bottom = sp.hstack((sp.csr_matrix((2, n)), sp.identity(2)))
    return sp.vstack((top, bottom)).tocsr()

