"""Who is asking: the site whose secret key an API request carries (``Authorization: Bearer
lt_sk_…``), or the dashboard user signed in by Flask's session cookie."""

from __future__ import annotations

from flask import Flask, request, session
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.db import get_engine
from tracker.errors import Unauthorized
from tracker.models import Site, User
from tracker.sites import authenticate_api_key


def site_from_api_key() -> Site:
    """The site whose secret key the request carries; :class:`Unauthorized` otherwise."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "send the secret API key as 'Authorization: Bearer lt_sk_…'", "authorization"
        )
    # Checked on a session of its own, so the request's session starts with no transaction.
    with Session(get_engine(), expire_on_commit=False) as session:
        site = authenticate_api_key(session, token.strip())
        session.expunge(site)
    return site


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
