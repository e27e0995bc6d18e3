"""Who is asking: the site whose secret key an API request carries (``Authorization: Bearer
lt_sk_…``), or the dashboard user signed in by Flask's session cookie."""

from __future__ import annotations

from flask import request, session
from sqlalchemy.orm import Session

from tracker.db import get_engine
from tracker.errors import Unauthorized
from tracker.models import Site
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
    """The dashboard user id in Flask's signed session cookie, if any."""
    value = session.get("user_id")
    return value if isinstance(value, int) else None
