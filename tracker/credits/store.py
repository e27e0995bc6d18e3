"""Stored attribution: computing every configured model's per-touch credit for a site's
conversions and keeping ``attribution_credits`` current. The worker calls these; no request
does (docs/reports.md, "The refresh queue").

* :func:`refresh_leads` recomputes the conversions of a few leads (a lead was identified, a
  deal applied, an offline touch added). Data-driven models reuse the channel shares learned
  at their last fit, so one lead's update never refits the whole site.
* :func:`rebuild_site` recomputes everything and refits the data-driven models
  (``leadtrail attribution rebuild``, and :mod:`tracker.credits.refit` when a fit is due).
* :func:`apply_settings` rebuilds the models whose settings fingerprint (parameters,
  lookback window) changed and drops the credits of models no longer configured.

Services take the session first and never commit.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Table, delete, select
from sqlalchemy.orm import Session

from attribution import AttributionError, Credits, JourneyBatch, create_model
from attribution.credits import credits_from_channel_weights, reindex_channel_weights
from attribution.registry import model_names
from tracker.credits.digests import U64, LeadDigests, conversion_hashes, model_terms
from tracker.credits.journeys import (
    CONVERSIONS,
    UNATTRIBUTED,
    ConversionJourneys,
    LeadHistory,
    anonymous_paths,
    load_journeys,
    unconverted_lead_paths,
)
from tracker.db import bulk_insert
from tracker.models import AttributionCredit, AttributionFit, LeadCreditDigest, Site
from tracker.models.base import utcnow
from tracker.sites.settings import SiteSettings, site_settings

Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A configured model: its name, keyword parameters and the fingerprint of everything
    its stored credits depend on (a changed fingerprint means recompute)."""

    name: str
    params: dict[str, Any]
    fingerprint: str
    data_driven: bool


def model_specs(settings: SiteSettings, only: Collection[str] | None = None) -> list[ModelSpec]:
    specs = []
    for name in settings.attribution_models:
        if only is not None and name not in only:
            continue
        params = dict(settings.attribution_params.get(name, {}))
        model = create_model(name, **params)
        raw = json.dumps(
            {"model": name, "params": params, "lookback_days": settings.lookback_days},
            sort_keys=True,
        )
        specs.append(
            ModelSpec(name, params, hashlib.sha256(raw.encode()).hexdigest(), model.data_driven)
        )
    return specs


@dataclass(frozen=True, slots=True)
class Fit:
    """Per-channel shares a data-driven model learned (conversions and value)."""

    channels: tuple[str, ...]
    conversion_shares: tuple[float, ...]
    value_shares: tuple[float, ...]


def _fit_batch(
    journeys: ConversionJourneys, null_lengths: Sequence[int], null_channels: Sequence[str]
) -> JourneyBatch:
    """The converting journeys plus the non-converting paths, as one batch to fit on."""
    batch = journeys.batch
    names = list(batch.channels)
    codes = {name: code for code, name in enumerate(names)}
    extra = np.fromiter(
        (codes.setdefault(name, len(codes)) for name in null_channels), np.int64, len(null_channels)
    )
    n_converting, n_null = batch.n_journeys, len(null_lengths)
    return JourneyBatch.from_arrays(
        np.concatenate((batch.lengths, np.asarray(null_lengths, dtype=np.int64))),
        np.concatenate((batch.channel, extra)),
        tuple(codes),
        np.concatenate((np.ones(n_converting), np.zeros(n_null))),
        nulls=np.concatenate((np.zeros(n_converting), np.ones(n_null))),
        value=np.concatenate((batch.value, np.zeros(n_null))),
    )


def fit_model(spec: ModelSpec, batch: JourneyBatch) -> Fit:
    """Fit a data-driven model; a batch it cannot learn from (no converting journey with a
    touch) gives an empty fit, under which every journey is split equally over its channels."""
    model = create_model(spec.name, **spec.params)
    try:
        model.fit(batch)
    except AttributionError:
        return Fit((), (), ())

    def shares(name: str) -> tuple[float, ...]:
        return tuple(float(x) for x in getattr(model, name))

    return Fit(
        tuple(getattr(model, "channels_")),  # noqa: B009 - learned state, not on the base class
        shares("conversion_shares_"),
        shares("value_shares_"),
    )


