"""Digests of a lead's credit rows, computed from the arrays the rows are made of.

A lead's digest (``lead_credit_digests``) stands for every credit row it has under every
configured model. It is a sum, modulo 2**64 in two lanes seeded apart, of one term per row, so

* it does not depend on the order of the rows, and a whole site's digests accumulate in a few
  array operations while a rebuild writes its rows (no row is built twice to be hashed);
* it is the same in every process (BLAKE2b and fixed constants, no salted ``hash``);
* each term binds every column of its row: the row's fields other than the model, credit and
  value (hashed once per conversion, from the row layout itself, see
  :func:`conversion_hashes`), then the model, the position, and the bits of the credit and
  value through a 64-bit mixer, so credits moved between touches, conversions or models do
  not cancel out.

Only equality matters: a different or missing digest means the lead's rows are read and
compared (tracker/credits/store.py).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from attribution import Credits

U64 = npt.NDArray[np.uint64]
LANES = 2
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_VALUE_SEED = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: U64) -> U64:
    """splitmix64's finalizer: each input bit flips about half the output bits."""
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(30))
        x = x * _M1
        x = x ^ (x >> np.uint64(27))
        x = x * _M2
        return x ^ (x >> np.uint64(31))


def _seeds(text: str) -> U64:
    return np.frombuffer(hashlib.blake2b(text.encode(), digest_size=8 * LANES).digest(),
                         dtype="<u8").astype(np.uint64)


RowsOf = Callable[[Credits], Iterable[tuple[Any, ...]]]


def conversion_hashes(template_rows: Iterable[tuple[Any, ...]], counts: Sequence[int]) -> U64:
    """``(conversions, LANES)`` hashes of each conversion's rows with the model, credit and
    value left out: ``template_rows`` are the rows of one conversion type built with a blank
    model and zero credits, ``counts[j]`` of them for conversion ``j``."""
    rows = iter(template_rows)
    found = np.empty((len(counts), LANES), dtype=np.uint64)
    for j, count in enumerate(counts):
        head = repr([next(rows) for _ in range(count)]).encode()
        found[j] = np.frombuffer(hashlib.blake2b(head, digest_size=8 * LANES).digest(),
                                 dtype="<u8")
    return found


def model_terms(model: str, statics: U64, offsets: Sequence[int], credits: Credits) -> U64:
    """``(conversions, LANES)``: the sum of the terms of each conversion's rows under
    ``model``. A conversion without touches has one row whose credit and value come from the
    conversion itself (in its static hash)."""
    bounds = np.asarray(offsets, dtype=np.int64)
    lengths = np.diff(bounds)
    n = len(lengths)
    sums = np.zeros((n, LANES), dtype=np.uint64)
    if n == 0:
        return sums
    seeds = _seeds(model)
    owner = np.repeat(np.arange(n), lengths)
    position = (np.arange(int(bounds[-1]), dtype=np.int64) - bounds[:-1][owner]).astype(np.uint64)
    credit_bits = np.ascontiguousarray(credits.credit, dtype=np.float64).view(np.uint64)
    value_bits = np.ascontiguousarray(credits.value, dtype=np.float64).view(np.uint64)
    empty = lengths == 0
    with np.errstate(over="ignore"):
        for lane in range(LANES):
            row = _mix(statics[owner, lane] ^ _mix(position + seeds[lane]))
            terms = _mix(row ^ credit_bits) + _mix(row ^ _mix(value_bits ^ _VALUE_SEED))
            np.add.at(sums[:, lane], owner, terms)
            sums[empty, lane] += _mix(statics[empty, lane] ^ _mix(seeds[lane:lane + 1]))
    return sums


class LeadDigests:
    """Digests accumulated per lead over conversion types and models."""

    def __init__(self) -> None:
        self._index: dict[uuid.UUID, int] = {}
        self._sums = np.zeros((0, LANES), dtype=np.uint64)

    def add(self, lead_ids: Sequence[uuid.UUID], terms: U64) -> None:
        """Add ``terms[j]`` to the digest of ``lead_ids[j]``."""
        index = self._index
        owners = np.fromiter((index.setdefault(lead, len(index)) for lead in lead_ids),
                             dtype=np.int64, count=len(lead_ids))
        if len(index) > len(self._sums):
            grown = np.zeros((max(len(index), 2 * len(self._sums)), LANES), dtype=np.uint64)
            grown[:len(self._sums)] = self._sums
            self._sums = grown
        with np.errstate(over="ignore"):
            for lane in range(LANES):
                np.add.at(self._sums[:, lane], owners, terms[:, lane])

    def digests(self) -> dict[uuid.UUID, bytes]:
        """Each lead's digest as 16 bytes."""
        packed = self._sums.astype("<u8")
        return {lead: packed[i].tobytes() for lead, i in self._index.items()}
