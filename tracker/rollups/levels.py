"""What a rollup row is keyed by (traffic and credits alike), and how visitor sets and
conversion times are stored.

A level is a tuple of dimensions. The drill-down levels (channel → source → campaign →
keyword) serve the dashboard and every report grouped or filtered along that path; medium
and landing page have levels of their own for grouping by them alone. A query whose group and
filters no level covers is answered from the sessions (tracker/reports/queries.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import struct
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

DIMENSIONS = ("channel", "source", "medium", "campaign", "keyword", "landing_page")
LEVELS: tuple[tuple[str, ...], ...] = (
    ("channel",),
    ("channel", "source"),
    ("channel", "source", "campaign"),
    ("channel", "source", "campaign", "keyword"),
    ("medium",),
    ("landing_page",),
)
# Levels of several dimensions: a report grouped by the last one alone (a source, a
# campaign, a keyword, under whatever it sits) gathers several of their rows per group, and
# their rows hold tail gaps for that (tracker/models/rollup.py).
TAIL_LEVELS = frozenset(i for i, level in enumerate(LEVELS) if len(level) > 1)
# Where each level's dimensions sit in DIMENSIONS (a source row's values are in that order).
LEVEL_INDEXES = [tuple(DIMENSIONS.index(name) for name in level) for level in LEVELS]
# Cheapest first: fewer distinct values per day means fewer rows to read.
_BY_SIZE = (0, 4, 1, 2, 3, 5)


def level_for(needed: Collection[str]) -> int | None:
    """The smallest level whose dimensions include ``needed`` (group and filters)."""
    for index in _BY_SIZE:
        if set(needed) <= set(LEVELS[index]):
            return index
    return None


def _hash64(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little",
                          signed=True)


def path_hash(level: int, values: Sequence[str]) -> int:
    """A row's key within its day and level: a hash of the level's dimension values."""
    return _hash64("\x1f".join((str(level), *values)))


def level_columns(level: int, values: Sequence[str]) -> tuple[Any, ...]:
    """A row's ``path`` and its six dimension columns: the level's ``values``, '' elsewhere."""
    named = dict(zip(LEVELS[level], values, strict=True))
    return (path_hash(level, values), *(named.get(name, "") for name in DIMENSIONS))


def visitor_hash(visitor_id: str) -> int:
    return _hash64(visitor_id)


def unique_visitors(hashes: Iterable[int]) -> npt.NDArray[np.int64]:
    """A set of visitor hashes, sorted, as little-endian int64s (a row's ``visitors`` is
    their bytes)."""
    return np.unique(np.fromiter(hashes, dtype="<i8"))



def decode_visitors(blob: bytes) -> npt.NDArray[np.int64]:
    return np.frombuffer(blob, dtype="<i8")


def count_unique(blobs: Sequence[bytes]) -> int:
    """Unique visitors over several rows' sets."""
    if not blobs:
        return 0
    if len(blobs) == 1:
        return len(blobs[0]) // 8
    # Each blob is sorted: a stable sort (timsort) merges the runs instead of sorting from
    # scratch, several times faster than np.unique's hashing at a quarter-million hashes.
    merged = np.frombuffer(b"".join(blobs), dtype="<i8").copy()
    merged.sort(kind="stable")
    return 1 + int(np.count_nonzero(merged[1:] != merged[:-1]))


# A row's visitors by the days since their previous visit on the same path (site_gaps: on
# the whole site), as (gap, visitors) pairs sorted by gap; NEVER for a first visit. A visitor
# of day d is new to a range starting on day a exactly when its gap exceeds d - a, so unique
# visitors of one path over a range are a sum over its rows, whatever their number of
# visitors: the cost follows days x groups, not visitors.
GAPS = np.dtype([("gap", "<i4"), ("visitors", "<i4")])
NEVER = 2**31 - 1


def encode_gaps(gaps: Iterable[int]) -> bytes:
    """Gaps in days (one per visitor; NEVER for none) as a row's histogram."""
    found = np.fromiter(gaps, dtype=np.int64)
    values, counts = np.unique(found, return_counts=True)
    pairs = np.empty(len(values), dtype=GAPS)
    pairs["gap"], pairs["visitors"] = values, counts
    return pairs.tobytes()


