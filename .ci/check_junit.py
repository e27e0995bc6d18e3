"""Fail CI unless the junit report shows PostgreSQL and browser tests that ran and passed."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET


def main(path: str) -> int:
    cases = ET.parse(path).getroot().iter("testcase")
    counts = {"postgresql": 0, "browser": 0, "total": 0}
    for case in cases:
        outcome = [child.tag for child in case]
        if any(tag in {"skipped", "failure", "error"} for tag in outcome):
            continue
        counts["total"] += 1
        if "[postgresql" in case.get("name", "") or "postgresql]" in case.get("name", ""):
            counts["postgresql"] += 1
        if ".e2e." in case.get("classname", "") or case.get("classname", "").startswith(
            "tests.e2e"
        ):
            counts["browser"] += 1
    print(
        f"passed: {counts['total']} total, {counts['postgresql']} on PostgreSQL, "
        f"{counts['browser']} in the browser"
    )
    missing = [name for name in ("postgresql", "browser") if counts[name] == 0]
    if missing:
        print(f"CI requires these parts to run: {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "build/junit.xml"))
