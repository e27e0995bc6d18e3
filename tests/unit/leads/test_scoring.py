"""Lead scoring rules: matching, caps, decay, labels, rule validation."""

from __future__ import annotations

import datetime as dt

import pytest

from tracker.errors import ValidationError
from tracker.rules.score_rules import (
    DEFAULT_RULES,
    Activity,
    ScoreRule,
    label_for,
    parse_score_rules,
    score_activity,
)

NOW = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)


def days_ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def test_default_rules_score_pricing_forms_and_depth() -> None:
    rules = DEFAULT_RULES
    activity = [
        Activity("pageview", NOW, "/pricing"),
        Activity("pageview", NOW, "/pricing/enterprise"),
        Activity("pageview", NOW, "/pricing"),
        Activity("pageview", NOW, "/blog/post"),
        Activity("form_submit", NOW, "/contact"),
        Activity("return_visit", NOW),
    ]

    totals = score_activity(rules, activity, NOW)

    assert totals["pricing page"] == 30  # 3 x 15, capped at 30
    assert totals["form submitted"] == 20
    assert totals["page depth"] == 4
    assert totals["return visit"] == 5
    assert totals["demo or contact page"] == 0


def test_points_halve_every_half_life() -> None:
    rule = ScoreRule.from_dict(
        {"name": "docs", "kind": "pageview", "path": "/docs.*", "points": 8, "half_life_days": 10}
    )

    totals = score_activity(
        [rule],
        [
            Activity("pageview", days_ago(10), "/docs/a"),
            Activity("pageview", days_ago(20), "/docs/b"),
        ],
        NOW,
    )

    assert totals["docs"] == pytest.approx(4 + 2)


def test_custom_events_match_by_name() -> None:
    rule = ScoreRule.from_dict(
        {"name": "trial", "kind": "custom", "event_name": "trial_started", "points": 40}
    )

    totals = score_activity(
        [rule],
        [
            Activity("custom", NOW, name="trial_started"),
            Activity("custom", NOW, name="video_played"),
        ],
        NOW,
    )

    assert totals["trial"] == 40


@pytest.mark.parametrize(
    ("score", "label"), [(0, "cold"), (24, "cold"), (25, "warm"), (49, "warm"), (50, "hot")]
)
def test_labels_follow_the_mql_threshold(score: int, label: str) -> None:
    assert label_for(score, 50) == label


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"name": "x", "kind": "visit", "points": 1}, "score_rules.0.kind"),
        ({"name": "x", "kind": "pageview", "points": "ten"}, "score_rules.0.points"),
        ({"name": "x", "kind": "pageview", "points": 1, "path": "("}, "score_rules.0.path"),
        ({"name": "x", "kind": "pageview", "points": 1, "colour": "red"}, "score_rules.0.colour"),
        ({"name": "", "kind": "pageview", "points": 1}, "score_rules.0.name"),
    ],
)
def test_bad_rules_are_refused_naming_the_field(rule: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_score_rules([rule])

    assert caught.value.field == field
