"""Draining an outbox or queue one site at a time. A claim locks its rows (``FOR UPDATE SKIP
LOCKED``), and a locking claim across sites is a multi-shard statement that Citus refuses
(docs/scaling.md), so every outbox is claimed site by site, up to one limit over all sites."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, TypeVar


class Tally(Protocol):
    def __add__(self: _T, other: _T, /) -> _T: ...


_T = TypeVar("_T", bound=Tally)
_Batch = TypeVar("_Batch")


def drain_site_by_site(
    sites: Iterable[int],
    limit: int,
    batch_size: int,
    *,
    claim: Callable[[int, int], Sequence[_Batch]],
    rows_of: Callable[[_Batch], int],
    settle: Callable[[_Batch], _T],
    total: _T,
) -> _T:
    """Claim up to ``batch_size`` rows of a site at a time (``claim(site, n)``), settle each
    claimed batch and add up what settling said, until ``limit`` rows were claimed or no
    site has any left."""
    claimed = 0
    for site in sites:
        while claimed < limit:
            batches = claim(site, min(batch_size, limit - claimed))
            if not batches:
                break
            for batch in batches:
                claimed += rows_of(batch)
                total += settle(batch)
    return total
