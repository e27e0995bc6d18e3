"""Dashboard sign-in: the user id in Flask's signed session cookie, a CSRF token per session
checked on every POST (the synchroniser-token pattern, OWASP CSRF cheat sheet), and the
login-required guard. No extra dependency: the token is a random string compared in
constant time."""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from flask import g, request, session

from tracker.errors import Forbidden
from tracker.models import User

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token() -> str:
    """This browser session's CSRF token, created on first use (templates call it)."""
    token = session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[CSRF_FIELD] = token
    return token


def check_csrf() -> None:
    """Refuse a state-changing request whose form field or header does not carry the
    session's token; :class:`Forbidden` names the field."""
    if request.method in SAFE_METHODS:
        return
    expected = session.get(CSRF_FIELD)
    sent = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    if not isinstance(expected, str) or not hmac.compare_digest(expected, sent):
        raise Forbidden("the form expired or came from another site; reload and try again",
                        CSRF_FIELD)


def sign_in(user: User) -> None:
    """Start a fresh session for ``user`` (a new CSRF token: no fixation across logins)."""
    session.clear()
    session["user_id"] = user.id
    session.permanent = False
    csrf_token()


def sign_out() -> None:
    session.clear()


def current_user() -> User:
    user: User = g.dashboard_user
    return user


def safe_next(target: str | None, default: str) -> str:
    """``target`` if it is a path on this server (never an open redirect), else ``default``."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target
