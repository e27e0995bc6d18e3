"""What each attribution model means, in one sentence and a worked example, shown beside
the model picker. Each example splits one $1,000 won deal over the journey it names; the
numbers follow the rules in ``attribution/`` (positional weights, time decay's default
7-day half-life) so a marketer can redo them by hand."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ModelHelp:
    rule: str
    example: str


JOURNEY = "Paid Search → Email → Direct"
MODEL_HELP = {
    "first_touch": ModelHelp(
        "All credit goes to the first touch of the journey.",
        f"{JOURNEY}: Paid Search $1,000."),
    "last_touch": ModelHelp(
        "All credit goes to the last touch before the conversion.",
        f"{JOURNEY}: Direct $1,000."),
    "last_non_direct": ModelHelp(
        "All credit goes to the last touch that is not Direct (Direct only when nothing "
        "else is on the path).",
        f"{JOURNEY}: Email $1,000."),
    "linear": ModelHelp(
        "Every touch gets an equal share.",
        f"{JOURNEY}: $333.33 each."),
    "time_decay": ModelHelp(
        "Touches closer to the conversion get more: a touch's weight halves for every "
        "half-life (7 days unless the site sets another) before the conversion.",
        f"{JOURNEY} 14, 7 and 0 days before: weights ¼, ½, 1 → $142.86, $285.71, $571.43."),
    "position_based": ModelHelp(
        "U-shaped: 40% to the first touch, 40% to the touch that created the lead, 20% "
        "shared by the rest.",
        f"{JOURNEY}, the lead created on Email: $400, $400, $200."),
    "w_shaped": ModelHelp(
        "30% each to the first, lead-creating and opportunity-creating touches, 10% shared "
        "by the rest.",
        "Paid Search → Organic → Email (lead) → Direct (opportunity): $300, $100, $300, $300."),
    "full_path": ModelHelp(
        "Z-shaped: 22.5% each to the first, lead, opportunity and closing touches, 10% "
        "shared by the rest.",
        "Paid Search → Organic → Email (lead) → Direct (opportunity) → Referral (close): "
        "$225, $100, $225, $225, $225."),
    "j_shaped": ModelHelp(
        "20% to the first touch, 60% to the last, 20% shared by the rest.",
        f"{JOURNEY}: $200, $200, $600."),
    "inverse_j": ModelHelp(
        "60% to the first touch, 20% to the last, 20% shared by the rest.",
        f"{JOURNEY}: $600, $200, $200."),
    "custom": ModelHelp(
        "The site's own weights for the first, lead, opportunity and closing touches and "
        "the rest (site settings).",
        "With 50% first and 50% last: Paid Search → Email → Direct gives $500, $0, $500."),
    "markov": ModelHelp(
        "Data-driven: a channel's weight is its removal effect, the share of conversions lost "
        "if it vanished from every path (a Markov chain over converting and non-converting "
        "paths); each journey is split over its channels by those weights.",
        "Removal effects Paid Search 0.6, Email 0.3, Direct 0.3 → weights 50%, 25%, 25% → "
        f"{JOURNEY}: $500, $250, $250."),
    "shapley": ModelHelp(
        "Data-driven: a channel's weight is its average extra conversion rate over every "
        "order in which the journey's channels could join (Shapley value, from conversion "
        "rates per channel set); each journey is split by those weights.",
        "Rates {Paid Search} 2%, {Email} 1%, both 4%: Paid Search (2 + 3) / 2 = 2.5, Email "
        "(1 + 2) / 2 = 1.5 → Paid Search → Email: $625, $375."),
}
COMPARISON_BASE = "last_touch"

