"""A lead's digest stands for its credit rows: the same rows in any order give the same
digest, and any change to a credit, a value, a model or a row's other fields gives another."""

from __future__ import annotations

import uuid

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from attribution import Credits, JourneyBatch
from tracker.credits.digests import LeadDigests, conversion_hashes, model_terms

ADA, BEN = uuid.UUID(int=1), uuid.UUID(int=2)


def credits(*pairs: tuple[float, float]) -> Credits:
    credit = np.array([c for c, _v in pairs], dtype=np.float64)
    value = np.array([v for _c, v in pairs], dtype=np.float64)
    batch = JourneyBatch.from_arrays(np.array([len(pairs)]), np.zeros(len(pairs), np.int64),
                                     ("direct",), np.ones(1))
    return Credits(batch, credit, value)


def digest_of(conversions: list[tuple[uuid.UUID, str, list[tuple[float, float]]]],
              model: str = "linear") -> dict[uuid.UUID, bytes]:
    """Digests of conversions given as (lead, what the row layout holds, credit/value pairs):
    one ``(LANES)`` term per conversion, as :mod:`tracker.credits.store` adds them."""
    digests = LeadDigests()
    for lead, fields, pairs in conversions:
        counts = [max(1, len(pairs))]
        statics = conversion_hashes([(fields, k) for k in range(counts[0])], counts)
        digests.add([lead], model_terms(model, statics, [0, len(pairs)], credits(*pairs)))
    return digests.digests()


def test_the_order_of_a_leads_rows_does_not_matter() -> None:
    first = [(ADA, "lead", [(0.5, 0.0), (0.5, 0.0)]), (ADA, "won", [(1.0, 90.0)])]
    assert digest_of(first) == digest_of(list(reversed(first)))
    assert len(digest_of(first)[ADA]) == 16


def test_credit_moved_between_touches_conversions_or_models_changes_the_digest() -> None:
    base = digest_of([(ADA, "lead", [(0.25, 0.0), (0.75, 0.0)]), (ADA, "won", [(1.0, 9.0)])])
    swapped_touches = digest_of([(ADA, "lead", [(0.75, 0.0), (0.25, 0.0)]),
                                 (ADA, "won", [(1.0, 9.0)])])
    value_moved = digest_of([(ADA, "lead", [(0.25, 9.0), (0.75, 0.0)]),
                             (ADA, "won", [(1.0, 0.0)])])
    other_fields = digest_of([(ADA, "lead", [(0.25, 0.0), (0.75, 0.0)]),
                              (ADA, "won (stage 2)", [(1.0, 9.0)])])
    other_model = digest_of([(ADA, "lead", [(0.25, 0.0), (0.75, 0.0)]),
                             (ADA, "won", [(1.0, 9.0)])], model="first_touch")
    found = [base, swapped_touches, value_moved, other_fields, other_model]
    assert len({d[ADA] for d in found}) == len(found)


def test_a_conversion_without_touches_still_counts_under_each_model() -> None:
    with_empty = digest_of([(ADA, "lead", [(1.0, 0.0)]), (ADA, "unattributed won", [])])
    without = digest_of([(ADA, "lead", [(1.0, 0.0)])])
    assert with_empty[ADA] != without[ADA]
    assert digest_of([(ADA, "unattributed won", [])], "linear") != digest_of(
        [(ADA, "unattributed won", [])], "first_touch")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([ADA, BEN]), st.sampled_from(["lead", "won"]),
                          st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1e6)), max_size=4)),
                min_size=1, max_size=6), st.randoms())
def test_each_lead_has_the_digest_of_its_own_rows_alone(
    conversions: list[tuple[uuid.UUID, str, list[tuple[float, float]]]], rng: object
) -> None:
    shuffled = list(conversions)
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    together = digest_of(shuffled)
    for lead in together:
        assert together[lead] == digest_of([c for c in conversions if c[0] == lead])[lead]
