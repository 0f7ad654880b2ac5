# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""results.json and docs/benchmark.md: every part's results under "parts"; saving a
run of some parts keeps the saved results of the others."""

import json
import os

from . import bodies, chat, fleet, instructions, streams, tls

PARTS = {"chat": chat, "instr": instructions, "bodies": bodies, "streams": streams,
         "fleet": fleet, "tls": tls}


def merge(saved_path, report):
    """The saved report with this run's parts in place of theirs. A file from before
    the parts existed held the chat part alone, at its top level."""
    try:
        with open(saved_path) as f:
            old = json.load(f)
    except (OSError, ValueError):
        old = {}
    if old and "parts" not in old:
        old = {"when": old["when"], "machine": old["machine"], "parts": {"chat": dict(
            {k: old[k] for k in ("results", "rounds", "memory", "ratios")},
            settings=old["settings"], when=old["when"], quick=False)}}
    parts = dict(old.get("parts", {}))
    parts.update(report["parts"])
    return dict(report, parts={name: parts[name] for name in PARTS if name in parts})


def markdown(rep):
    m = rep["machine"]
    sections = []
    for name, module in PARTS.items():
        part = rep["parts"].get(name)
        if part is None:
            continue
        text = module.markdown(part)
        head, rest = text.split("\n", 1)
        note = "\n_Run %s%s%s._\n" % (
            part["when"], ", with `--quick`" if part.get("quick") else "",
            "; load average %.1f when the run began" % part["load_at_start"]
            if "load_at_start" in part else "")
        sections.append(head + "\n" + note + rest)
    return """# Benchmark

`tools/bench --save` wrote this; each section says when its part ran (`tools/bench
--only PART --save` reruns one and keeps the others).

Machine: {cpu} ({cores} cores, {mem} GiB), Linux {kernel}, {httpd}, nginx {nginx}.

Everything (the servers, the backends, the load generators) shares those cores, so
what counts are ratios and differences within a part's run, not absolute numbers.
Where rounds are given, the sides of each comparison run one after the other within a
round, every other round in reverse order; a number is the median over the rounds, a
ratio the median of the per-round ratios.

{sections}
Machine-readable: [benchmark-results.json](benchmark-results.json).
""".format(cpu=m["cpu"], cores=m["cores"], mem=m["memory_gib"], kernel=m["kernel"],
           httpd=m["httpd"], nginx=m["nginx"], sections="\n".join(sections))


def write(report, out_dir, save, top):
    path = os.path.join(out_dir, "results.json")
    for name in (path, os.path.join(out_dir, "results-%s.json" % report["when"])):
        with open(name, "w") as f:
            json.dump(report, f, indent=2)
    print("results: %s (and results-%s.json)" % (path, report["when"]))
    if save:
        saved = os.path.join(top, "docs", "benchmark-results.json")
        merged = merge(saved, report)
        with open(saved, "w") as f:
            json.dump(merged, f, indent=2)
        with open(os.path.join(top, "docs", "benchmark.md"), "w") as f:
            f.write(markdown(merged))
        print("saved: docs/benchmark.md, docs/benchmark-results.json")
