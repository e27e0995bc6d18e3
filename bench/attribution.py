"""Attribution benchmark: every LeadTrail model against ChannelAttribution and MAM, same data.

Generates N journeys (default 1,000,000) of about 3 touches over 8 channels, prepares each
library's input in memory (outside the timings), then times, each in a forked child so peak
memory is measured per run:

- ours: every registered model on the raw journeys (fit + attribute + sum by channel), and
  the Markov model again on the path-aggregated form ChannelAttribution reads;
- ChannelAttribution ``markov_model`` at its defaults and at nsim_start=1e7, and
  ``heuristic_models`` (first, last and linear in one call);
- marketing-attribution-models (``mam``) first/last/linear/position-based/time-decay/markov.

Prints seconds (best of --repeat), peak memory above the pre-run baseline, and our speed
ratio to each peer (peer seconds / our seconds: > 1 means we are faster). Not a test: run
``make bench`` or ``python bench/attribution.py [--journeys N] [--skip-slow]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import multiprocessing
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

# Run as a script, this file's folder comes first on sys.path and its name would shadow the
# ``attribution`` package it measures.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

from attribution import JourneyBatch, create_model, model_names  # noqa: E402
from attribution.synthetic import generate_journeys  # noqa: E402

with contextlib.redirect_stdout(io.StringIO()):  # ChannelAttribution prints an advert
    import ChannelAttribution as channel_attribution
import mam  # noqa: E402

SECONDS_PER_HOUR = 3600.0
MEMORY_LIMIT_MB = 2048.0


@dataclass
class Timing:
    label: str
    seconds: float
    peak_mb: float


def _status_kb(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return float(line.split()[1])
    return 0.0


def _child(work: Callable[[], object], repeat: int, pipe: object) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        run = work()  # untimed set-up; returns the callable to time
    assert callable(run)
    # Reset the high-water mark so the peak is this run's, not the parent's or the set-up's.
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    baseline = _status_kb("VmRSS")
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            run()
        best = min(best, time.perf_counter() - started)
    peak = (_status_kb("VmHWM") - baseline) / 1024.0
    pipe.send((best, peak))  # type: ignore[attr-defined]


def measure(label: str, work: Callable[[], Callable[[], object]], repeat: int) -> Timing:
    """Time ``work()()`` in a forked child: ``work`` sets up (untimed), its result runs."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(work, repeat, sender))
    process.start()
    seconds, peak = receiver.recv()
    process.join()
    timing = Timing(label, seconds, peak)
    print(f"  {label:<42} {seconds:8.3f} s  {peak:8.1f} MB", flush=True)
    return timing


def untimed_setup(run: Callable[[], object]) -> Callable[[], Callable[[], object]]:
    """For work whose input is ready before the fork: nothing to set up in the child."""
    return lambda: run


