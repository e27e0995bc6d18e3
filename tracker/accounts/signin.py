"""Dashboard sign-in: the user id and session generation in Flask's signed session cookie,
throttled password checks, a CSRF token per session checked on every POST (the
synchroniser-token pattern, OWASP CSRF cheat sheet), and the login-required guard. No extra
dependency: the token is a random string compared in constant time."""

from __future__ import annotations

import hmac
import logging
import secrets
from urllib.parse import urlsplit

from flask import g, request, session
from sqlalchemy.orm import Session

from tracker.accounts.users import authenticate, end_sessions
from tracker.errors import Forbidden, TooManyAttempts, Unauthorized
from tracker.models import User
from tracker.rules.privacy import truncate_ip
from tracker.throttle import LoginKeys, LoginThrottle, login_keys

logger = logging.getLogger(__name__)

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
                        field=CSRF_FIELD)


def authenticate_throttled(
    db: Session, throttle: LoginThrottle, email: str, password: str, address: str | None,
    now: float,
) -> User:
    """The user with this email and password, unless the account or the address failed too
    often lately (:class:`TooManyAttempts`, the password not even checked); a wrong password
    is :class:`Unauthorized` and counts against both. Every refusal is logged (never the
    email: its throttle key, a hash; never the full address)."""
    keys = login_keys(email, address)
    wait = throttle.retry_after(keys, now)
    if wait > 0:
        _log_refusal("throttled", keys, address)
        raise TooManyAttempts(wait)
    try:
        user = authenticate(db, email, password)
    except Unauthorized:
        throttle.failed(keys, now)
        _log_refusal("wrong_password", keys, address)
        raise
    throttle.succeeded(keys)
    return user


def _log_refusal(reason: str, keys: LoginKeys, address: str | None) -> None:
    logger.warning("sign-in refused", extra={
        "reason": reason, "account": keys.account, "client": truncate_ip(address)})


def sign_in(user: User) -> None:
    """Start a fresh session for ``user`` (a new CSRF token: no fixation across logins),
    bound to the user's current session generation."""
    session.clear()
    session["user_id"] = user.id
    session["generation"] = user.session_generation
    session.permanent = False
    csrf_token()


def sign_out(db: Session, user: User) -> None:
    """End this session and, server-side, every other session of ``user``: a copy of the
    cookie kept anywhere stops working."""
    end_sessions(user)
    db.flush()
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
