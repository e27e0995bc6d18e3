"""Segment-compatible intake: the HTTP Tracking API (``/v1/batch``, ``/v1/track``, …) so that
sites instrumented with analytics.js or a Segment server library can send to LeadTrail."""