def attribute_all(name: str, batch: JourneyBatch) -> Callable[[], Callable[[], object]]:
    return untimed_setup(lambda: create_model(name).fit(batch).attribute(batch).by_channel())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journeys", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--skip-slow", action="store_true",
                        help="skip ChannelAttribution at nsim_start=1e7 (about 20 s)")
    args = parser.parse_args()

    print(f"generating {args.journeys:,} journeys over 8 channels ...", flush=True)
    journeys = generate_journeys(args.journeys, np.random.default_rng(args.seed))
    batch = journeys.batch()
    paths = journeys.path_strings(">")
    frame = pd.DataFrame({
        "path": paths,
        "conv": journeys.conversions.astype(np.int64),
        "null": (1 - journeys.conversions).astype(np.int64),
        "value": journeys.value,
    })
    aggregated = frame.groupby("path", as_index=False).sum()
    aggregated_batch = JourneyBatch.from_paths(
        aggregated["path"].tolist(), aggregated["conv"].to_numpy(float),
        aggregated["null"].to_numpy(float), aggregated["value"].to_numpy(), separator=">",
    )
    hours = (-journeys.time / SECONDS_PER_HOUR).astype(str)
    ends = np.cumsum(journeys.lengths)[:-1]
    mam_input = pd.DataFrame({
        "journey_id": np.arange(args.journeys),
        "path": [" > ".join(p.split(">")) for p in paths],
        "hours": [" > ".join(part) for part in np.split(hours, ends)],
        "converted": journeys.conversions.astype(bool),
        "value": journeys.value,
    })

    def mam_run(method: str) -> Callable[[], Callable[[], object]]:
        # Built in the child: polars' thread pool does not survive a fork once started.
        def setup() -> Callable[[], object]:
            model = mam.MAM(mam_input, "journey", "path", "converted",
                            time_till_conv_colname="hours", user_id_colname="journey_id",
                            conversion_value_colname="value")
            return getattr(model, method)  # type: ignore[no-any-return]

        return setup

    print(f"{batch.n_touches:,} touches, {len(aggregated):,} distinct paths, "
          f"{int(journeys.conversions.sum()):,} conversions\n", flush=True)

    print("LeadTrail (raw journeys: fit + attribute + sum by channel)")
    ours = {name: measure(name, attribute_all(name, batch), args.repeat)
            for name in model_names()}
    ours_markov_paths = measure("markov on aggregated paths",
                                attribute_all("markov", aggregated_batch), args.repeat)

    print("ChannelAttribution")
    ca_heuristic = measure("heuristic_models", untimed_setup(
        lambda: channel_attribution.heuristic_models(aggregated, "path", "conv",
                                                     var_value="value")), args.repeat)
    ca_markov = measure("markov_model (defaults)", untimed_setup(
        lambda: channel_attribution.markov_model(aggregated, "path", "conv", var_value="value",
                                                 var_null="null", verbose=False)), args.repeat)
    ca_markov_1e7 = None
    if not args.skip_slow:
        ca_markov_1e7 = measure("markov_model (nsim_start=1e7)", untimed_setup(
            lambda: channel_attribution.markov_model(aggregated, "path", "conv",
                                                     var_value="value", var_null="null",
                                                     nsim_start=1e7, verbose=False)), 1)

    print("marketing-attribution-models (mam)")
    mam_methods = {
        "first_touch": "run_first_click",
        "last_touch": "run_last_click",
        "linear": "run_linear",
        "position_based": "run_position_based",
        "time_decay": "run_time_decay",
        "markov": "run_markov",
    }
    mam_timings = {name: measure(f"{name} ({method})", mam_run(method), args.repeat)
                   for name, method in mam_methods.items()}

    peers: dict[str, list[Timing]] = {name: [] for name in ours}
    for name in ("first_touch", "last_touch", "linear"):
        peers[name].append(ca_heuristic)
    for name, timing in mam_timings.items():
        peers[name].append(timing)
    peers["markov"].append(ca_markov)

    print("\nratios (peer seconds / our seconds; > 1 = we are faster)")
    failures = []
    for name, timing in ours.items():
        line = f"  {name:<16} {timing.seconds:7.3f} s"
        for peer in peers[name]:
            line += f"  vs {peer.label}: {peer.seconds / timing.seconds:6.1f}x"
        print(line)
        rule_based = not create_model(name).data_driven
        if rule_based and timing.seconds >= 1.0:
            failures.append(f"{name} takes {timing.seconds:.2f} s (target < 1 s)")
        if rule_based and peers[name]:
            fastest = min(peers[name], key=lambda peer: peer.seconds)
            if timing.seconds > fastest.seconds:
                failures.append(f"{name} slower than {fastest.label}")
    markov = ours["markov"]
    print(f"  markov vs ChannelAttribution defaults: {ca_markov.seconds / markov.seconds:.1f}x"
          f" (on aggregated paths {ca_markov.seconds / ours_markov_paths.seconds:.1f}x)")
    if markov.seconds > ca_markov.seconds:
        failures.append("exact markov slower than ChannelAttribution's default markov_model")
    if ca_markov_1e7 is not None:
        ratio = ca_markov_1e7.seconds / markov.seconds
        print(f"  markov vs ChannelAttribution nsim_start=1e7: {ratio:.1f}x (target >= 10x)")
        if ratio < 10:
            failures.append(f"exact markov only {ratio:.1f}x faster than nsim_start=1e7")
    peak = max(t.peak_mb for t in ours.values())
    print(f"  our peak memory: {peak:.0f} MB (target < {MEMORY_LIMIT_MB:.0f} MB)")
    if peak >= MEMORY_LIMIT_MB:
        failures.append(f"peak memory {peak:.0f} MB")

    print("\ntargets: " + ("all met" if not failures else "MISSED: " + "; ".join(failures)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
