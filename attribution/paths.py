"""Conversion paths: which sequences of touches convert, how long they are, how long they
take, and which channels close conversions versus assist them.

Definitions follow Google Analytics (cited in docs/reports.md):

* A **path** is the ordered list of a conversion's touches in its lookback window, each
  named at the chosen level (channel, source or campaign); repeats are kept, as GA does.
* **Path length** is the number of touches on the path.
* **Time lag** is the time from the path's first touch to the conversion, in whole days.
* **Last-touch conversions** of a channel: conversions whose final touch is that channel.
  **Assisted conversions**: conversions where the channel is on the path other than as the
  final touch (counted once per conversion however often it appears; a channel that also
  closes the path still assists when it appears earlier). The assisted /
  last-touch ratio reads as GA's: above 1 the channel mostly assists, below 1 it mostly
  closes.

Everything here is plain Python over journeys read from stored credits; no model is fitted.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

SECONDS_PER_DAY = 86_400.0
PATH_SEPARATOR = " > "
NO_TOUCH = "(no touch in the lookback window)"
# Time-lag buckets in days: (label, lowest day, highest day inclusive or None for open).
LAG_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0", 0, 0), ("1", 1, 1), ("2", 2, 2), ("3", 3, 3), ("4–6", 4, 6), ("7–13", 7, 13),
    ("14–29", 14, 29), ("30–59", 30, 59), ("60–89", 60, 89), ("90+", 90, None),
)
# Paths longer than this are counted together in the length distribution.
LONGEST_LENGTH = 10


@dataclass(frozen=True, slots=True)
class PathJourney:
    """One conversion: its touches' labels in order, the seconds from the first touch to
    the conversion (None without a touch), its value and each label's credit under the
    model the journeys were read with."""

    labels: tuple[str, ...]
    lag_seconds: float | None
    value: float
    credit: dict[str, float] = field(default_factory=dict)
    # Each touch's credit, in the order of ``labels`` (for the early / mid / late split).
    touch_credit: tuple[float, ...] = ()


def _share(part: float, whole: float) -> float | None:
    return part / whole * 100 if whole else None


def top_paths(journeys: Sequence[PathJourney], limit: int) -> list[dict[str, object]]:
    """The ``limit`` most frequent paths: conversions, share of all conversions (%),
    value and value per conversion; ties broken by value, then by the path's text."""
    counts: Counter[tuple[str, ...]] = Counter()
    values: dict[tuple[str, ...], float] = defaultdict(float)
    for journey in journeys:
        counts[journey.labels] += 1
        values[journey.labels] += journey.value
    total = len(journeys)
    ordered = sorted(counts, key=lambda p: (-counts[p], -values[p], PATH_SEPARATOR.join(p)))
    return [
        {"path": PATH_SEPARATOR.join(path) or NO_TOUCH, "length": len(path),
         "conversions": counts[path], "share": _share(counts[path], total), "value": values[path],
         "value_per_conversion": values[path] / counts[path]}
        for path in ordered[:limit]
    ]


def path_lengths(journeys: Sequence[PathJourney]) -> list[dict[str, object]]:
    """Conversions and value by number of touches (1 … LONGEST_LENGTH, the last one open)."""
    counts: Counter[int] = Counter()
    values: dict[int, float] = defaultdict(float)
    for journey in journeys:
        length = min(len(journey.labels), LONGEST_LENGTH)
        counts[length] += 1
        values[length] += journey.value
    total = len(journeys)
    return [
        {"touches": f"{length}+" if length == LONGEST_LENGTH else str(length),
         "conversions": counts[length], "share": _share(counts[length], total),
         "value": values[length]}
        for length in sorted(counts)
    ]


def lag_bucket(seconds: float) -> str:
    days = int(max(seconds, 0.0) // SECONDS_PER_DAY)
    for label, low, high in LAG_BUCKETS:
        if days >= low and (high is None or days <= high):
            return label
    raise AssertionError("the last bucket is open")


def time_lags(journeys: Sequence[PathJourney]) -> list[dict[str, object]]:
    """Conversions and value by days from first touch to conversion (GA's buckets);
    conversions without a touch have no lag and are left out."""
    counts: Counter[str] = Counter()
    values: dict[str, float] = defaultdict(float)
    timed = [journey for journey in journeys if journey.lag_seconds is not None]
    for journey in timed:
        bucket = lag_bucket(journey.lag_seconds or 0.0)
        counts[bucket] += 1
        values[bucket] += journey.value
    return [
        {"days": label, "conversions": counts[label], "share": _share(counts[label], len(timed)),
         "value": values[label]}
        for label, _, _ in LAG_BUCKETS if counts[label]
    ]


def assists(journeys: Sequence[PathJourney]) -> list[dict[str, object]]:
    """Per label: first-touch, last-touch and assisted conversions, the assisted /
    last-touch ratio, and the conversions and value credited to it under the model."""
    first: Counter[str] = Counter()
    last: Counter[str] = Counter()
    assisted: Counter[str] = Counter()
    credited: dict[str, float] = defaultdict(float)
    valued: dict[str, float] = defaultdict(float)
    for journey in journeys:
        if not journey.labels:
            continue
        first[journey.labels[0]] += 1
        last[journey.labels[-1]] += 1
        # GA counts a channel that also closes the path as an assist when it appears
        # earlier on it too (one channel can play both roles in one conversion).
        for label in set(journey.labels[:-1]):
            assisted[label] += 1
        for label, share in journey.credit.items():
            credited[label] += share
            valued[label] += share * journey.value
    labels = sorted(set(first) | set(last) | set(assisted),
                    key=lambda label: (-last[label] - assisted[label], label))
    return [
        {"group": label, "last_touch": last[label], "assisted": assisted[label],
         "first_touch": first[label],
         "assist_ratio": assisted[label] / last[label] if last[label] else None,
         "credited": credited[label], "credited_value": valued[label]}
        for label in labels
    ]


def position_counts(touches: int) -> tuple[int, int, int]:
    """How many of a path's touches are early, mid and late, as GA4's conversion paths report
    splits them: early the first quarter (rounded half up; none on a one-touch path), late
    the last quarter (rounded up: a one-touch path's touch is late), mid the rest (none
    below three touches). Example: 6 touches → (2, 2, 2); 5 → (1, 2, 2); 2 → (1, 0, 1)."""
    if touches <= 0:
        return 0, 0, 0
    late = math.ceil(touches / 4)
    early = 0 if touches == 1 else math.floor(touches / 4 + 0.5)
    return early, touches - early - late, late


def touch_positions(journeys: Sequence[PathJourney]) -> list[dict[str, object]]:
    """Per label: the conversion credit the model gave its early, mid and late touches
    (:func:`position_counts`) and the value that credit carries (credit × the conversion's
    value); the three credits of all labels add up to the credited conversions. Labels with
    the most credit first, then by name."""
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0] * 6)
    for journey in journeys:
        early, mid, _late = position_counts(len(journey.labels))
        for index, (label, credit) in enumerate(
                zip(journey.labels, journey.touch_credit, strict=True)):
            slot = 0 if index < early else 1 if index < early + mid else 2
            found = sums[label]
            found[slot] += credit
            found[3 + slot] += credit * journey.value
    ordered = sorted(sums, key=lambda label: (-sum(sums[label][:3]), label))
    return [
        {"group": label, "early": found[0], "mid": found[1], "late": found[2],
         "early_value": found[3], "mid_value": found[4], "late_value": found[5]}
        for label, found in ((label, sums[label]) for label in ordered)
    ]
