"""Markov and Shapley: hand-computed chains and games, exactness checks against definitions."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attribution import AttributionError, JourneyBatch, NotFittedError, create_model
from attribution.markov import MarkovModel
from attribution.shapley import ShapleyModel

Row = tuple[list[str], int, int]  # (path's channels, conversions, nulls)


def path_rows(
    channels: str, max_length: int, max_count: int, max_rows: int
) -> st.SearchStrategy[list[Row]]:
    """Path-aggregated rows with at least one conversion."""
    row = st.tuples(st.lists(st.sampled_from(channels), min_size=1, max_size=max_length),
                    st.integers(0, max_count), st.integers(0, max_count))
    return st.lists(row, min_size=1, max_size=max_rows).filter(
        lambda rows: sum(conversions for _, conversions, _ in rows) > 0
    )


def batch_of(rows: list[Row]) -> JourneyBatch:
    return JourneyBatch.from_paths([" > ".join(p) for p, _, _ in rows],
                                   [c for _, c, _ in rows], [n for _, _, n in rows])


# "A > B" converts once; "A" ends once without converting; "B" converts once and fails once.
SMALL = JourneyBatch.from_paths(["A > B", "A", "B"], conversions=[1, 0, 1], nulls=[0, 1, 1],
                                value=[100, 0, 50])


class TestMarkov:
    def test_hand_computed_chain(self):
        # start→A 2/4, start→B 2/4; A→B 1/2, A→null 1/2; B→conv 2/3, B→null 1/3.
        # P = 1/2 * 1/2 * 2/3 + 1/2 * 2/3 = 1/2.
        # Without A: P = 1/2 * 2/3 = 1/3 → removal effect 1 - (1/3)/(1/2) = 1/3.
        # Without B: P = 0 → removal effect 1. Shares 1/4 and 3/4 of 2 conversions.
        model = MarkovModel().fit(SMALL)

        assert model.conversion_probability_ == pytest.approx(0.5)
        np.testing.assert_allclose(model.removal_effects_, [1 / 3, 1.0])
        np.testing.assert_allclose(model.conversions_by_channel_, [0.5, 1.5])
        assert model.removal_effects() == pytest.approx({"A": 1 / 3, "B": 1.0})

    def test_transition_matrix_is_exposed_and_row_stochastic(self):
        model = MarkovModel().fit(SMALL)

        matrix = model.transition_matrix_.toarray()

        # rows: (start), A, B, (conversion), (null)
        np.testing.assert_allclose(matrix.sum(axis=1), 1.0)
        np.testing.assert_allclose(matrix[0, 1:3], [0.5, 0.5])
        np.testing.assert_allclose(matrix[1, [2, 4]], [0.5, 0.5])
        np.testing.assert_allclose(matrix[2, 3:], [2 / 3, 1 / 3])
        assert model.states_ == (("A",), ("B",))

    def test_value_uses_its_own_chain(self):
        # Expected value from start: 1/2*1/2*(B's value per exit) + 1/2*(B's value per exit),
        # B's value per exit = 150 / 3 = 50 → V = 37.5. Without A: 25 → effect 1/3; without
        # B: 0 → effect 1. Value shares 1/4 and 3/4 of the 150 total.
        model = MarkovModel().fit(SMALL)

        assert model.expected_value_ == pytest.approx(37.5)
        np.testing.assert_allclose(model.value_by_channel_, [37.5, 112.5])

    def test_per_touch_credit_follows_removal_effects(self):
        credits = MarkovModel().fit(SMALL).attribute(SMALL)

        # "A > B" converts: A and B share it 1/3 : 1 → 0.25 and 0.75; "B" alone gets 1.
        np.testing.assert_allclose(credits.credit, [0.25, 0.75, 0.0, 1.0])
        np.testing.assert_allclose(credits.value, [25.0, 75.0, 0.0, 50.0])

    @settings(max_examples=40, deadline=None)
    @given(rows=path_rows("ABCD", max_length=4, max_count=5, max_rows=12))
    def test_high_order_chain_reproduces_observed_rates_exactly(self, rows):
        # With order >= the longest path every state is a whole prefix, so the chain is a
        # tree: P(conversion) is the observed rate, and removing c keeps exactly the
        # conversions of paths without c.
        batch = batch_of(rows)
        conversions = sum(c for _, c, _ in rows)
        paths = conversions + sum(n for _, _, n in rows)

        model = MarkovModel(order=4).fit(batch)

        assert model.conversion_probability_ == pytest.approx(conversions / paths)
        for code, channel in enumerate(model.channels_):
            kept = sum(c for p, c, _ in rows if channel not in p)
            assert model.removal_effects_[code] == pytest.approx(1 - kept / conversions)

    def test_order_two_states_are_channel_pairs(self):
        model = MarkovModel(order=2).fit(SMALL)

        assert set(model.states_) == {("A",), ("B",), ("A", "B")}

    def test_needs_a_conversion_and_a_fit(self):
        with pytest.raises(AttributionError):
            MarkovModel().fit(JourneyBatch.from_paths(["A"], [0], [3]))
        with pytest.raises(NotFittedError):
            MarkovModel().attribute(SMALL)
        with pytest.raises(AttributionError):
            create_model("markov", order=0)


def shapley_by_definition(rates: dict[frozenset[str], float], players: list[str]) -> dict:
    """phi_i = sum over S ⊆ N\\{i} of |S|!(n-|S|-1)!/n! (v(S ∪ {i}) - v(S)), v(S) = Σ R(T⊆S)."""

    def worth(coalition: frozenset[str]) -> float:
        return sum(rate for members, rate in rates.items() if members <= coalition)

    n = len(players)
    phi = {}
    for player in players:
        others = [p for p in players if p != player]
        total = 0.0
        for size in range(n):
            weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            for subset in itertools.combinations(others, size):
                coalition = frozenset(subset)
                total += weight * (worth(coalition | {player}) - worth(coalition))
        phi[player] = total
    return phi


class TestShapley:
    def test_hand_computed_game(self):
        # R({A,B}) = 1/1, R({A}) = 0/1, R({B}) = 1/2. phi_A = 1/2, phi_B = 1/2 + 1/2 = 1,
        # so A gets 1/3 and B 2/3 of the 2 conversions.
        model = ShapleyModel().fit(SMALL)

        np.testing.assert_allclose(model.shapley_values_, [0.5, 1.0])
        np.testing.assert_allclose(model.conversions_by_channel_, [2 / 3, 4 / 3])

    @settings(max_examples=30, deadline=None)
    @given(rows=path_rows("ABCDE", max_length=5, max_count=4, max_rows=15))
    def test_simplified_formula_equals_the_definition(self, rows):
        batch = batch_of(rows)
        groups: dict[frozenset[str], list[int]] = {}
        for path, conversions, nulls in rows:
            counts = groups.setdefault(frozenset(path), [0, 0])
            counts[0] += conversions
            counts[1] += conversions + nulls
        rates = {k: (c / p if p else 0.0) for k, (c, p) in groups.items()}

        model = ShapleyModel().fit(batch)

        expected = shapley_by_definition(rates, list(model.channels_))
        for code, channel in enumerate(model.channels_):
            assert model.shapley_values_[code] == pytest.approx(expected[channel], abs=1e-12)

    def test_many_channels_stay_exact_and_fast(self):
        # 40 channels: 2^40 coalitions could never be enumerated; the simplified formula
        # only walks the observed channel sets.
        paths = [f"c{i} > c{(i + 1) % 40}" for i in range(40)] + ["c0"]
        model = ShapleyModel().fit(JourneyBatch.from_paths(paths, [1] * 41, [1] * 41))

        assert model.conversion_shares_.sum() == pytest.approx(1.0)
        assert model.conversion_shares_[0] > model.conversion_shares_[5]


@pytest.mark.parametrize("name", ["markov", "shapley", "linear"])
def test_sorted_fallback_for_huge_batches_gives_the_same_credits(name, monkeypatch):
    from attribution import credits, markov
    from attribution.synthetic import generate_journeys

    batch = generate_journeys(2_000, np.random.default_rng(5)).batch()
    params = {"per_distinct_channel": True} if name == "linear" else {}
    dense = create_model(name, **params).fit(batch).attribute(batch)

    monkeypatch.setattr(credits, "DENSE_CELLS_LIMIT", 0)
    monkeypatch.setattr(markov, "DENSE_CELLS_LIMIT", 0)
    sorted_ = create_model(name, **params).fit(batch).attribute(batch)

    np.testing.assert_allclose(sorted_.credit, dense.credit, rtol=1e-12)
    np.testing.assert_allclose(sorted_.value, dense.value, rtol=1e-9)


@pytest.mark.parametrize("name", ["markov", "shapley"])
def test_conversions_without_any_touch_cannot_fit(name):
    # Only touchless conversions: there is nothing to learn channel effects from.
    batch = JourneyBatch.from_paths(["", "A"], conversions=[3, 0], nulls=[0, 2])

    with pytest.raises(AttributionError, match="with a touch"):
        create_model(name).fit(batch)
