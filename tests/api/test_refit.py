"""Data-driven models learn again when the worker's refit policy says so: enough conversions
arrived since the fit (a floor, or a share of what the fit learned from), or the fit grew
old while the site kept changing. Between refits new leads are credited with the stored
shares; after one, stored credits equal a full rebuild's."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.api.test_leads import identify, visit
from tests.factories import CreatedSite, SiteMaker, drain_queue
from tracker.credits import RefitPolicy, rebuild_site
from tracker.models import AttributionCredit, AttributionFit, Site
from tracker.models.base import utcnow

PAID = "https://example.com/?utm_source=google&utm_medium=cpc&utm_campaign=brand"
EMAIL = "https://example.com/?utm_source=newsletter&utm_medium=email"
MODELS = {"attribution_models": ["linear", "markov"]}


def lead_with_path(client: FlaskClient, site: CreatedSite, n: int, urls: list[str]) -> None:
    visitor = f"visitor-{n}"
    for step, url in enumerate(urls):
        visit(client, site, visitor, url, 60 * (len(urls) - step))
    assert identify(client, site, visitor, f"lead{n}@example.com").status_code == 200


def markov_fit(
    db_session: Session, site_id: int
) -> tuple[dict[str, Any], dt.datetime, list[float]]:
    fit = db_session.get(AttributionFit, (site_id, "markov", "lead"))
    assert fit is not None
    found = dict(fit.details), fit.fitted_at, list(fit.conversion_shares)
    db_session.rollback()
    return found


def markov_credits(db_session: Session, site_id: int) -> list[tuple[str, int, str, float]]:
    rows = db_session.execute(
        select(AttributionCredit.conversion_id, AttributionCredit.position,
               AttributionCredit.channel, AttributionCredit.credit)
        .where(AttributionCredit.site_id == site_id, AttributionCredit.model == "markov",
               AttributionCredit.conversion == "lead")
    ).all()
    db_session.rollback()
    return sorted((str(cid), position, channel, round(credit, 9))
                  for cid, position, channel, credit in rows)


def rebuilt_credits(db_session: Session, site_id: int) -> list[tuple[str, int, str, float]]:
    with db_session.begin():
        site = db_session.get(Site, site_id)
        assert site is not None
        rebuild_site(db_session, site, ["markov"])
    return markov_credits(db_session, site_id)


@pytest.fixture
def fitted(client: FlaskClient, sites: SiteMaker) -> CreatedSite:
    """A site whose Markov fit learned from 6 leads: 3 paid → email, 3 paid only."""
    site = sites.make(**MODELS)
    for n in range(3):
        lead_with_path(client, site, n, [PAID, EMAIL])
    for n in range(3, 6):
        lead_with_path(client, site, n, [PAID])
    drain_queue(client.application)
    return site


def test_the_first_fit_counts_what_it_learned_from(
    fitted: CreatedSite, db_session: Session
) -> None:
    details, _fitted_at, _shares = markov_fit(db_session, fitted.site.id)

    assert details == {"conversions": 6}


def test_fewer_new_conversions_than_the_floor_reuse_the_stored_shares(
    client: FlaskClient, fitted: CreatedSite, db_session: Session
) -> None:
    site_id = fitted.site.id
    _details, fitted_at, shares = markov_fit(db_session, site_id)
    for n in range(10, 13):  # three email-only leads: Markov would now weigh email higher
        lead_with_path(client, fitted, n, [EMAIL])

    progress = drain_queue(client.application, refit=RefitPolicy(min_new_conversions=4))
    details, fitted_again_at, shares_after = markov_fit(db_session, site_id)

    assert progress.leads == 3
    assert details == {"conversions": 6, "changed": 3}
    assert (fitted_again_at, shares_after) == (fitted_at, shares)
    # The old fit credits the new leads: stored credits differ from a rebuild's.
    assert markov_credits(db_session, site_id) != rebuilt_credits(db_session, site_id)


def test_enough_new_conversions_refit_and_match_a_full_rebuild(
    client: FlaskClient, fitted: CreatedSite, db_session: Session
) -> None:
    site_id = fitted.site.id
    _details, _fitted_at, shares = markov_fit(db_session, site_id)
    for n in range(10, 14):
        lead_with_path(client, fitted, n, [EMAIL])

    drain_queue(client.application, refit=RefitPolicy(min_new_conversions=4))
    details, _fitted_again_at, shares_after = markov_fit(db_session, site_id)

    assert details == {"conversions": 10}
    assert shares_after != shares
    assert markov_credits(db_session, site_id) == rebuilt_credits(db_session, site_id)


def test_the_growth_share_raises_the_bar_for_a_large_fit(
    client: FlaskClient, fitted: CreatedSite, db_session: Session
) -> None:
    for n in range(10, 14):
        lead_with_path(client, fitted, n, [EMAIL])

    # 4 new conversions: over a floor of 2, under 100% of the 6 the fit learned from.
    drain_queue(client.application, refit=RefitPolicy(min_new_conversions=2, growth=1.0))

    assert markov_fit(db_session, fitted.site.id)[0] == {"conversions": 6, "changed": 4}


def test_an_old_fit_refits_once_the_site_changes(
    client: FlaskClient, fitted: CreatedSite, db_session: Session
) -> None:
    site_id = fitted.site.id
    _details, fitted_at, _shares = markov_fit(db_session, site_id)
    tomorrow = utcnow() + dt.timedelta(hours=25)

    idle = drain_queue(client.application, clock=lambda: tomorrow)
    visit(client, fitted, "anonymous-visitor", EMAIL, 5)  # traffic only, no conversion
    busy = drain_queue(client.application, clock=lambda: tomorrow)
    _details, fitted_again_at, _shares = markov_fit(db_session, site_id)

    assert idle.items == 0
    assert busy.items >= 1
    assert fitted_again_at > fitted_at


def test_the_policy_thresholds() -> None:
    policy = RefitPolicy(min_new_conversions=20, growth=0.1, max_age=dt.timedelta(hours=24))
    hour = dt.timedelta(hours=1)

    assert not policy.due(50, 19, hour)
    assert policy.due(50, 20, hour)
    assert not policy.due(1000, 99, hour)
    assert policy.due(1000, 100, hour)
    assert policy.due(1000, 0, 24 * hour)
