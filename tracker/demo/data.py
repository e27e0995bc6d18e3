"""A year of realistic, deterministic demo data, fed through the paths real data takes.

Visits go through the collector's parser, classifier and group writer; form submits through
``/identify``'s parser and the identity stitcher; deals through the generic CRM webhook
format, the durable inbox and the deal applier; ad spend as the ad platforms report it, down
to keyword and ad, through the store a spend pull uses (tracker/costs/adspend). Each
channel has its own traffic share, lead propensity, win rate, deal size and sales cycle, so
the reports and models have something to disagree about. The same seed gives the same data.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tracker.collect.devices import describe_user_agent
from tracker.collect.directory import site_info
from tracker.collect.identify import parse_identify, store_identify
from tracker.collect.parsing import parse_batch
from tracker.collect.service import PreparedBatch, SiteInfo, prepare_batch, store_group
from tracker.costs.adspend.accounts import add_fed_account
from tracker.costs.adspend.mapping import account_mapping
from tracker.costs.adspend.rows import SpendRow
from tracker.costs.adspend.store import origin_of, replace_days
from tracker.crm.inbox import APPLIED, apply_stored, parse_delivery, store_delivery
from tracker.db import transaction
from tracker.leads.scoring import rescore_active_leads
from tracker.models import Site

DESKTOP_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36"
)
MOBILE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
SITE_URL = "http://localhost/demo"
PAGES = ("/", "/features", "/pricing", "/blog/attribution-101", "/customers", "/contact")
OWNERS = ("Ana Ruiz", "Ben Okafor", "Chloe Martin")
WRITE_CHUNK = 200
IDENTIFY_DELAY = dt.timedelta(minutes=3)  # from the landing to the form submit
# A visit's pages span up to 5 × 4 minutes: visits start this long before ``now`` at the
# latest, so no page view, session or event is dated in the future.
VISIT_SPAN = dt.timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class ChannelProfile:
    """How one kind of traffic arrives and how well it sells."""

    name: str
    share: float  # of first visits
    lead_rate: float  # chance a visitor from here becomes a lead
    win_rate: float  # chance such a lead's deal is won
    deal_size: float  # median amount
    cycle_days: float  # typical lead → close time
    landing: Callable[[np.random.Generator, dt.date], tuple[str, str | None]]
    daily_cost: float = 0.0  # ad spend per day (paid channels)
    campaigns: tuple[str, ...] = ()


def _query(**params: str) -> str:
    return "?" + "&".join(f"{key}={value}" for key, value in params.items())


def _click_id(rng: np.random.Generator) -> str:
    return "".join(rng.choice(list("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"), 16))


# Google Ads search keywords; ValueTrack's utm_term={keyword} puts them on the landing URL.
SEARCH_KEYWORDS = (("brand", "leadtrail"), ("crm-attribution", "crm attribution software"),
                   ("crm-attribution", "marketing attribution tool"),
                   ("competitors", "ruler alternative"))


def _paid_search(rng: np.random.Generator, day: dt.date) -> tuple[str, str | None]:
    campaign, keyword = SEARCH_KEYWORDS[int(rng.integers(4))]
    keyword = keyword.replace(" ", "+")
    query = _query(utm_source="google", utm_medium="cpc", utm_campaign=campaign,
                   utm_term=keyword, gclid=_click_id(rng))
    return SITE_URL + "/" + query, None


def _organic_search(rng: np.random.Generator, day: dt.date) -> tuple[str, str | None]:
    engine = ["https://www.google.com/", "https://www.bing.com/", "https://duckduckgo.com/"]
    return SITE_URL + PAGES[int(rng.integers(1, 4))], engine[int(rng.choice(3, p=[.8, .12, .08]))]


# Meta's ads per campaign; the ad's name goes in utm_term ({{ad.name}} in Meta's URL
# parameters), so spend per ad lands on the sessions it bought.
META_ADS = {"retargeting": ("video-testimonial", "carousel-features"),
            "lookalike-saas": ("static-roi-calculator", "video-demo")}


def _paid_social(rng: np.random.Generator, day: dt.date) -> tuple[str, str | None]:
    campaign = ["retargeting", "lookalike-saas"][int(rng.integers(2))]
    click = _click_id(rng)
    # Picked from the click id, not the generator: the rest of the data stays as it was.
    ad = META_ADS[campaign][sum(map(ord, click)) % 2]
    query = _query(utm_source="facebook", utm_medium="paid_social", utm_campaign=campaign,
                   utm_term=ad, fbclid=click)
    return SITE_URL + "/pricing" + query, "https://m.facebook.com/"


def _organic_social(rng: np.random.Generator, day: dt.date) -> tuple[str, str | None]:
    return SITE_URL + "/blog/attribution-101", "https://www.linkedin.com/"


def _email(rng: np.random.Generator, day: dt.date) -> tuple[str, str | None]:
    query = _query(utm_source="newsletter", utm_medium="email",
                   utm_campaign=f"monthly-{day:%Y-%m}")
    return SITE_URL + "/customers" + query, None


def _referral(rng: np.random.Generator, day: dt.date) -> tuple[str, str | None]:
    source = ["https://www.g2.com/products/leadtrail", "https://www.capterra.com/p/leadtrail",
              "https://partner-blog.example.org/attribution"][int(rng.integers(3))]
    return SITE_URL + "/", source


def _display(rng: np.random.Generator, day: dt.date) -> tuple[str, str | None]:
    query = _query(utm_source="google", utm_medium="display", utm_campaign="remarketing",
                   gclid=_click_id(rng))
    return SITE_URL + "/features" + query, None


def _direct(rng: np.random.Generator, day: dt.date) -> tuple[str, str | None]:
    return SITE_URL + "/", None


CHANNELS: tuple[ChannelProfile, ...] = (
    ChannelProfile("Paid Search", .22, .060, .30, 9_000, 35, _paid_search, 220.0,
                   ("brand", "crm-attribution", "competitors")),
    ChannelProfile("Organic Search", .26, .045, .28, 11_000, 45, _organic_search),
    ChannelProfile("Paid Social", .14, .025, .15, 6_000, 30, _paid_social, 160.0,
                   ("retargeting", "lookalike-saas")),
    ChannelProfile("Organic Social", .07, .020, .18, 7_000, 40, _organic_social),
    ChannelProfile("Email", .08, .070, .35, 12_000, 25, _email),
    ChannelProfile("Referral", .09, .080, .42, 18_000, 50, _referral),
    ChannelProfile("Display", .06, .010, .12, 5_000, 30, _display, 90.0, ("remarketing",)),
    ChannelProfile("Direct", .08, .040, .30, 10_000, 40, _direct),
)
RETURN_CHANNELS = ("Direct", "Email", "Paid Social", "Organic Search", "Display")


@dataclass
class DemoSummary:
    visitors: int = 0
    sessions: int = 0
    events: int = 0
    leads: int = 0
    deals: int = 0
    won: int = 0
    costs: int = 0
    crm_failures: list[str] = field(default_factory=list)


def _ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def _hex_id(rng: np.random.Generator) -> str:
    return uuid.UUID(bytes=rng.bytes(16)).hex


@dataclass
class _Visit:
    at: dt.datetime
    visitor_id: str
    channel: ChannelProfile
    pages: int
    mobile: bool


@dataclass
class _Person:
    visitor_ids: list[str]
    channels: list[ChannelProfile]
    visits: list[_Visit]
    email: str
    company: str


def _plan_people(
    rng: np.random.Generator, visitors: int, start: dt.datetime, days: int
) -> list[_Person]:
    shares = np.array([c.share for c in CHANNELS])
    by_name = {c.name: c for c in CHANNELS}
    people = []
    # Traffic grows through the year: later first visits are more likely.
    offsets = days * np.sqrt(rng.random(visitors))
    latest = start + dt.timedelta(days=days) - VISIT_SPAN
    for index in range(visitors):
        first = min(start + dt.timedelta(days=float(offsets[index])), latest)
        first_channel = CHANNELS[int(rng.choice(len(CHANNELS), p=shares))]
        mobile = bool(rng.random() < 0.35)
        visitor_id = _hex_id(rng)
        visits = [_Visit(first, visitor_id, first_channel, int(rng.integers(1, 6)), mobile)]
        at = first
        for _ in range(int(rng.poisson(0.9))):
            at = at + dt.timedelta(days=float(rng.exponential(6)) + 0.05)
            channel = by_name[RETURN_CHANNELS[int(rng.integers(len(RETURN_CHANNELS)))]]
            pages = int(rng.integers(1, 5))
            if at <= latest:  # return visits stop at the end of the period
                visits.append(_Visit(at, visitor_id, channel, pages, mobile))
        company = f"Company {index:05d}"
        people.append(_Person([visitor_id], [v.channel for v in visits], visits,
                               f"buyer{index:05d}@example.com", company))
    return people


def _page_events(
    rng: np.random.Generator, visit: _Visit, landing_url: str, referrer: str | None
) -> list[dict[str, object]]:
    events: list[dict[str, object]] = []
    at = visit.at
    url, ref = landing_url, referrer
    for _ in range(visit.pages):
        event: dict[str, object] = {"id": _hex_id(rng), "type": "pageview", "ts": _ms(at),
                                    "url": url, "title": "LeadTrail demo",
                                    "sw": 390 if visit.mobile else 1440,
                                    "sh": 844 if visit.mobile else 900, "lang": "en-US"}
        if ref:
            event["ref"] = ref
        events.append(event)
        ref = url
        url = SITE_URL + PAGES[int(rng.integers(len(PAGES)))]
        at = at + dt.timedelta(seconds=float(rng.integers(15, 240)))
    return events


def _feed_visits(
    engine: Engine, site: SiteInfo, write_key: str, rng: np.random.Generator,
    visits: Sequence[_Visit], summary: DemoSummary,
) -> None:
    prepared: list[PreparedBatch] = []
    desktop, mobile = describe_user_agent(DESKTOP_UA), describe_user_agent(MOBILE_UA)

    def flush() -> None:
        if prepared:
            leads = store_group(engine, prepared)
            rescore_active_leads(engine, prepared, leads)
            prepared.clear()

    for visit in sorted(visits, key=lambda v: v.at):
        url, referrer = visit.channel.landing(rng, visit.at.date())
        events = _page_events(rng, visit, url, referrer)
        last = max(int(str(e["ts"])) for e in events)
        body = {"k": write_key, "vid": visit.visitor_id, "events": events}
        received = dt.datetime.fromtimestamp(last / 1000 + 1, dt.UTC)
        batch = parse_batch(body, received)
        prepared.append(prepare_batch(batch, site, mobile if visit.mobile else desktop,
                                      "203.0.113.7"))
        summary.sessions += 1
        summary.events += len(events)
        if len(prepared) >= WRITE_CHUNK:
            flush()
    flush()


def _identify(
    engine: Engine, site: SiteInfo, write_key: str, rng: np.random.Generator,
    person: _Person, visit: _Visit,
) -> None:
    at = visit.at + IDENTIFY_DELAY
    body = {
        "k": write_key, "vid": visit.visitor_id, "id": _hex_id(rng), "ts": _ms(at),
        "url": SITE_URL + "/contact", "title": "Contact", "email": person.email,
        "name": f"Buyer {person.company[-5:]}", "company": person.company,
        "form": {"id": "contact", "action": "/demo/contact"},
    }
    received = at + dt.timedelta(seconds=1)
    request = parse_identify(body, received, None)
    prepared = prepare_batch(request.batch, site, describe_user_agent(DESKTOP_UA), None)
    store_identify(engine, prepared, request, received)


def _deal_events(
    rng: np.random.Generator, person: _Person, lead_at: dt.datetime, now: dt.datetime,
) -> Iterator[tuple[dt.datetime, dict[str, object]]]:
    """The CRM's life of this lead's deal, in the generic webhook format, up to ``now``."""
    profile = person.channels[0]
    deal_id = f"D-{person.company[-5:]}"
    created = lead_at + dt.timedelta(days=float(rng.exponential(profile.cycle_days / 4)) + 1)
    if created >= now:
        return
    owner = OWNERS[int(rng.integers(len(OWNERS)))]
    amount = Decimal(str(round(float(rng.lognormal(np.log(profile.deal_size), 0.5)), -1)))
    base = {"id": deal_id, "email": person.email, "currency": "USD", "owner": owner}
    yield created, {"id": f"{deal_id}-c", "type": "deal.created",
                    "occurred_at": created.isoformat(),
                    "deal": {**base, "stage": "opportunity", "status": "open",
                             "amount": str(amount), "created_at": created.isoformat()}}
    closed = created + dt.timedelta(days=float(rng.exponential(profile.cycle_days)) + 2)
    if closed >= now:
        return
    won = bool(rng.random() < profile.win_rate)
    yield closed, {"id": f"{deal_id}-{'w' if won else 'l'}",
                   "type": "deal.won" if won else "deal.lost",
                   "occurred_at": closed.isoformat(),
                   "deal": {**base, "amount": str(amount), "closed_at": closed.isoformat()}}


def _feed_deals(
    engine: Engine, site_id: int, site: SiteInfo,
    events: Sequence[tuple[dt.datetime, dict[str, object]]], summary: DemoSummary,
) -> None:
    for at, event in sorted(events, key=lambda pair: pair[0]):
        body = json.dumps(event).encode()
        received = at + dt.timedelta(seconds=2)
        parsed = parse_delivery("generic", site.settings, body, received)
        with transaction(engine) as session:
            stored = store_delivery(session, site_id, "generic", body, parsed,
                                    {"Content-Type": "application/json"}, received)
        outcome = apply_stored(engine, site_id, stored.id)
        if outcome != APPLIED:
            summary.crm_failures.append(str(event["id"]))
        if event["type"] == "deal.created":
            summary.deals += 1
        summary.won += int(event["type"] == "deal.won")


# The demo's ad accounts: platform, account id, the site's mapping overrides (the demo tags
# Meta with utm_medium=paid_social and display with utm_medium=display), the profile whose
# daily spend they carry and its campaigns → keywords or ads ("" = the campaign itself).
DEMO_ACCOUNTS: tuple[tuple[str, str, dict[str, str], str, dict[str, tuple[str, ...]]], ...] = (
    ("google_ads", "1000000001", {}, "Paid Search",
     {campaign: tuple(k for c, k in SEARCH_KEYWORDS if c == campaign)
      for campaign, _ in SEARCH_KEYWORDS}),
    ("google_ads", "1000000002", {"medium": "display", "keyword_from": "none"}, "Display",
     {"remarketing": ("",)}),
    ("meta", "2000000001", {"medium": "paid_social", "keyword_from": "ad_name"}, "Paid Social",
     {campaign: ads for campaign, ads in META_ADS.items()}),
)


def _spend_rows(profile: ChannelProfile, campaigns: dict[str, tuple[str, ...]],
                start: dt.datetime, days: int, rng: np.random.Generator) -> list[SpendRow]:
    """Platform-shaped daily rows: per campaign and keyword or ad, cost with clicks at B2B
    prices and impressions at a few percent click-through."""
    rows = []
    for offset in range(days):
        day = (start + dt.timedelta(days=offset)).date()
        growth = 0.5 + offset / days
        for number, (campaign, items) in enumerate(campaigns.items()):
            for position, item in enumerate(items):
                spend = profile.daily_cost * growth / len(campaigns) / len(items)
                spend *= float(rng.uniform(0.7, 1.3))
                # B2B clicks are dear: at these prices the clicks are about the sessions
                # the demo's paid channels get.
                clicks = round(spend / float(rng.uniform(35.0, 70.0)))
                impressions = round(max(clicks, 1) / float(rng.uniform(0.02, 0.06)))
                rows.append(SpendRow(
                    day=day, campaign_id=f"{number + 1}", campaign=campaign,
                    cost=Decimal(f"{spend:.2f}"), impressions=impressions, clicks=clicks,
                    group_id=f"{number + 1}0", group=campaign,
                    item_id=f"{number + 1}0{position}" if item else "", item=item))
    return rows


def _feed_spend(
    engine: Engine, site: SiteInfo, start: dt.datetime, days: int,
    rng: np.random.Generator, now: dt.datetime, summary: DemoSummary,
) -> None:
    """Ad spend as the platforms report it, through the same store as a pull."""
    profiles = {profile.name: profile for profile in CHANNELS}
    rules = site.settings.channel_rules
    first, last = start.date(), (start + dt.timedelta(days=days - 1)).date()
    for platform, account_id, overrides, channel, campaigns in DEMO_ACCOUNTS:
        rows = _spend_rows(profiles[channel], campaigns, start, days, rng)
        with transaction(engine) as session:
            account = add_fed_account(
                session, site.id, platform, account_id, name=f"Demo {channel}",
                mapping=overrides, first_day=first, last_day=last,
                currency=site.settings.currency, timezone=site.settings.timezone, now=now)
            stored = replace_days(
                session, site.id, origin_of(platform, account_id), first, last, rows,
                account_currency=site.settings.currency, site_currency=site.settings.currency,
                mapping=account_mapping(platform, overrides), rules=rules, now=now)
            account.last_rows = stored.rows
        summary.costs += stored.rows


def fill_demo_site(
    engine: Engine,
    site_id: int,
    *,
    visitors: int = 6_000,
    days: int = 365,
    seed: int = 2026,
    now: dt.datetime | None = None,
    progress: Callable[[str], None] = lambda message: None,
) -> DemoSummary:
    """Fill ``site_id`` with ``days`` of data ending ``now``. Re-running with the same seed
    adds nothing new (every id is derived from the seed, and every write dedupes)."""
    now = now or dt.datetime.now(dt.UTC).replace(microsecond=0)
    start = now - dt.timedelta(days=days)
    rng = np.random.default_rng(seed)
    with Session(engine) as session:
        site_row = session.get(Site, site_id)
        if site_row is None:
            raise LookupError(f"no site {site_id}")
        site, write_key = site_info(site_row), site_row.write_key
    summary = DemoSummary(visitors=visitors)
    people = _plan_people(rng, visitors, start, days)
    leads: list[tuple[_Person, _Visit]] = []
    for person in people:
        chance = 1 - np.prod([1 - c.lead_rate for c in person.channels])
        if rng.random() < chance:
            visit = person.visits[-1]
            if visit.at + dt.timedelta(minutes=5) < now:
                leads.append((person, visit))
    # A tenth of the leads come back on a second device and fill a form there too.
    second_devices = []
    for person, visit in leads:
        if rng.random() < 0.1:
            at = visit.at + dt.timedelta(days=float(rng.exponential(5)) + 0.5)
            if at < now - VISIT_SPAN:
                second = _Visit(at, _hex_id(rng), CHANNELS[-1], 2, mobile=True)
                person.visits.append(second)
                person.visitor_ids.append(second.visitor_id)
                second_devices.append((person, second))
    # About half the leads get a deal; while it is worked they come back (sales emails,
    # direct visits), so deals won months later still have touches in the lookback window.
    deal_events: list[tuple[dt.datetime, dict[str, object]]] = []
    for person, visit in leads:
        if rng.random() >= 0.45:
            continue
        planned = list(_deal_events(rng, person, visit.at + IDENTIFY_DELAY, now))
        deal_events.extend(planned)
        until = planned[-1][0] if planned else now
        for _ in range(int(rng.integers(1, 4))):
            at = min(visit.at + (until - visit.at) * float(rng.uniform(0.1, 0.95)),
                     now - VISIT_SPAN)
            channel = CHANNELS[-1] if rng.random() < 0.6 else CHANNELS[4]  # Direct or Email
            person.visits.append(_Visit(at, person.visitor_ids[0], channel, 2, visit.mobile))
    progress(f"visits of {visitors:,} visitors")
    _feed_visits(engine, site, write_key, rng, [v for p in people for v in p.visits], summary)
    progress(f"{len(leads):,} leads")
    for person, visit in sorted(leads + second_devices, key=lambda pair: pair[1].at):
        _identify(engine, site, write_key, rng, person, visit)
        summary.leads += int(visit.visitor_id == person.visitor_ids[0])
    progress(f"{len(deal_events):,} CRM events")
    _feed_deals(engine, site_id, site, deal_events, summary)
    progress("ad spend")
    _feed_spend(engine, site, start, days, rng, now, summary)
    return summary
