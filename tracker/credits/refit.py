"""When a data-driven model (Markov, Shapley, …) learns its channel shares again.

Between fits, :func:`tracker.credits.store.refresh_leads` credits new conversions with the
shares learned at the last fit, which is cheap but goes stale as conversions and paths
accumulate. The worker therefore refits a site's data-driven models when either

* enough conversions arrived (or went away) since the fit: at least
  ``max(min_new_conversions, growth × conversions at the fit)`` for some conversion type —
  a fixed floor keeps small sites from refitting on every lead, the proportional part keeps
  large sites from refitting a year of journeys for a handful of new ones; or
* the fit is older than ``max_age`` and the site had any change since (new traffic alone
  changes the non-converting paths Markov learns from).

A refit is a rebuild of those models' credits (:func:`rebuild_site`), done in the worker's
transaction, so it is as crash-safe as any other batch.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.credits.store import model_specs, rebuild_site
from tracker.models import AttributionFit, Site
from tracker.sites.settings import site_settings


@dataclass(frozen=True, slots=True)
class RefitPolicy:
    """The two triggers; the defaults are documented in docs/reports.md."""

    min_new_conversions: int = 20
    growth: float = 0.10
    max_age: dt.timedelta = dt.timedelta(hours=24)

    def due(self, conversions_at_fit: int, changed: int, age: dt.timedelta) -> bool:
        if changed >= max(self.min_new_conversions, math.ceil(self.growth * conversions_at_fit)):
            return True
        return age >= self.max_age


def refit_due(
    session: Session, site: Site, now: dt.datetime, policy: RefitPolicy | None = None
) -> list[str]:
    """Refit the site's data-driven models if the policy says so; the refitted names.

    Reads only the fit rows: :func:`refresh_leads` keeps their count of conversions gained
    or lost since the fit (``details["changed"]``), so the check costs one small query.
    """
    policy = policy or RefitPolicy()
    names = [spec.name for spec in model_specs(site_settings(site)) if spec.data_driven]
    if not names:
        return []
    fits = session.scalars(
        select(AttributionFit).where(
            AttributionFit.site_id == site.id, AttributionFit.model.in_(names)
        )
    )
    due = sorted({
        fit.model
        for fit in fits
        if policy.due(
            int(fit.details.get("conversions", 0)),
            int(fit.details.get("changed", 0)),
            now - fit.fitted_at,
        )
    })
    if due:
        rebuild_site(session, site, due)
    return due
