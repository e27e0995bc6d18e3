"""Hypothesis strategies: random journeys with milestones, as objects and as batches."""

from __future__ import annotations

from hypothesis import strategies as st

from attribution import Journey, Touch

CHANNELS = ("Direct", "Paid Search", "Organic Search", "Email", "Paid Social", "Referral")
DAY = 86_400.0


@st.composite
def journeys(draw: st.DrawFn, converted: bool | None = None) -> Journey:
    length = draw(st.integers(min_value=1, max_value=8))
    gaps = draw(st.lists(st.floats(0, 30 * DAY), min_size=length, max_size=length))
    times = [sum(gaps[: i + 1]) for i in range(length)]
    touches = tuple(Touch(channel=draw(st.sampled_from(CHANNELS)), time=t) for t in times)
    lead = draw(st.integers(0, length - 1))
    opportunity = draw(st.one_of(st.none(), st.integers(lead, length - 1)))
    close = (
        None if opportunity is None
        else draw(st.one_of(st.none(), st.integers(opportunity, length - 1)))
    )
    return Journey(
        touches=touches,
        converted=draw(st.booleans()) if converted is None else converted,
        value=draw(st.floats(0, 100_000, allow_nan=False)),
        conversion_time=times[-1] + draw(st.floats(0, 10 * DAY)),
        lead_index=lead,
        opportunity_index=opportunity,
        close_index=close,
    )


journey_lists = st.lists(journeys(), min_size=1, max_size=25).filter(
    lambda rows: any(row.converted for row in rows)
)
