"""Ad spend pulled from the ad platforms' reporting APIs (Google Ads, Meta, Microsoft
Advertising, LinkedIn): connectors, the mapping of their rows to our channel / source /
medium / campaign / keyword, and the daily pull into ``costs`` with its checkpoint.

The platform modules (``platforms/``) speak HTTP only and import neither Flask nor the
models; ``pull`` and ``store`` own the database side. See docs/spend.md.
"""