def attribute(spec: ModelSpec, batch: JourneyBatch, fit: Fit | None) -> Credits:
    """Per-touch credits of ``spec`` over ``batch``. Data-driven models credit a journey's
    channels in proportion to the fitted shares (what their own ``attribute`` does), so a
    single lead can be recomputed from a stored fit."""
    if not spec.data_driven:
        return create_model(spec.name, **spec.params).attribute(batch)
    assert fit is not None
    learned = fit.channels
    return credits_from_channel_weights(
        batch,
        reindex_channel_weights(learned, np.asarray(fit.conversion_shares), batch),
        reindex_channel_weights(learned, np.asarray(fit.value_shares), batch),
    )


def _credit_rows(
    site_id: int, model: str, journeys: ConversionJourneys, credits: Credits,
    leads: Collection[uuid.UUID] | None = None,
) -> Iterator[tuple[Any, ...]]:
    """Rows in :data:`COLUMNS` order (of the conversions of ``leads`` only, if given); an
    empty journey gets one ``(unattributed)`` row."""
    credit, value = credits.credit.tolist(), credits.value.tolist()
    offsets, touches = journeys.offsets, journeys.touches
    for j, conversion in enumerate(journeys.conversions):
        if leads is not None and conversion.lead_id not in leads:
            continue
        start, stop = offsets[j], offsets[j + 1]
        head = (site_id, model, conversion.kind, conversion.id)
        if conversion.kind == "lead":
            first = touches[start].at if stop > start else None
            seconds = (conversion.at - first).total_seconds() if first else None
        else:
            seconds = (conversion.at - conversion.lead_created_at).total_seconds()
        tail = (conversion.new_customer, seconds, conversion.stage_rank, conversion.deal_status,
                conversion.deal_closed_at)
        if start == stop:
            yield (*head, 0, conversion.lead_id, conversion.at, None, "none", None,
                   UNATTRIBUTED, None, None, None, None, None, 1.0, conversion.value, *tail)
            continue
        for i in range(start, stop):
            t = touches[i]
            yield (*head, i - start, conversion.lead_id, conversion.at, t.at, t.kind, t.id,
                   t.channel, t.source, t.medium, t.campaign, t.keyword, t.landing_page,
                   credit[i], value[i], *tail)


def _conversion_hashes(site_id: int, journeys: ConversionJourneys) -> U64:
    """Each conversion's rows hashed without their model, credit and value (the part of a
    lead's digest every model shares): the rows themselves, built once with blank credits."""
    touches = len(journeys.touches)
    blank = Credits(journeys.batch, np.zeros(touches), np.zeros(touches))
    offsets = journeys.offsets
    counts = [max(1, offsets[j + 1] - offsets[j]) for j in range(len(journeys.conversions))]
    return conversion_hashes(_credit_rows(site_id, "", journeys, blank), counts)


def _add_digests(digests: LeadDigests, site_id: int, model: str,
                 journeys: ConversionJourneys, credits: Credits,
                 statics: U64 | None) -> U64:
    """Add ``model``'s rows of ``journeys`` to their leads' digests; the conversions' shared
    hashes (computed on the first call for a conversion type, then passed back in)."""
    if statics is None:
        statics = _conversion_hashes(site_id, journeys)
    digests.add([conversion.lead_id for conversion in journeys.conversions],
                model_terms(model, statics, journeys.offsets, credits))
    return statics


COLUMNS = (
    "site_id", "model", "conversion", "conversion_id", "position", "lead_id", "converted_at",
    "touch_at", "touch_kind", "touch_id", "channel", "source", "medium", "campaign", "keyword",
    "landing_page", "credit", "value", "new_customer", "seconds_to_convert", "stage_rank",
    "deal_status", "deal_closed_at",
)


# The columns of a credit row its rollups read (tracker/rollups/credits.py), in this order.
ROLLUP_COLUMNS = (
    "model", "conversion", "conversion_id", "converted_at", "credit", "value", "new_customer",
    "seconds_to_convert", "stage_rank", "deal_status", "deal_closed_at", "channel", "source",
    "medium", "campaign", "keyword", "landing_page",
)
_ROLLUP_INDEXES = tuple(COLUMNS.index(name) for name in ROLLUP_COLUMNS)
_MODEL, _KIND, _POSITION, _LEAD = (
    COLUMNS.index(name) for name in ("model", "conversion", "position", "lead_id"))


