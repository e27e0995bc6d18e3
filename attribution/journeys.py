"""Journeys: the touches that led (or did not lead) to one conversion, one at a time or as arrays.

A :class:`Journey` is convenient for one lead; a :class:`JourneyBatch` holds any number of
journeys as flat numpy arrays (CSR-style ``offsets``), so a million journeys never become a
million Python objects. Every model works on batches; single journeys are wrapped.

Milestone positions are indexes into a journey's touches: ``lead`` is the touch in whose
session the lead was created (the last touch when the conversion *is* the lead creation),
``opportunity`` and ``close`` are the touches before those CRM events, or ``-1`` when the
event has not happened (yet). The first touch is always position 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from attribution.exceptions import AttributionError

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

MISSING = -1
GROUP_KEYS = ("source", "medium", "campaign", "keyword")


@dataclass(frozen=True, slots=True)
class Touch:
    """One marketing interaction: a session's traffic source or an offline touch.

    ``time`` is in seconds on any clock shared with the journey's ``conversion_time``
    (the tracker uses Unix seconds).
    """

    channel: str
    time: float = 0.0
    source: str | None = None
    medium: str | None = None
    campaign: str | None = None
    keyword: str | None = None


@dataclass(frozen=True, slots=True)
class Journey:
    """The ordered touches before one conversion (or before nothing, for a non-converting path).

    ``count`` lets one row stand for many identical journeys (path-aggregated data);
    ``value`` is the total conversion value of the row. ``lead_index`` defaults to the last
    touch; ``opportunity_index`` and ``close_index`` default to "not happened".
    """

    touches: tuple[Touch, ...]
    converted: bool = True
    value: float = 0.0
    conversion_time: float | None = None
    lead_index: int | None = None
    opportunity_index: int | None = None
    close_index: int | None = None
    count: float = 1.0


def _readonly(array: npt.NDArray[Any]) -> None:
    array.setflags(write=False)


@dataclass(frozen=True, eq=False)
class JourneyBatch:
    """Many journeys as flat arrays.

    Parameters
    ----------
    offsets : int array, shape (J + 1,)
        Touches of journey ``j`` are ``offsets[j]:offsets[j + 1]``; ``offsets[0] == 0``.
    channel : int array, shape (T,)
        Channel code of every touch, an index into ``channels``.
    time : float array, shape (T,)
        Touch times in seconds.
    channels : tuple of str
        Channel names by code.
    conversions, nulls : float arrays, shape (J,)
        How many times the path converted and how many times it ended without converting.
    value : float array, shape (J,)
        Total conversion value of each row (revenue for a deal-won journey).
    conversion_time : float array, shape (J,)
        Time of the conversion (the end of the path for non-converting rows).
    lead_position, opportunity_position, close_position : int arrays, shape (J,)
        Milestone touch positions inside each journey; ``-1`` when the milestone is missing.
    groups : mapping of key -> (codes, labels)
        Optional per-touch grouping keys (source, campaign, ...) to sum credits by.
    """

    offsets: IntArray
    channel: IntArray
    time: FloatArray
    channels: tuple[str, ...]
    conversions: FloatArray
    nulls: FloatArray
    value: FloatArray
    conversion_time: FloatArray
    lead_position: IntArray
    opportunity_position: IntArray
    close_position: IntArray
    groups: Mapping[str, tuple[IntArray, tuple[str, ...]]] = field(default_factory=dict)
    lengths: IntArray = field(init=False)
    journey_of_touch: IntArray = field(init=False)
    position: IntArray = field(init=False)

    def __post_init__(self) -> None:
        offsets = np.asarray(self.offsets, dtype=np.int64)
        n_journeys = offsets.size - 1
        n_touches = int(offsets[-1]) if offsets.size else 0
        if offsets.size == 0 or offsets[0] != 0 or np.any(np.diff(offsets) < 0):
            raise AttributionError("offsets must start at 0 and never decrease")
        arrays: dict[str, npt.NDArray[Any]] = {
            "offsets": offsets,
            "channel": np.asarray(self.channel, dtype=np.int64),
            "time": np.asarray(self.time, dtype=np.float64),
        }
        for name in ("conversions", "nulls", "value", "conversion_time"):
            arrays[name] = np.asarray(getattr(self, name), dtype=np.float64)
        for name in ("lead_position", "opportunity_position", "close_position"):
            arrays[name] = np.asarray(getattr(self, name), dtype=np.int64)
        for name, array in arrays.items():
            expected = n_touches if name in ("channel", "time") else n_journeys
            if name != "offsets" and array.shape != (expected,):
                raise AttributionError(f"{name} must have shape ({expected},), got {array.shape}")
        channel = arrays["channel"]
        if channel.size and (channel.min() < 0 or channel.max() >= len(self.channels)):
            raise AttributionError("channel codes must index into channels")
        if np.any(arrays["conversions"] < 0) or np.any(arrays["nulls"] < 0):
            raise AttributionError("conversions and nulls must be >= 0")
        lengths = np.diff(offsets)
        for name in ("lead_position", "opportunity_position", "close_position"):
            positions = arrays[name]
            if np.any((positions < MISSING) | (positions >= np.maximum(lengths, 1))):
                raise AttributionError(f"{name} must be -1 or a position inside its journey")
        for key, (codes, labels) in self.groups.items():
            if np.asarray(codes).shape != (n_touches,):
                raise AttributionError(f"group {key!r} needs one code per touch")
            if len(codes) and (np.min(codes) < 0 or np.max(codes) >= len(labels)):
                raise AttributionError(f"group {key!r} codes must index into its labels")
        journey_of_touch = np.repeat(np.arange(n_journeys, dtype=np.int64), lengths)
        position = np.arange(n_touches, dtype=np.int64) - offsets[journey_of_touch]
        arrays.update(lengths=lengths, journey_of_touch=journey_of_touch, position=position)
        for name, array in arrays.items():
            _readonly(array)
            object.__setattr__(self, name, array)

    @property
    def n_journeys(self) -> int:
        return int(self.offsets.size - 1)

    @property
    def n_touches(self) -> int:
        return int(self.channel.size)

    @property
    def attributable(self) -> BoolArray:
        """Rows that converted and have at least one touch to credit."""
        result: BoolArray = (self.conversions > 0) & (self.lengths > 0)
        return result

    def channel_code(self, name: str) -> int | None:
        """The code of channel ``name``, or None when no touch has it."""
        try:
            return self.channels.index(name)
        except ValueError:
            return None

    @classmethod
    def from_journeys(cls, journeys: Iterable[Journey]) -> JourneyBatch:
        """Pack journey objects into arrays, keeping source/medium/campaign/keyword as groups."""
        rows = list(journeys)
        channel_codes: dict[str, int] = {}
        group_codes: dict[str, dict[str | None, int]] = {key: {} for key in GROUP_KEYS}
        lengths = [len(row.touches) for row in rows]
        channel = np.empty(sum(lengths), dtype=np.int64)
        time = np.empty(sum(lengths), dtype=np.float64)
        groups = {key: np.empty(sum(lengths), dtype=np.int64) for key in GROUP_KEYS}
        index = 0
        for row in rows:
            for touch in row.touches:
                channel[index] = channel_codes.setdefault(touch.channel, len(channel_codes))
                time[index] = touch.time
                for key in GROUP_KEYS:
                    label = getattr(touch, key)
                    groups[key][index] = group_codes[key].setdefault(label, len(group_codes[key]))
                index += 1

        def position(value: int | None, default: int) -> int:
            return default if value is None else value

        return cls(
            offsets=np.concatenate(([0], np.cumsum(lengths, dtype=np.int64))),
            channel=channel,
            time=time,
            channels=tuple(channel_codes),
            conversions=np.array([r.count if r.converted else 0.0 for r in rows], dtype=float),
            nulls=np.array([0.0 if r.converted else r.count for r in rows], dtype=float),
            value=np.array([r.value if r.converted else 0.0 for r in rows], dtype=float),
            conversion_time=np.array(
                [_conversion_time(r) for r in rows], dtype=np.float64
            ),
            lead_position=np.array(
                [position(r.lead_index, len(r.touches) - 1) for r in rows], dtype=np.int64
            ),
            opportunity_position=np.array(
                [position(r.opportunity_index, MISSING) for r in rows], dtype=np.int64
            ),
            close_position=np.array(
                [position(r.close_index, MISSING) for r in rows], dtype=np.int64
            ),
            groups={
                key: (groups[key], tuple("" if k is None else k for k in group_codes[key]))
                for key in GROUP_KEYS
            },
        )

    @classmethod
    def from_paths(
        cls,
        paths: Sequence[str],
        conversions: Sequence[float] | FloatArray,
        nulls: Sequence[float] | FloatArray | None = None,
        value: Sequence[float] | FloatArray | None = None,
        separator: str = " > ",
    ) -> JourneyBatch:
        """Path-aggregated data, one row per distinct path (ChannelAttribution's input form).

        Touch times are unknown in this form, so every touch gets time 0 and the lead
        milestone is the last touch.
        """
        channel_codes: dict[str, int] = {}
        codes: list[int] = []
        lengths: list[int] = []
        for path in paths:
            names = [name.strip() for name in path.split(separator) if name.strip()]
            codes.extend(channel_codes.setdefault(name, len(channel_codes)) for name in names)
            lengths.append(len(names))
        return cls.from_arrays(
            np.asarray(lengths, dtype=np.int64),
            np.asarray(codes, dtype=np.int64),
            tuple(channel_codes),
            np.asarray(conversions, dtype=np.float64),
            nulls=None if nulls is None else np.asarray(nulls, dtype=np.float64),
            value=None if value is None else np.asarray(value, dtype=np.float64),
        )

    @classmethod
    def from_arrays(
        cls,
        lengths: IntArray,
        channel: IntArray,
        channels: Sequence[str],
        conversions: FloatArray,
        *,
        nulls: FloatArray | None = None,
        value: FloatArray | None = None,
        time: FloatArray | None = None,
        conversion_time: FloatArray | None = None,
    ) -> JourneyBatch:
        """Build from journey lengths and flat channel codes (the form generators produce)."""
        lengths = np.asarray(lengths, dtype=np.int64)
        n_rows = lengths.size
        return cls(
            offsets=np.concatenate(([0], np.cumsum(lengths))),
            channel=channel,
            time=np.zeros(channel.size) if time is None else time,
            channels=tuple(channels),
            conversions=conversions,
            nulls=np.zeros(n_rows) if nulls is None else nulls,
            value=np.zeros(n_rows) if value is None else value,
            conversion_time=np.zeros(n_rows) if conversion_time is None else conversion_time,
            lead_position=np.maximum(lengths - 1, 0),
            opportunity_position=np.full(n_rows, MISSING, dtype=np.int64),
            close_position=np.full(n_rows, MISSING, dtype=np.int64),
        )


def _conversion_time(journey: Journey) -> float:
    if journey.conversion_time is not None:
        return journey.conversion_time
    return max((touch.time for touch in journey.touches), default=0.0)


def as_batch(journeys: JourneyBatch | Journey | Iterable[Journey]) -> JourneyBatch:
    """Accept one journey, many, or a batch; models call this on their input."""
    if isinstance(journeys, JourneyBatch):
        return journeys
    if isinstance(journeys, Journey):
        return JourneyBatch.from_journeys([journeys])
    return JourneyBatch.from_journeys(journeys)
