"""Site settings benchmark: what ``site_settings(site)`` costs per call, against the old path
that checked every setting again on every read, in the same run.

The site has what a configured site has: channel and score rules of its own, CRM secrets,
stage maps and field maps, attribution parameters, a time zone. Times, best of --repeat
rounds of --calls calls each:

- ``checked on read`` (the baseline): ``SiteSettings.from_mapping`` on the stored JSON, every
  check of every setting, as ``site_settings`` ran before issue 16 (whose callers then
  parsed the channel and score rules once more, not counted here);
- ``built from JSON``: ``SiteSettings.from_json``, what a read costs the first time a stored
  version is seen (a cache miss);
- ``site_settings``, first read of a loaded row: what each request's first call costs (the
  row's settings are a new object, found by their JSON in the cross-request cache);
- ``site_settings``, again: the request's further calls on the same row.

Prints microseconds per call and the baseline's time over each. Not a test:
``python bench/settings.py [--calls 20000] [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

# Run as a script, this file's folder comes first on sys.path, and bench/attribution.py would
# shadow the ``attribution`` package the settings' checks import.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

from tracker.models import Site  # noqa: E402
from tracker.sites.settings import SiteSettings, site_settings  # noqa: E402

SECRET = "whsec_" + "k" * 32
CONFIGURED: dict[str, Any] = {
    "timezone": "Europe/Berlin",
    "currency": "EUR",
    "lookback_days": 60,
    "mql_threshold": 40,
    "consent_mode": "required",
    "honor_gpc": True,
    "referral_exclusions": ["pay.example.com", "sso.example.org"],
    "linked_domains": ["shop.example.com", "docs.example.com"],
    "channel_rules": [
        {"channel": "Partners", "source": "partner-.*"},
        {"channel": "Events", "campaign": ".*expo.*", "medium": "offline"},
        {"channel": "Newsletter", "medium": "email", "source": "newsletter|digest"},
        {"channel": "Communities", "referrer_host": r".*\.(reddit|ycombinator)\.com"},
        {"channel": "Podcasts", "medium": "audio|podcast"},
    ],
    "score_rules": [
        {"name": "pricing", "kind": "pageview", "path": "/pricing.*", "points": 15, "cap": 30,
         "half_life_days": 30},
        {"name": "docs", "kind": "pageview", "path": "/docs/.*", "points": 2, "cap": 20},
        {"name": "trial", "kind": "custom", "event_name": "trial_started", "points": 40},
        {"name": "form", "kind": "form_submit", "points": 20, "cap": 40},
        {"name": "return", "kind": "return_visit", "points": 5, "cap": 25,
         "half_life_days": 60},
        {"name": "depth", "kind": "page_depth", "points": 1, "cap": 15},
    ],
    "hubspot_secrets": [SECRET, SECRET[::-1]],
    "hubspot_portal_id": 4242,
    "generic_secrets": [SECRET],
    "crm_stage_maps": {
        "hubspot": {str(8812345 + i): "opportunity" for i in range(8)},
        "pipedrive": {"1": "sql", "2": "sql", "3": "opportunity", "4": "opportunity"},
    },
    "hubspot_api_token": SECRET,
    "crm_push": ["hubspot"],
    "salesforce_fields": {"contact_email": "Buyer_Email__c", "lead_id": "Lead_Ref__c"},
    "attribution_params": {
        "time_decay": {"half_life_days": 14},
        "position_based": {"first": 0.4, "lead": 0.4, "middle": 0.2},
    },
}


def checked_on_read(site: Site) -> SiteSettings:
    """The read path before issue 16: every setting checked again on every call."""
    return SiteSettings.from_mapping(site.settings or {})


def best_seconds_per_call(read: Callable[[], object], calls: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(calls):
            read()
        best = min(best, time.perf_counter() - started)
    return best / calls


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    site = Site(id=1, settings=SiteSettings.from_mapping(CONFIGURED).to_json())
    stored = dict(site.settings)
    reloaded = Site(id=1, settings=stored)

    def first_read_of_a_loaded_row() -> SiteSettings:
        reloaded.settings = dict(stored)  # as a new session loads it: equal, not the same
        return site_settings(reloaded)

    timings = {
        "checked on read (baseline)": lambda: checked_on_read(site),
        "built from JSON (cache miss)": lambda: SiteSettings.from_json(stored),
        "site_settings, a row's first": first_read_of_a_loaded_row,
        "site_settings, again": lambda: site_settings(site),
    }
    seconds = {
        label: best_seconds_per_call(read, args.calls, args.repeat)
        for label, read in timings.items()
    }
    baseline = seconds["checked on read (baseline)"]
    print(f"site_settings: {args.calls:,} calls, best of {args.repeat}")
    for label, value in seconds.items():
        print(f"  {label:<30} {value * 1e6:8.2f} µs/call  baseline/this {baseline / value:6.1f}x")


if __name__ == "__main__":
    main()
