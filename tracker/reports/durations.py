"""Time-to-convert figures over arrays of seconds: the median and mean days of
:mod:`attribution.metrics`, to the same bits, at array speed.

A report's medians and means run over every conversion in its range (a quarter of a million
at 10M sessions), so what costs per conversion here is what the report pays as a site grows:
the median is a partition, and the mean's correctly rounded sum (what ``math.fsum`` gives,
which ``statistics.fmean`` uses) is made from int64 sums of the values' mantissas instead of
a Python float per value.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import numpy.typing as npt

from attribution import metrics

# A finite float64 is m x 2**(e - 53) with an integer |m| below 2**53 (numpy's frexp).
_MANTISSA_BITS = 53
# Below this many mantissa bits per slice (exponents too far apart, or too many values, for
# slices to sum in int64), the sum goes through math.fsum.
_FEWEST_SLICE_BITS = 4


def correctly_rounded_sum(values: npt.NDArray[np.float64]) -> float:
    """The sum of ``values`` rounded once, as ``math.fsum`` gives it, to the bit.

    Every value is an integer times a power of two. Aligned on the smallest exponent and cut
    into slices of a few bits, their slices sum exactly in int64; the exact total is put
    together as one Python integer and rounded once by ``float()``. Values whose exponents
    lie too far apart for that (or non-finite ones, or sums near the ends of the float
    range) go through ``math.fsum``.
    """
    if len(values) == 0:
        return 0.0
    if not np.isfinite(values).all():
        return math.fsum(values.tolist())
    fractions, exponents = np.frexp(values)
    np.multiply(fractions, float(1 << _MANTISSA_BITS), out=fractions)
    mantissas = fractions.astype(np.int64)  # exact
    if mantissas.min() < 0:
        return math.fsum(values.tolist())  # durations are not negative
    low = int(exponents.min())
    span = int(exponents.max()) - low
    # A slice of `bits` bits shifted by up to `span`, summed over len(values): below 2**62.
    bits = 62 - span - len(values).bit_length()
    if bits < _FEWEST_SLICE_BITS:
        return math.fsum(values.tolist())
    aligned = np.subtract(exponents, low, dtype=np.int64)
    part = np.empty_like(mantissas)  # one buffer: fresh arrays cost page faults
    total = 0
    for start in range(0, _MANTISSA_BITS, bits):
        np.right_shift(mantissas, start, out=part)
        np.bitwise_and(part, (1 << bits) - 1, out=part)
        np.left_shift(part, aligned, out=part)
        total += int(part.sum()) << start
    if total == 0:
        return math.fsum(values.tolist())  # the sign of a zero sum is fsum's
    try:
        result = math.ldexp(float(total), low - _MANTISSA_BITS)
    except OverflowError:
        return math.fsum(values.tolist())
    if math.isinf(result) or abs(result) < sys.float_info.min:
        return math.fsum(values.tolist())  # ldexp would round a second time
    return result


def median_mean_days(seconds: npt.NDArray[np.float64]) -> tuple[float | None, float | None]:
    """:func:`attribution.metrics.median_days` and ``mean_days`` of an array, to the same
    bits: the median of the same days, and their correctly rounded sum over their count."""
    if len(seconds) == 0:
        return None, None
    days = np.asarray(seconds, dtype=np.float64) / metrics.SECONDS_PER_DAY
    return float(np.median(days)), correctly_rounded_sum(days) / len(days)
