"""What ``spend status`` and the dashboard show of each connected account: its checkpoint,
last pull, the spend it stored in a period, and the part of that spend no session matches
("spend with no matching sessions": a campaign or keyword the site's tagging does not carry
through, or a mapping that needs overriding)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.costs.adspend.mapping import account_mapping
from tracker.costs.adspend.store import origin_of
from tracker.localtime import local_midnight
from tracker.models import AdAccount, Cost, VisitSession
from tracker.sites.settings import SiteSettings

# Unmatched groupings listed per account (the largest first); the total counts them all.
MAX_UNMATCHED_LISTED = 10


@dataclass(frozen=True, slots=True)
class Unmatched:
    source: str
    medium: str
    campaign: str
    keyword: str
    spend: float


@dataclass(frozen=True, slots=True)
class AccountStatus:
    account: AdAccount
    rows: int
    spend: float
    impressions: int
    clicks: int
    unmatched_spend: float
    unmatched: list[Unmatched]


def account_statuses(
    session: Session, site_id: int, settings: SiteSettings, start: dt.date, end: dt.date
) -> list[AccountStatus]:
    """Every account of the site with its figures over ``start``..``end`` (site days)."""
    accounts = list(session.scalars(
        select(AdAccount).where(AdAccount.site_id == site_id)
        .order_by(AdAccount.platform, AdAccount.account_id)))
    if not accounts:
        return []
    start_at = local_midnight(start, settings.timezone)
    end_at = local_midnight(end + dt.timedelta(days=1), settings.timezone)
    # Which (source, medium) → {campaign} and (source, medium, campaign) → {keyword} the
    # sessions of the period carry, for the accounts' sources only.
    pairs = {(m.source, m.medium) for m in
             (account_mapping(a.platform, a.mapping or {}) for a in accounts)}
    campaigns: dict[tuple[str, str], set[str]] = defaultdict(set)
    keywords: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    seen = session.execute(
        select(VisitSession.source, VisitSession.medium, VisitSession.campaign,
               VisitSession.term)
        .where(VisitSession.site_id == site_id, VisitSession.started_at >= start_at,
               VisitSession.started_at < end_at,
               VisitSession.source.in_(sorted({s for s, _ in pairs})))
        .distinct())
    for source, medium, campaign, term in seen:
        campaigns[(source or "", medium or "")].add(campaign or "")
        keywords[(source or "", medium or "", campaign or "")].add(term or "")
    statuses = []
    for account in accounts:
        origin = origin_of(account.platform, account.account_id)
        groups = session.execute(
            select(Cost.source, Cost.medium, Cost.campaign, Cost.keyword,
                   func.sum(Cost.amount_site), func.count(), func.sum(Cost.impressions),
                   func.sum(Cost.clicks))
            .where(Cost.site_id == site_id, Cost.origin == origin, Cost.day >= start,
                   Cost.day <= end)
            .group_by(Cost.source, Cost.medium, Cost.campaign, Cost.keyword)).all()
        unmatched = []
        for source, medium, campaign, keyword, spend, _n, _i, _c in groups:
            known = campaigns.get((source, medium), set())
            matched = (not campaign and bool(known)) or (
                campaign in known and (not keyword or keyword in keywords[
                    (source, medium, campaign)]))
            if not matched and spend:
                unmatched.append(Unmatched(source, medium, campaign, keyword, float(spend)))
        unmatched.sort(key=lambda u: -u.spend)
        statuses.append(AccountStatus(
            account=account,
            rows=sum(int(g[5]) for g in groups),
            spend=sum(float(g[4] or 0) for g in groups),
            impressions=sum(int(g[6] or 0) for g in groups),
            clicks=sum(int(g[7] or 0) for g in groups),
            unmatched_spend=sum(u.spend for u in unmatched),
            unmatched=unmatched[:MAX_UNMATCHED_LISTED],
        ))
    return statuses
