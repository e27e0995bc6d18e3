"""Position-based (milestone) models: first/last touch, U, W, full path, J, inverse J and custom.

Every model here gives fixed shares to milestone touches and spreads the ``middle`` share
equally over the touches that are no milestone. The rules, for a journey of touches
``t1..tn`` (DESIGN section 6):

- **Roles.** ``first`` is t1, ``last`` is tn, ``lead`` the touch in whose session the lead was
  created (tn when the conversion is the lead creation), ``opportunity`` and ``close`` the
  touches before those CRM events.
- **One touch** gets 100%: every present milestone falls on it and there is no middle.
- **Milestones on the same touch** add their shares up on that touch (a lead created in the
  first session gives that session first + lead).
- **A missing milestone** (no opportunity or close yet) gives its share to the present
  milestones in proportion to their weights, so credit still sums to 1. Example: W-shaped
  (30/30/30/10) before an opportunity exists is 45/45/10 over first, lead and the rest.
- **No middle touches** (every touch is a milestone): the middle share is spread over the
  milestones in proportion to their weights. So U-shaped over two touches (first and lead) is
  50/50, and full path over four distinct milestone touches is 25% each.
- If no weighted milestone is present at all, the middle touches take everything, and if
  there are none either the journey is split equally (never lost).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from attribution.base import AttributionModel
from attribution.credits import Credits, credits_from_fractions
from attribution.exceptions import AttributionError
from attribution.journeys import FloatArray, IntArray, JourneyBatch

ROLES = ("first", "lead", "opportunity", "close", "last")


def _validated_weights(weights: Mapping[str, float], middle: float) -> tuple[FloatArray, float]:
    unknown = set(weights) - set(ROLES)
    if unknown:
        raise AttributionError(f"unknown milestone role(s): {', '.join(sorted(unknown))}")
    role_weights = np.array([float(weights.get(role, 0.0)) for role in ROLES])
    if np.any(role_weights < 0) or middle < 0:
        raise AttributionError("milestone weights must be >= 0")
    total = float(role_weights.sum()) + middle
    if total <= 0:
        raise AttributionError("milestone weights must not all be 0")
    return role_weights / total, middle / total


def _role_positions(batch: JourneyBatch) -> IntArray:
    """(J, roles) touch positions, -1 where the role is missing."""
    has_touches = batch.lengths > 0
    first = np.where(has_touches, 0, -1)
    last = batch.lengths - 1
    return np.stack(
        [first, batch.lead_position, batch.opportunity_position, batch.close_position, last],
        axis=1,
    ).astype(np.int64)


def milestone_fractions(
    batch: JourneyBatch, role_weights: FloatArray, middle_weight: float
) -> FloatArray:
    """Per-touch fractions for normalised role weights (in :data:`ROLES` order) and middle."""
    positions = _role_positions(batch)
    present = (positions >= 0) & (role_weights > 0) & (batch.lengths > 0)[:, None]
    global_index = batch.offsets[:-1, None] + positions
    is_milestone = np.zeros(batch.n_touches, dtype=bool)
    is_milestone[global_index[present]] = True
    milestone_touches = np.bincount(
        batch.journey_of_touch, weights=is_milestone, minlength=batch.n_journeys
    )
    middle_count = batch.lengths - milestone_touches
    present_weight = present @ role_weights
    has_middle = middle_count > 0
    middle_share = np.where(has_middle, np.where(present_weight > 0, middle_weight, 1.0), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        role_share = np.where(
            present,
            role_weights[None, :] / present_weight[:, None] * (1.0 - middle_share)[:, None],
            0.0,
        )
    fraction = np.bincount(
        global_index[present], weights=role_share[present], minlength=batch.n_touches
    ).astype(np.float64)
    per_middle_touch = middle_share / np.maximum(middle_count, 1)
    fraction += np.where(is_milestone, 0.0, per_middle_touch[batch.journey_of_touch])
    nothing = (present_weight <= 0) & ~has_middle
    if np.any(nothing):
        equal = 1.0 / np.maximum(batch.lengths, 1)
        fraction = np.where(nothing[batch.journey_of_touch], equal[batch.journey_of_touch],
                            fraction)
    result: FloatArray = fraction.astype(np.float64)
    return result


class MilestoneModel(AttributionModel):
    """Shared engine: subclasses declare fixed ``ROLE_WEIGHTS`` and ``MIDDLE_WEIGHT``."""

    ROLE_WEIGHTS: ClassVar[Mapping[str, float]] = {}
    MIDDLE_WEIGHT: ClassVar[float] = 0.0

    def _weights(self) -> tuple[Mapping[str, float], float]:
        return self.ROLE_WEIGHTS, self.MIDDLE_WEIGHT

    def _attribute(self, batch: JourneyBatch) -> Credits:
        roles, middle = self._weights()
        role_weights, middle_weight = _validated_weights(roles, middle)
        return credits_from_fractions(batch, milestone_fractions(batch, role_weights,
                                                                 middle_weight))


def single_touch_credits(batch: JourneyBatch, touch_index: IntArray) -> Credits:
    """All of each journey's credit on one touch (``touch_index``: global index per journey).

    The one-milestone case of :func:`milestone_fractions`, written out because it is the
    most used model family and needs no per-touch arithmetic.
    """
    journeys = np.flatnonzero(batch.attributable)
    index = touch_index[journeys]
    return Credits.on_touches(batch, index, journeys, np.ones(index.size), batch.value[journeys])


class FirstTouchModel(MilestoneModel):
    """100% to the first touch."""

    name = "first_touch"
    ROLE_WEIGHTS: ClassVar[Mapping[str, float]] = {"first": 1.0}

    def _attribute(self, batch: JourneyBatch) -> Credits:
        return single_touch_credits(batch, batch.offsets[:-1])


class LastTouchModel(MilestoneModel):
    """100% to the last touch before the conversion."""

    name = "last_touch"
    ROLE_WEIGHTS: ClassVar[Mapping[str, float]] = {"last": 1.0}

    def _attribute(self, batch: JourneyBatch) -> Credits:
        return single_touch_credits(batch, batch.offsets[1:] - 1)


class PositionBasedModel(MilestoneModel):
    """U-shaped: 40% first touch, 40% lead-creation touch, 20% shared by the rest.

    Parameters
    ----------
    first, lead, middle : float
        The three shares; they are normalised, so (2, 2, 1) equals the default.
    """

    name = "position_based"

    def __init__(self, *, first: float = 0.4, lead: float = 0.4, middle: float = 0.2) -> None:
        self.first = first
        self.lead = lead
        self.middle = middle
        _validated_weights({"first": first, "lead": lead}, middle)

    def _weights(self) -> tuple[Mapping[str, float], float]:
        return {"first": self.first, "lead": self.lead}, self.middle


class WShapedModel(MilestoneModel):
    """30% first, 30% lead creation, 30% opportunity creation, 10% shared by the rest."""

    name = "w_shaped"
    ROLE_WEIGHTS: ClassVar[Mapping[str, float]] = {"first": 0.3, "lead": 0.3, "opportunity": 0.3}
    MIDDLE_WEIGHT: ClassVar[float] = 0.1


class FullPathModel(MilestoneModel):
    """Z-shaped: 22.5% each to first, lead, opportunity and close touches, 10% to the rest."""

    name = "full_path"
    ROLE_WEIGHTS: ClassVar[Mapping[str, float]] = {
        "first": 0.225, "lead": 0.225, "opportunity": 0.225, "close": 0.225,
    }
    MIDDLE_WEIGHT: ClassVar[float] = 0.1


class JShapedModel(MilestoneModel):
    """J-shaped: 20% first touch, 60% last touch, 20% shared by the rest."""

    name = "j_shaped"
    ROLE_WEIGHTS: ClassVar[Mapping[str, float]] = {"first": 0.2, "last": 0.6}
    MIDDLE_WEIGHT: ClassVar[float] = 0.2


class InverseJModel(MilestoneModel):
    """Inverse J: 60% first touch, 20% last touch, 20% shared by the rest."""

    name = "inverse_j"
    ROLE_WEIGHTS: ClassVar[Mapping[str, float]] = {"first": 0.6, "last": 0.2}
    MIDDLE_WEIGHT: ClassVar[float] = 0.2


class CustomModel(MilestoneModel):
    """User-given weights for the first, lead, opportunity and close touches and the middle.

    Weights are normalised; the milestone rules in the module docstring apply unchanged.
    """

    name = "custom"

    def __init__(
        self,
        *,
        first: float = 0.25,
        lead: float = 0.25,
        opportunity: float = 0.25,
        close: float = 0.25,
        middle: float = 0.0,
    ) -> None:
        self.first = first
        self.lead = lead
        self.opportunity = opportunity
        self.close = close
        self.middle = middle
        _validated_weights(self._weights()[0], middle)

    def _weights(self) -> tuple[Mapping[str, float], float]:
        roles = {"first": self.first, "lead": self.lead, "opportunity": self.opportunity,
                 "close": self.close}
        return roles, self.middle
