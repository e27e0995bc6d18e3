"""Stored credits, the write side: per-touch credits of every configured model
(:mod:`.store`), the journeys they are cut from (:mod:`.journeys`) and when data-driven
models learn again (:mod:`.refit`). Only the worker and the CLI call in here."""

from tracker.credits.refit import RefitPolicy, refit_due
from tracker.credits.store import apply_settings, rebuild_site, refresh_leads

__all__ = ["RefitPolicy", "apply_settings", "rebuild_site", "refit_due", "refresh_leads"]
