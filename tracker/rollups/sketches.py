"""HyperLogLog sketches of a traffic rollup row's visitors, for sites that count unique
visitors approximately (the site setting ``unique_visitors: approximate``, docs/reports.md).

Exact counting reads every visitor hash of the range (a union of sets), so its cost grows with
the visitors a site has; a sketch has a fixed size, and PostgreSQL's ``hll`` extension
(github.com/citusdata/postgresql-hll) unions a range of them inside the database, so only one
number per group leaves it.

The bytes are that extension's storage format (its STORAGE.markdown, checked byte for byte
against the extension in tests/api/test_visitor_sketches.py), written by the worker from the
visitor hashes it already has, so no SQL function is needed to build them and SQLite can store
them too:

- a set of at most :data:`EXPLICIT_CUTOFF` visitors is stored *explicitly* (the sorted 64-bit
  hashes, big-endian): exact, as the extension's automatic threshold would store it;
- a larger one as the full sketch: 2^12 registers of 5 bits. Register ``hash mod 2^12`` holds
  the largest ``1 + trailing zeros of (hash >> 12)`` of its hashes (unsigned). The relative
  standard error of a count is 1.04 / √4096 ≈ 1.6 %.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

LOG2M = 12
REGWIDTH = 5
REGISTERS = 1 << LOG2M
# The extension's automatic explicit threshold: as many 8-byte hashes as the full registers'
# bytes hold (2^12 × 5 bits = 2,560 bytes → 320 hashes).
EXPLICIT_CUTOFF = REGISTERS * REGWIDTH // 8 // 8
RELATIVE_STANDARD_ERROR = 1.04 / REGISTERS ** 0.5

_VERSION = 1
_EMPTY, _EXPLICIT, _FULL = 1, 2, 4  # 3 is the sparse form, never written
# Byte 2: (register width - 1) in the top 3 bits, log2(registers) in the low 5; byte 3: sparse
# representation off (bit 6 clear), explicit threshold "automatic" (63).
_PARAMETERS = bytes([((REGWIDTH - 1) << 5) | LOG2M, 0x3F])
_MAX_REGISTER = (1 << REGWIDTH) - 1


def _header(kind: int) -> bytes:
    return bytes([(_VERSION << 4) | kind]) + _PARAMETERS


def encode_sketch(hashes: npt.NDArray[np.int64]) -> bytes:
    """The sketch of a set of visitor hashes (sorted ascending and unique, as
    :func:`tracker.rollups.levels.unique_visitors` gives them)."""
    if len(hashes) == 0:
        return _header(_EMPTY)
    if len(hashes) <= EXPLICIT_CUTOFF:
        return _header(_EXPLICIT) + hashes.astype(">i8").tobytes()
    unsigned = hashes.view(np.uint64)
    index = (unsigned & np.uint64(REGISTERS - 1)).astype(np.intp)
    substream = unsigned >> np.uint64(LOG2M)
    # A substream of 0 sets no register (the extension skips it).
    kept = substream != 0
    index, substream = index[kept], substream[kept]
    lowest_bit = substream & (~substream + np.uint64(1))
    # Powers of two are exact in float64, so log2 gives the number of trailing zeros exactly.
    values = np.minimum(np.log2(lowest_bit.astype(np.float64)).astype(np.uint8) + 1,
                        _MAX_REGISTER).astype(np.uint8)
    registers = np.zeros(REGISTERS, dtype=np.uint8)
    np.maximum.at(registers, index, values)
    bits = np.unpackbits(registers[:, None], axis=1)[:, 8 - REGWIDTH:]
    return _header(_FULL) + np.packbits(bits.ravel()).tobytes()
