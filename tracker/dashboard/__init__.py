"""The marketer's dashboard (``/dashboard``): server-rendered pages over the report figures,
the lead journeys and the set-up services. ``views`` holds the thin handlers; the other
modules are plain functions that take a session first and never commit."""
