"""The refresh queue and its worker: derived data (credits, fits, rollups) off the request
path. See tracker/worker/runner.py."""
