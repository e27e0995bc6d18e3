"""Who is asking: the site whose secret key an API request carries (``Authorization: Bearer
lt_sk_…``), or the dashboard user signed in by Flask's session cookie."""

from __future__ import annotations

import datetime as dt
import logging

from flask import Flask, request, session
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from tracker.db import get_engine, transaction
from tracker.errors import Unauthorized
from tracker.models import Site, User
from tracker.models.base import utcnow
from tracker.sites.keys import authenticate_api_key_of_site, key_use_due, record_key_use

logger = logging.getLogger(__name__)


def site_from_api_key() -> Site:
    """The site whose secret key the request carries; :class:`Unauthorized` otherwise."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "send the secret API key as 'Authorization: Bearer lt_sk_…'", field="authorization"
        )
    # Checked on a session of its own, so the request's session starts with no transaction.
    now = utcnow()
    with Session(get_engine(), expire_on_commit=False) as session:
        key, site = authenticate_api_key_of_site(session, token.strip(), now)
        session.expunge(site)
        due = key_use_due(key, now)
    if due:
        _record_use(site.id, key.id, now)
    return site


def _record_use(site_id: int, key_id: str, now: dt.datetime) -> None:
    """Best effort: "last used" is an approximation and never fails the request it notes."""
    try:
        with transaction(get_engine()) as session:
            record_key_use(session, site_id, key_id, now)
    except OperationalError as error:  # a busy SQLite file; the next minute's use writes it
        logger.warning("api key use not recorded", extra={"site_id": site_id,
                                                          "error": str(error)[:200]})


def signed_in_user_id() -> int | None:
    """The dashboard user id in Flask's signed session cookie, if the cookie is still of the
    user's current session generation (signing out or a new password recalls older ones)."""
    user_id, generation = session.get("user_id"), session.get("generation")
    if not isinstance(user_id, int) or not isinstance(generation, int):
        return None
    with Session(get_engine()) as db:
        current = db.scalar(select(User.session_generation).where(User.id == user_id))
    return user_id if current == generation else None


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with ``Secure`` whenever the request came over https
    (also through a trusted proxy: ``request.is_secure`` reads ProxyFix's scheme), so one
    deployment serves plain http on loopback and https behind its proxy."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(request.is_secure) or super().get_cookie_secure(app)
