# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""Paired, alternating rounds: every scenario once per round, every other round in
reverse order, so that within a comparison neither side always runs first, and a
ratio is the median of the per-round ratios, which the machine's drift between
rounds does not skew."""

import random
import statistics

NUMBERS = ("rps", "p50_ms", "p99_ms", "non_2xx", "socket_errors", "requests", "backend_us",
           "machine_us")


def run_rounds(steps, repeat, results):
    """steps: [(name, fn)], fn() -> a result dict; results[name] gets one per round."""
    for rnd in range(repeat):
        print("  round %d" % (rnd + 1))
        order = list(reversed(steps)) if rnd % 2 else steps
        for name, fn in order:
            print("    %-24s" % name, end="", flush=True)
            r = fn()
            results.setdefault(name, []).append(r)
            print(describe(r))


def describe(r):
    text = "%9.0f req/s  p50 %7.2f ms  p99 %7.2f ms" % (r["rps"], r["p50_ms"], r["p99_ms"])
    if "cpu" in r:
        text += "  cpu %6.1f us/req" % r["cpu"]["us_per_request"]
    if "ttfb" in r:
        text += "  ttfb p50 %.3f ms" % r["ttfb"]["p50_ms"]
    if r.get("non_2xx") or r.get("socket_errors"):
        text += "\n      !! %d non-2xx answers, %d socket errors %s" % (
            r["non_2xx"], r["socket_errors"], r.get("socket_error_kinds", ""))
    return text


def median_of(runs):
    """One result from the rounds of a scenario: the median of each number."""
    out = {k: statistics.median(r[k] for r in runs) for k in NUMBERS if k in runs[0]}
    for group in ("ttfb", "cpu"):
        if group in runs[0]:
            out[group] = {k: statistics.median(r[group][k] for r in runs)
                          for k in runs[0][group]}
    out["rounds"] = len(runs)
    return out


def paired(rounds, a, b, key="rps"):
    """The median over the rounds of a's number over b's in the same round."""
    return statistics.median(x[key] / y[key] for x, y in zip(rounds[a], rounds[b]))


def paired_difference(rounds, a, b, value):
    """The median over the rounds of value(a's result) minus value(b's) in the same
    round."""
    return statistics.median(value(x) - value(y) for x, y in zip(rounds[a], rounds[b]))


def paired_cpu(rounds, a, b, key="us_per_request"):
    """The median over the rounds of a's CPU per request minus b's (us): in all, or
    key "user_us" / "system_us" (user time is what a module's own code adds; system
    time, mostly the network's, is the same work for both and the noisier)."""
    return paired_difference(rounds, a, b, lambda r: r["cpu"][key])


def median_interval(values, level=0.9, draws=2000):
    """A bootstrap interval for the median of values: the central `level` of the
    medians of `draws` resamplings (a fixed seed, so a saved run reads the same).  How
    far the median of a run's rounds can be from the machine's true ratio."""
    rng = random.Random(14)
    n = len(values)
    meds = sorted(statistics.median(rng.choices(values, k=n)) for _ in range(draws))
    return meds[int(draws * (1 - level) / 2)], meds[int(draws * (1 + level) / 2) - 1]
