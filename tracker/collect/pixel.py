"""The no-JavaScript pixel: query parameters → the same ``Batch`` the snippet would send."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping

from tracker.collect.parsing import Batch, parse_batch
from tracker.collect.service import new_event_id


def pixel_batch(args: Mapping[str, str], cookie_visitor: str | None, now: dt.datetime) -> Batch:
    """One page view from ``?k=&u=&r=``; the visitor is the cookie's, else a new id."""
    event = {
        "id": new_event_id(),
        "type": "pageview",
        "ts": int(now.timestamp() * 1000),
        "url": args.get("u"),
    }
    if args.get("r"):
        event["ref"] = args["r"]
    body: dict[str, object] = {
        "k": args.get("k"),
        "vid": cookie_visitor or f"px.{secrets.token_urlsafe(16)}",
        "events": [event],
    }
    if "consent" in args:
        body["consent"] = args["consent"] in {"1", "true"}
    return parse_batch(body, now)
