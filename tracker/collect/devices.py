"""Browser, OS, device type and bot detection from the User-Agent header (``user-agents``),
cached per distinct string because parsing costs far more than a dictionary lookup."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from user_agents import parse as parse_user_agent

# Automation that ua-parser does not flag but that never is a person.
_EXTRA_BOT_MARKERS = (
    "headlesschrome",
    "phantomjs",
    "python-requests",
    "python-urllib",
    "curl/",
    "wget/",
    "go-http-client",
    "java/",
    "okhttp",
    "axios/",
    "node-fetch",
    "scrapy",
    "httpclient",
    "lighthouse",
    "pingdom",
    "uptimerobot",
    "statuscake",
    "gtmetrix",
    "facebookexternalhit",
    "slackbot",
    "discordbot",
    "whatsapp",
    "telegrambot",
    "bingpreview",
    "apachebench",
    "wrk",
)


@dataclass(frozen=True, slots=True)
class Device:
    browser: str | None
    os: str | None
    device_type: str  # desktop | mobile | tablet | bot | other
    is_bot: bool
    bot_family: str | None


@lru_cache(maxsize=8192)
def describe_user_agent(user_agent: str | None) -> Device:
    """Classify one User-Agent string. An empty one is treated as a bot (browsers send one)."""
    if not user_agent:
        return Device(None, None, "bot", True, "(no user agent)")
    lowered = user_agent.lower()
    parsed = parse_user_agent(user_agent[:512])
    marker = next((m for m in _EXTRA_BOT_MARKERS if m in lowered), None)
    if parsed.is_bot or marker is not None:
        family = parsed.browser.family if parsed.is_bot or marker is None else marker.strip("/")
        return Device(None, None, "bot", True, (family or "bot")[:80])
    if parsed.is_mobile:
        device_type = "mobile"
    elif parsed.is_tablet:
        device_type = "tablet"
    elif parsed.is_pc:
        device_type = "desktop"
    else:
        device_type = "other"
    browser = parsed.browser.family if parsed.browser.family != "Other" else None
    os_name = parsed.os.family if parsed.os.family != "Other" else None
    return Device(browser, os_name, device_type, False, None)
