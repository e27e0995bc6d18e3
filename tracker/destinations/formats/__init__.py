"""The platforms' request formats: pure functions from conversions to requests and from
answers to per-conversion outcomes. No database, no web, no network (import-linter)."""
