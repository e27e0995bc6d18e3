"""What every dashboard page needs before its own figures: the signed-in user, the sites
they may open, the chosen site, its settings and the URL filters."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from sqlalchemy.orm import Session

from attribution import model_names
from tracker.accounts.users import site_for_user, visible_sites
from tracker.dashboard.filters import Filters
from tracker.errors import NotFound
from tracker.models import Site, User
from tracker.models.base import utcnow
from tracker.sites.settings import SiteSettings, site_settings
from tracker.worker.queue import QueueStats, queue_stats

# Figures behind the facts by more than this get a "data as of" note.
STALE_AFTER = dt.timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class PageContext:
    user: User
    sites: list[Site]
    site: Site
    settings: SiteSettings
    filters: Filters
    queue: QueueStats | None = None

    @property
    def data_as_of(self) -> dt.datetime | None:
        """When the worker lags by more than a minute: the moment up to which every write
        is in the figures (the oldest change still waiting); None when they are current."""
        oldest = self.queue.oldest if self.queue else None
        if oldest is None or utcnow() - oldest <= STALE_AFTER:
            return None
        return oldest

    @property
    def models(self) -> list[str]:
        """The models whose credits the site stores (the picker's choices)."""
        known = set(model_names())
        return [name for name in self.settings.attribution_models if name in known]


def page_context(session: Session, user: User, filters: Filters) -> PageContext:
    """Resolve the filters' site for ``user`` (their first site when none is asked for).
    :class:`NotFound` when the user has no site; ``Forbidden`` for another tenant's site."""
    sites = visible_sites(session, user)
    if filters.site_id is None:
        if not sites:
            raise NotFound("no site is shared with you yet; ask an administrator", field="site")
        site = sites[0]
        filters = replace(filters, site_id=site.id)
    else:
        site = site_for_user(session, user, filters.site_id)
    return PageContext(
        user, sites, site, site_settings(site), filters, queue_stats(session, site.id)
    )
