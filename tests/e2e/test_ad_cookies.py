"""The snippet forwards the ad platforms' cookies (_ga, _fbp, _fbc) with identify, in real
Chromium; the lead keeps them for conversions sent later."""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.e2e.conftest import LiveServer, Tab

PageUrl = Callable[..., str]


def test_identify_carries_the_ga_and_meta_cookies_to_the_lead(
    live_server: LiveServer, pages: PageUrl, new_tab: Callable[..., Tab]
) -> None:
    site = live_server.make_site()
    s = site.site.id
    tab = new_tab()
    tab.page.goto(pages(site) + "?fbclid=IwAR-e2e")
    live_server.wait_for("SELECT count(*) FROM events WHERE site_id = :s", 1, s=s)
    # What gtag.js and the Meta pixel would have set on this site.
    tab.page.evaluate(
        "document.cookie = '_ga=GA1.1.424242.1700000000; path=/';"
        "document.cookie = '_fbp=fb.1.1700000000000.31337; path=/';"
        "document.cookie = '_fbc=fb.1.1700000000123.IwAR-e2e; path=/'"
    )

    tab.page.evaluate("leadtrail('identify', {email: 'grace@example.com'})")
    live_server.wait_for("SELECT count(*) FROM leads WHERE site_id = :s", 1, s=s)

    (stored,) = live_server.rows("SELECT ad_ids FROM leads WHERE site_id = :s", s=s)[0]
    ad_ids = json.loads(stored) if isinstance(stored, str) else stored
    assert ad_ids == {"ga_client_id": "424242.1700000000", "fbp": "fb.1.1700000000000.31337",
                      "fbc": "fb.1.1700000000123.IwAR-e2e"}
