"""Lead-score rules, pure: what a rule matches, how many points it gives and how they decay.

A rule matches events (page views by path pattern, form submits, identify calls, custom events
by name) or counts visits (``return_visit``: every session after the first; ``page_depth``:
every page view). Each match gives ``points``, optionally halved every ``half_life_days`` of
age; a rule's total is capped at ``cap``. The score is the sum of the rules' totals, rounded.
No database here: ``tracker.sites.settings`` validates settings with it, and
``tracker.leads.scoring`` applies it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tracker.errors import ValidationError
from tracker.validation import check_choice

RULE_KINDS = frozenset(
    {"pageview", "form_submit", "identify", "custom", "return_visit", "page_depth"}
)

DEFAULT_SCORE_RULES: tuple[dict[str, Any], ...] = (
    {
        "name": "pricing page",
        "kind": "pageview",
        "path": r"/(pricing|plans|prices?)(/.*)?",
        "points": 15,
        "cap": 30,
        "half_life_days": 30,
    },
    {
        "name": "demo or contact page",
        "kind": "pageview",
        "path": r"/(demo|contact|book.*)(/.*)?",
        "points": 10,
        "cap": 20,
        "half_life_days": 30,
    },
    {"name": "form submitted", "kind": "form_submit", "points": 20, "cap": 40},
    {"name": "identified", "kind": "identify", "points": 10, "cap": 10},
    {"name": "return visit", "kind": "return_visit", "points": 5, "cap": 25, "half_life_days": 60},
    {"name": "page depth", "kind": "page_depth", "points": 1, "cap": 15, "half_life_days": 30},
)


_RULE_KEYS = frozenset(
    {"name", "kind", "points", "cap", "half_life_days", "path", "event_name"}
)
# The collector keeps custom event names up to this long; a longer name could never match.
MAX_EVENT_NAME_LENGTH = 100


@dataclass(frozen=True, slots=True)
class ScoreRule:
    name: str
    kind: str
    points: int
    cap: int | None = None
    half_life_days: float | None = None
    path: re.Pattern[str] | None = None
    event_name: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], field: str = "score_rules") -> ScoreRule:
        """A rule as a site's settings give it; :class:`ValidationError` names
        ``<field>.<key>``."""
        unknown = set(data) - _RULE_KEYS
        if unknown:
            raise ValidationError("unknown field", field=f"{field}.{sorted(unknown)[0]}")
        name, kind, points = data.get("name"), data.get("kind"), data.get("points")
        if not isinstance(name, str) or not name or len(name) > 80:
            raise ValidationError("expected a name of 1 to 80 characters", field=f"{field}.name")
        kind = check_choice(kind, RULE_KINDS, f"{field}.kind")
        if isinstance(points, bool) or not isinstance(points, int) or not -1000 <= points <= 1000:
            raise ValidationError(
                "expected a whole number from -1000 to 1000", field=f"{field}.points"
            )
        cap, half_life = data.get("cap"), data.get("half_life_days")
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 0):
            raise ValidationError("expected a whole number >= 0", field=f"{field}.cap")
        if half_life is not None and (
            isinstance(half_life, bool) or not isinstance(half_life, int | float) or half_life <= 0
        ):
            raise ValidationError("expected a number > 0", field=f"{field}.half_life_days")
        path = data.get("path")
        try:
            compiled = re.compile(path, re.IGNORECASE) if path else None
        except (re.error, TypeError):
            raise ValidationError("not a valid regular expression", field=f"{field}.path") from None
        event_name = data.get("event_name")
        if event_name is not None and (
            not isinstance(event_name, str) or not 1 <= len(event_name) <= MAX_EVENT_NAME_LENGTH
        ):
            raise ValidationError(
                f"expected an event name of 1 to {MAX_EVENT_NAME_LENGTH} characters",
                field=f"{field}.event_name",
            )
        return cls(name, kind, points, cap, half_life, compiled, event_name)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ScoreRule:
        """A rule as stored, checked by :meth:`from_dict` when it was written: no checks."""
        path = data.get("path")
        return cls(
            data["name"],
            data["kind"],
            data["points"],
            data.get("cap"),
            data.get("half_life_days"),
            re.compile(path, re.IGNORECASE) if path else None,
            data.get("event_name"),
        )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "kind": self.kind, "points": self.points}
        optional = {
            "cap": self.cap,
            "half_life_days": self.half_life_days,
            "path": None if self.path is None else self.path.pattern,
            "event_name": self.event_name,
        }
        return data | {key: value for key, value in optional.items() if value is not None}


def parse_score_rules(raw: Sequence[Any], field: str = "score_rules") -> tuple[ScoreRule, ...]:
    """Rules as a site's settings give them; :class:`ValidationError` names
    ``<field>.<index>`` or ``<field>.<index>.<key>``."""
    rules = []
    for index, rule in enumerate(raw):
        if not isinstance(rule, Mapping):
            raise ValidationError("expected an object", field=f"{field}.{index}")
        rules.append(ScoreRule.from_dict(rule, f"{field}.{index}"))
    return tuple(rules)


# Scoring without rules of the site's own.
DEFAULT_RULES = parse_score_rules(DEFAULT_SCORE_RULES)


@dataclass(frozen=True, slots=True)
class Activity:
    """What scoring reads of one event (or one session start, for ``return_visit``)."""

    kind: str
    at: dt.datetime
    path: str | None = None
    name: str | None = None


def _weight(rule: ScoreRule, at: dt.datetime, now: dt.datetime) -> float:
    if rule.half_life_days is None:
        return 1.0
    age_days = max(0.0, (now - at).total_seconds() / 86_400)
    return float(0.5 ** (age_days / rule.half_life_days))


def _matches(rule: ScoreRule, activity: Activity) -> bool:
    if rule.kind == "page_depth":
        return activity.kind == "pageview"
    if rule.kind != activity.kind:
        return False
    if rule.path is not None and not (activity.path and rule.path.fullmatch(activity.path)):
        return False
    return rule.event_name is None or rule.event_name == activity.name


def score_activity(
    rules: Sequence[ScoreRule], activity: Iterable[Activity], now: dt.datetime
) -> dict[str, float]:
    """Each rule's capped contribution. Pure."""
    totals = {rule.name: 0.0 for rule in rules}
    for item in activity:
        for rule in rules:
            if _matches(rule, item):
                totals[rule.name] += rule.points * _weight(rule, item.at, now)
    for rule in rules:
        if rule.cap is not None:
            totals[rule.name] = min(totals[rule.name], float(rule.cap))
    return totals


def label_for(score: int, mql_threshold: int) -> str:
    """hot at or above the MQL threshold, warm from half of it, cold below."""
    if score >= mql_threshold:
        return "hot"
    return "warm" if score * 2 >= mql_threshold else "cold"
