#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""The call graph between the module's glue files (src/mod_aoproxy_*.c) has no cycle,
and start-up is in one place.

A file calls another when its object file needs a symbol the other defines (nm: U
against T/D/B/R).  Files that call each other, directly or around a loop, cannot be
read, tested or changed one at a time; this check (run by `make check`) keeps the
graph a hierarchy.  Prints each cycle found, and the graph with -v.

The hierarchy is written down (LAYERS below, bottom to top, the order a newcomer can
read the files in): a file calls only files that come before it there.  Prints each
call upwards, and each glue file LAYERS does not name (a new file takes its place
there).

Lifecycle hooks (pre_config, check_config, post_config, child_init, pre_mpm,
monitor...) are registered by src/mod_aoproxy_startup.c alone; no other glue file,
nor mod_aoproxy.c, registers one.  Prints each file that does.

    t/check-glue-cycles.py [-v] [OBJDIR]     (default: src/.libs of the build tree)
"""

import glob
import os
import re
import subprocess
import sys

PREFIX = "mod_aoproxy_la-"
# Bottom to top: each file calls only files before it (in its layer or below).
LAYERS = [
    # Foundations: OpenAI-shaped errors, file access of httpd's User, the registry
    # of fleets, the shared memory segment (a document per fleet) and its lock, the
    # body replay filter,
    # the directives and the configuration, the per-request state.
    # The Entra ID token table, one token fetch (libcurl) and the fetches in flight.
    # The response-affinity table.
    ("foundations", ["errors", "user_access", "fleets", "shm", "body", "config", "ctx",
                     "token_table", "token_cert", "token_fetch", "token_multi", "affinity"]),
    # What the instances are and what shared memory says of them: outcomes of
    # attempts, token reservations, balancers and workers, the views and their
    # publication, health and snapshots for the reports.
    # The token task (a mod_watchdog callback) keeps the views' tokens fresh; an
    # outcome tells it of a refused token.
    ("instances", ["reservations", "balancer_sync", "balancer", "view", "token", "outcome", "health",
                   "snapshot", "publish"]),
    # The request path, from the pick up to the fixups hook that starts it: the pick,
    # the counting, the output filters, mod_proxy's hooks, the fixups hook.
    # Stored responses (the Responses API): which instance holds one.
    # Fallbacks: another model, or a wait for a short Retry-After.  The stream timer:
    # the time limits on a stream's reads.  Resuming a cut stream elsewhere.
    ("request", ["responses", "lbmethod", "fallback", "stats", "hold", "stream_timer",
                 "resume", "usage", "proxy", "request"]),
    # The management API: the router and its helpers, the handlers, their table, and
    # the <AOProxyAPI> section's hook.
    ("api", ["api", "api_config", "api_manage", "api_stats", "api_metrics", "api_verify",
             "api_routes", "api_section"]),
    # Start-up: every lifecycle hook.
    ("startup", ["startup"]),
]
STARTUP = "mod_aoproxy_startup.c"
LIFECYCLE = {"ap_hook_" + h for h in (
    "pre_config", "check_config", "test_config", "open_logs", "post_config",
    "child_init", "child_stopping", "child_stopped", "pre_mpm", "monitor",
    "drop_privileges", "mpm")}


def symbols(obj):
    out = subprocess.run(["nm", "--defined-only", obj], capture_output=True, text=True,
                         check=True).stdout
    defined = {l.split()[-1] for l in out.splitlines() if re.search(r" [TDBR] ", l)}
    out = subprocess.run(["nm", "--undefined-only", obj], capture_output=True, text=True,
                         check=True).stdout
    needed = {l.split()[-1] for l in out.splitlines() if l.strip()}
    return defined, needed


def glue_symbols(objdir, srcdir):
    """Each glue file's symbols; an object left by a file since renamed or removed
    (its source is gone) is not the module's."""
    objs = sorted(glob.glob(os.path.join(objdir, PREFIX + "mod_aoproxy_*.o")))
    names = {o: os.path.basename(o)[len(PREFIX):-2] + ".c" for o in objs}
    objs = [o for o in objs if os.path.exists(os.path.join(srcdir, "src", names[o]))]
    if not objs:
        sys.exit("check-glue-cycles: no glue objects in %s (build first)" % objdir)
    return {names[o]: symbols(o) for o in objs}


def entry_symbols(objdir):
    """mod_aoproxy.c's, built beside src/ (.libs of the build tree's top)."""
    obj = os.path.join(objdir, os.pardir, os.pardir, ".libs", PREFIX + "mod_aoproxy.o")
    return symbols(obj) if os.path.exists(obj) else None


def graph(syms):
    owner = {}
    for name, (defined, _) in syms.items():
        for s in defined:
            owner[s] = name
    return {name: sorted({owner[s] for s in needed if s in owner and owner[s] != name})
            for name, (_, needed) in syms.items()}


def cycles(g):
    """Strongly connected components of more than one file (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))
    sys.setrecursionlimit(10000)
    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def placed():
    """Each file named in LAYERS: (its place bottom to top, its layer's name)."""
    files = [("mod_aoproxy_%s.c" % f, name) for name, fs in LAYERS for f in fs]
    return {f: (i, name) for i, (f, name) in enumerate(files)}


def upward_calls(g):
    """(caller, callee) of each call to a file placed after the caller, and the files
    LAYERS does not name."""
    place = placed()
    unplaced = sorted(f for f in g if f not in place)
    up = [(a, b) for a in sorted(g) for b in g[a]
          if a in place and b in place and place[b][0] > place[a][0]]
    return up, unplaced


def lifecycle_outside_startup(syms, entry):
    """(file, hooks) of each file but the start-up file that registers a lifecycle hook."""
    files = dict(syms)
    if entry is not None:
        files["mod_aoproxy.c"] = entry
    return [(name, sorted(needed & LIFECYCLE)) for name, (_, needed) in sorted(files.items())
            if name != STARTUP and needed & LIFECYCLE]


def main(argv):
    verbose = "-v" in argv
    args = [a for a in argv if a != "-v"]
    objdir = args[0] if args else os.path.join(os.environ.get("AOP_BUILDDIR", "."), "src",
                                                ".libs")
    srcdir = os.environ.get("AOP_SRCDIR",
                            os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
    syms = glue_symbols(objdir, srcdir)
    g = graph(syms)
    if verbose:
        for name in sorted(g):
            print("%s -> %s" % (name, ", ".join(g[name]) or "-"))
    found = cycles(g)
    for comp in found:
        print("glue files calling each other in a cycle: " + " <-> ".join(comp))
    up, unplaced = upward_calls(g)
    for a, b in up:
        print("a call upwards: %s (%s) calls %s (%s), which LAYERS places after it"
              % (a, placed()[a][1], b, placed()[b][1]))
    for f in unplaced:
        print("%s is in no layer: add it to LAYERS in %s" % (f, os.path.basename(__file__)))
    strays = lifecycle_outside_startup(syms, entry_symbols(objdir))
    for name, hooks in strays:
        print("lifecycle hooks outside %s: %s registers %s" % (STARTUP, name, ", ".join(hooks)))
    if STARTUP not in syms:
        print("no %s among the glue objects" % STARTUP)
    if found or up or unplaced or strays or STARTUP not in syms:
        return 1
    print("glue call graph: %d files in %d layers, no cycle, no call upwards; lifecycle "
          "hooks in %s alone" % (len(g), len(LAYERS), STARTUP))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
