"""Revenue reports: journeys built from the database, stored attribution, and the reports API.

``query`` parses one :class:`~tracker.reports.query.ReportQuery`, ``journeys`` builds
conversion journeys set-based, ``storage`` keeps ``attribution_credits`` current, ``queries``
turns them into rows, ``render`` writes JSON or CSV and ``views`` wires the HTTP routes.
"""