def visitors_since(rows: Sequence[tuple[dt.date, bytes]], start: dt.date) -> int:
    """Unique visitors over a range starting on ``start`` of the ``(day, gaps)`` rows of one
    path in that range (or the ``site_gaps`` of the channel rows, for the whole site)."""
    if not rows:
        return 0
    lengths = [len(blob) // GAPS.itemsize for _day, blob in rows]
    pairs = np.frombuffer(b"".join(blob for _day, blob in rows), dtype=GAPS)
    since = np.repeat(np.fromiter(((day - start).days for day, _blob in rows), np.int64,
                                  len(rows)), lengths)
    return int(pairs["visitors"][pairs["gap"] > since].sum())


# Conversions behind a row's time-to-convert figures: (conversion hash, seconds) pairs sorted by
# hash, so rows and days merge without counting a conversion twice.
TIMES = np.dtype([("conversion", "<i8"), ("seconds", "<f8")])


def encode_times(times: Mapping[int, float]) -> bytes:
    if len(times) < 2:  # most rows: no numpy round trip
        return b"".join(struct.pack("<qd", *pair) for pair in times.items())
    pairs = np.fromiter(times.items(), dtype=TIMES, count=len(times))
    pairs.sort(order="conversion")
    return pairs.tobytes()


def _largest_per_run(changed: npt.NDArray[np.bool_], seconds: npt.NDArray[np.float64]
                     ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]]:
    """Where each run starts (``changed[i]``: element i + 1 starts one), and the largest
    seconds of each run."""
    starts = np.flatnonzero(np.concatenate(([True], changed)))
    return starts, np.maximum.reduceat(seconds, starts)


def merge_times(blobs: Sequence[bytes]) -> npt.NDArray[np.float64]:
    """The seconds of every distinct conversion over several rows' pairs (the largest seconds
    where a conversion appears twice, as the scan's MAX does): :func:`merge_times_by_group`
    with every row in one group."""
    return merge_times_by_group(blobs, np.zeros(len(blobs), dtype=np.int64), 1)[1]


def merge_times_by_group(blobs: Sequence[bytes], groups: npt.NDArray[np.int64], count: int
                         ) -> tuple[list[npt.NDArray[np.float64]], npt.NDArray[np.float64]]:
    """The merged seconds (each distinct conversion once, with its largest seconds) of each
    group's blobs (``groups[i]``, in ``range(count)``, is the group of ``blobs[i]``) and of
    all of them, in no particular order, from one sort by conversion hash and a maximum per
    run.

    The rows are laid out group after group, so the stable sort leaves a conversion's pairs
    in group order. Most conversions appear once per group (a group is mostly one path, and
    a path holds a conversion on its day's row alone): then each group's seconds are its
    slice of the rows as they are, with no second sort."""
    laid_out = np.argsort(groups, kind="stable")
    rows = [blobs[i] for i in laid_out.tolist()]
    lengths = np.fromiter((len(blob) // TIMES.itemsize for blob in rows), np.int64, len(rows))
    pairs = np.frombuffer(b"".join(rows), dtype=TIMES)
    if len(pairs) == 0:
        return [np.empty(0) for _ in range(count)], np.empty(0)
    seconds = np.ascontiguousarray(pairs["seconds"])  # each group's share is a slice of it
    owner = np.repeat(groups[laid_out], lengths)
    order = np.argsort(pairs["conversion"], kind="stable")
    by_hash = pairs["conversion"][order]
    repeated = by_hash[1:] == by_hash[:-1]
    if not repeated.any():
        overall = seconds
    else:
        overall = _largest_per_run(~repeated, seconds[order])[1]
        by_owner = owner[order]
        if (repeated & (by_owner[1:] == by_owner[:-1])).any():
            # A conversion twice in one group (a campaign under two of its sources): each
            # group's runs, from the same order sorted (stably) by group.
            by_group = by_owner.astype(np.int16) if count <= 2**15 else by_owner
            order = order[np.argsort(by_group, kind="stable")]
            owner, conversion = owner[order], pairs["conversion"][order]
            starts, largest = _largest_per_run(
                (owner[1:] != owner[:-1]) | (conversion[1:] != conversion[:-1]),
                seconds[order])
            bounds = np.searchsorted(owner[starts], np.arange(count + 1))
            return [largest[bounds[i]:bounds[i + 1]] for i in range(count)], overall
    bounds = np.searchsorted(owner, np.arange(count + 1))
    return [seconds[bounds[i]:bounds[i + 1]] for i in range(count)], overall