@dataclass(frozen=True, slots=True)
class Recredited:
    """What :func:`refresh_leads` replaced: the rows it deleted and the rows it wrote (of the
    leads whose rows changed), each as :data:`ROLLUP_COLUMNS` tuples, so the rollups can
    subtract the one and add the other."""

    removed: list[tuple[Any, ...]]
    added: list[tuple[Any, ...]]


def _write_rows(session: Session, rows: Iterator[tuple[Any, ...]], bulk: bool) -> int:
    table = AttributionCredit.__table__
    assert isinstance(table, Table)
    return bulk_insert(session, table, COLUMNS, rows, copy=bulk)


def _store_fit(
    session: Session, site_id: int, spec: ModelSpec, kind: str, fit: Fit | None, conversions: int
) -> None:
    row = session.get(AttributionFit, (site_id, spec.name, kind))
    if row is None:
        row = AttributionFit(site_id=site_id, model=spec.name, conversion=kind)
        session.add(row)
    row.fingerprint = spec.fingerprint
    row.channels = list(fit.channels) if fit else []
    row.conversion_shares = list(fit.conversion_shares) if fit else []
    row.value_shares = list(fit.value_shares) if fit else []
    # What the refit policy compares today's count with (tracker/credits/refit.py).
    row.details = {"conversions": conversions}
    row.fitted_at = utcnow()


def _stored_fits(session: Session, site_id: int) -> dict[tuple[str, str], AttributionFit]:
    return {
        (fit.model, fit.conversion): fit
        for fit in session.scalars(select(AttributionFit).where(AttributionFit.site_id == site_id))
    }


def _null_paths(
    session: Session,
    site_id: int,
    kind: str,
    journeys: ConversionJourneys,
    histories: dict[uuid.UUID, LeadHistory],
    lookback_days: float,
) -> tuple[list[int], list[str]]:
    if kind == "lead":
        return anonymous_paths(session, site_id)
    converted = {conversion.lead_id for conversion in journeys.conversions}
    return unconverted_lead_paths(histories, converted, lookback_days)


def rebuild_site(
    session: Session,
    site: Site,
    models: Collection[str] | None = None,
    progress: Progress | None = None,
) -> int:
    """Recompute every stored credit of ``site`` (or of ``models``), refitting data-driven
    models on all its journeys. Returns the number of rows written. ``progress(n)`` is called
    after each (model, conversion type) step: ``len(specs) * 3`` steps in all."""
    settings = site_settings(site)
    specs = model_specs(settings, models)
    names = [spec.name for spec in specs]
    session.execute(
        delete(AttributionCredit).where(
            AttributionCredit.site_id == site.id, AttributionCredit.model.in_(names)
        )
    )
    forget_digests(session, site.id)
    # Rebuilding every configured model rewrites every credit row of every lead: the rows'
    # digests come with them, so the next refresh of an unchanged lead reads nothing back.
    # A rebuild of some models leaves the others' rows as they are, which it does not read.
    digests = LeadDigests() if len(specs) == len(settings.attribution_models) else None
    journeys, histories = load_journeys(
        session, site.id, currency=settings.currency, lookback_days=settings.lookback_days
    )
    written = 0
    for kind in CONVERSIONS:
        nulls: tuple[list[int], list[str]] | None = None
        statics: U64 | None = None
        for spec in specs:
            fit = None
            if spec.data_driven:
                if nulls is None:
                    nulls = _null_paths(
                        session, site.id, kind, journeys[kind], histories, settings.lookback_days
                    )
                fit = fit_model(spec, _fit_batch(journeys[kind], *nulls))
            _store_fit(session, site.id, spec, kind, fit, len(journeys[kind].conversions))
            if journeys[kind].conversions:
                credits = attribute(spec, journeys[kind].batch, fit)
                rows = _credit_rows(site.id, spec.name, journeys[kind], credits)
                written += _write_rows(session, rows, bulk=True)
                if digests is not None:
                    statics = _add_digests(digests, site.id, spec.name, journeys[kind],
                                           credits, statics)
            if progress is not None:
                progress(1)
    if digests is not None:
        _write_digests(session, site.id, digests.digests(), replace=False)
    session.flush()
    return written


def refresh_leads(
    session: Session, site: Site, lead_ids: Collection[uuid.UUID | None]
) -> Recredited:
    """Recompute the stored credits of every conversion of ``lead_ids`` under every
    configured model (a lead, its deals or its touches changed). Returns the rows replaced.

    A data-driven model that was never fitted for the site is fitted first (once).
    """
    wanted = {lead_id for lead_id in lead_ids if lead_id is not None}
    if not wanted:
        return Recredited([], [])
    site_id = site.id
    settings = site_settings(site)
    specs = model_specs(settings)
    session.flush()
    missing = unfitted_models(session, site)
    if missing:
        rebuild_site(session, site, missing)
    fits = _stored_fits(session, site_id)
    journeys, _histories = load_journeys(
        session,
        site_id,
        currency=settings.currency,
        lookback_days=settings.lookback_days,
        lead_ids=wanted,
    )
    computed: list[tuple[str, ConversionJourneys, Credits]] = []
    accumulated = LeadDigests()
    for kind, found in journeys.items():
        if not found.conversions:
            continue
        statics: U64 | None = None
        for spec in specs:
            fitted = fits.get((spec.name, kind))
            fit = (
                Fit(tuple(fitted.channels), tuple(fitted.conversion_shares),
                    tuple(fitted.value_shares))
                if fitted is not None
                else None
            )
            credits = attribute(spec, found.batch, fit)
            statics = _add_digests(accumulated, site_id, spec.name, found, credits, statics)
            computed.append((spec.name, found, credits))
    # Most leads of a batch were queued by a change that moves no credit. Their recomputed
    # rows match the digest stored at their last refresh (or rebuild), so their rows are
    # neither built nor read back; only the others are built, read and compared row by row.
    digests = accumulated.digests()
    known = _stored_digests(session, site_id, wanted)
    unsure = sorted(lead_id for lead_id in wanted
                    if lead_id not in known or known[lead_id] != digests.get(lead_id))
    if not unsure:
        return Recredited([], [])
    unsure_set = set(unsure)
    fresh: dict[uuid.UUID, list[tuple[Any, ...]]] = {}
    for model, found, credits in computed:
        for row in _credit_rows(site_id, model, found, credits, leads=unsure_set):
            fresh.setdefault(row[_LEAD], []).append(row)
    stored = _stored_rows(session, site_id, unsure)
    # A lead whose recomputed rows equal its stored ones is left as it is: no delete, no
    # insert, nothing for the rollups to follow.
    changed = [lead_id for lead_id in unsure
               if Counter(stored.get(lead_id, ())) != Counter(fresh.get(lead_id, ()))]
    if changed:
        session.execute(delete(AttributionCredit).where(
            AttributionCredit.site_id == site_id, AttributionCredit.lead_id.in_(changed)))
        # One COPY for the whole batch: row-by-row INSERTs were most of a refresh's time.
        _write_rows(session, (row for lead_id in changed for row in fresh.get(lead_id, ())),
                    bulk=True)
    _write_digests(session, site_id, {lead_id: digests[lead_id] for lead_id in unsure
                                      if lead_id in digests})
    after = {kind: sum(conversion.lead_id in unsure_set for conversion in found.conversions)
             for kind, found in journeys.items()}
    _count_changes(specs, fits, _conversions_by_kind(specs, stored), after)

    def projected(rows: dict[uuid.UUID, list[tuple[Any, ...]]]) -> list[tuple[Any, ...]]:
        return [tuple(row[i] for i in _ROLLUP_INDEXES)
                for lead_id in changed for row in rows.get(lead_id, ())]

    return Recredited(projected(stored), projected(fresh))


def _stored_digests(session: Session, site_id: int, lead_ids: Collection[uuid.UUID]
                    ) -> dict[uuid.UUID, bytes]:
    D = LeadCreditDigest
    return {lead_id: bytes(digest) for lead_id, digest in session.connection().execute(
        select(D.lead_id, D.digest).where(D.site_id == site_id, D.lead_id.in_(sorted(lead_ids)))
    )}


def _write_digests(session: Session, site_id: int, digests: dict[uuid.UUID, bytes],
                   replace: bool = True) -> None:
    """Store ``digests``, replacing the leads' earlier ones unless there are none to replace
    (a rebuild has just forgotten the site's)."""
    D = LeadCreditDigest
    if replace:
        session.execute(delete(D).where(D.site_id == site_id, D.lead_id.in_(sorted(digests))))
    table = D.__table__
    assert isinstance(table, Table)
    bulk_insert(session, table, ("site_id", "lead_id", "digest"),
                ((site_id, lead_id, digest) for lead_id, digest in digests.items()))


def forget_digests(session: Session, site_id: int) -> None:
    """After credit rows changed by another path than :func:`refresh_leads`: every lead of
    the site is read and compared at its next refresh."""
    session.execute(delete(LeadCreditDigest).where(LeadCreditDigest.site_id == site_id))


def _stored_rows(session: Session, site_id: int, lead_ids: Collection[uuid.UUID]
                 ) -> dict[uuid.UUID, list[tuple[Any, ...]]]:
    """The stored credit rows of ``lead_ids`` (:data:`COLUMNS` order), by lead."""
    C = AttributionCredit
    found: dict[uuid.UUID, list[tuple[Any, ...]]] = {}
    for row in session.connection().execute(
        select(*(getattr(C, name) for name in COLUMNS))
        .where(C.site_id == site_id, C.lead_id.in_(sorted(lead_ids)))
    ).all():
        found.setdefault(row[_LEAD], []).append(tuple(row))
    return found


def _conversions_by_kind(specs: Sequence[ModelSpec],
                         stored: dict[uuid.UUID, list[tuple[Any, ...]]]) -> dict[str, int]:
    """How many conversions of each type the stored rows held, counted under one data-driven
    model (they all credit the same conversions)."""
    counted = next((spec.name for spec in specs if spec.data_driven), None)
    before: dict[str, int] = {}
    for rows in stored.values():
        for row in rows:
            # Every conversion has a first (or unattributed) row.
            if row[_POSITION] == 0 and row[_MODEL] == counted:
                before[row[_KIND]] = before.get(row[_KIND], 0) + 1
    return before


def unfitted_models(session: Session, site: Site) -> set[str]:
    """Data-driven models without a stored fit for some conversion type: the next
    :func:`refresh_leads` fits (and so rebuilds) them first."""
    specs = [spec for spec in model_specs(site_settings(site)) if spec.data_driven]
    if not specs:
        return set()
    fits = _stored_fits(session, site.id)
    if all((spec.name, kind) in fits for spec in specs for kind in CONVERSIONS):
        return set()
    return {spec.name for spec in specs}


def _count_changes(
    specs: Sequence[ModelSpec],
    fits: dict[tuple[str, str], AttributionFit],
    before: dict[str, int],
    after: dict[str, int],
) -> None:
    """Add the conversions a refresh gained or lost (of each type, ``before`` and ``after``
    it) to each data-driven fit's running count, which the refit policy reads
    (tracker/credits/refit.py)."""
    for kind in CONVERSIONS:
        delta = abs(after.get(kind, 0) - before.get(kind, 0))
        if not delta:
            continue
        for spec in specs:
            fit = fits.get((spec.name, kind))
            if spec.data_driven and fit is not None:
                fit.details = {**fit.details, "changed": int(fit.details.get("changed", 0)) + delta}


def _configured_or_stored(session: Session, site_id: int) -> set[str]:
    """Models with a stored fit or any stored credit (credits written before fits were kept
    for every model have no fit row)."""
    with_fit = set(session.scalars(
        select(AttributionFit.model).where(AttributionFit.site_id == site_id).distinct()
    ))
    with_credits = {
        name for name in model_names() if name not in with_fit and session.scalar(
            select(AttributionCredit.model)
            .where(AttributionCredit.site_id == site_id, AttributionCredit.model == name)
            .limit(1)
        )
    }
    return with_fit | with_credits


def apply_settings(session: Session, site: Site) -> list[str]:
    """Bring stored credits in line with the site's settings: rebuild the models whose
    fingerprint changed (or that were added), drop those no longer configured. Returns the
    rebuilt model names; nothing to do gives ``[]``."""
    specs = model_specs(site_settings(site))
    fingerprints: dict[str, set[str]] = {}
    for model, fingerprint in session.execute(
        select(AttributionFit.model, AttributionFit.fingerprint)
        .where(AttributionFit.site_id == site.id)
    ):
        fingerprints.setdefault(model, set()).add(fingerprint)
    changed = [spec.name for spec in specs if fingerprints.get(spec.name) != {spec.fingerprint}]
    dropped = _configured_or_stored(session, site.id) - {spec.name for spec in specs}
    if dropped:
        forget_digests(session, site.id)
        for table in (AttributionCredit, AttributionFit):
            session.execute(
                delete(table).where(table.site_id == site.id, table.model.in_(dropped))
            )
    if changed:
        rebuild_site(session, site, changed)
    return changed
