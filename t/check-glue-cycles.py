#!/usr/bin/python3
"""The call graph between the module's glue files (src/mod_aoproxy_*.c) has no cycle,
and start-up is in one place.

A file calls another when its object file needs a symbol the other defines (nm: U
against T/D/B/R).  Files that call each other, directly or around a loop, cannot be
read, tested or changed one at a time; this check (run by `make check`) keeps the
graph a hierarchy.  Prints each cycle found, and the graph with -v.

Lifecycle hooks (pre_config, check_config, post_config, child_init, pre_mpm,
monitor...) are registered by src/mod_aoproxy_startup.c alone: the other glue files
and mod_aoproxy.c are libraries it calls.  Prints each file that registers one.

    t/check-glue-cycles.py [-v] [OBJDIR]     (default: src/.libs of the build tree)
"""

import glob
import os
import re
import subprocess
import sys

PREFIX = "mod_aoproxy_la-"
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


def lifecycle_outside_startup(syms, entry):
    """(file, hooks) of each file but the start-up file that registers a lifecycle hook."""
    files = dict(syms)
    if entry is not None:
        files["mod_aoproxy.c"] = entry
    if STARTUP not in syms:
        return [(STARTUP, ["missing"])]
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
    strays = lifecycle_outside_startup(syms, entry_symbols(objdir))
    for name, hooks in strays:
        print("lifecycle hooks outside %s: %s registers %s" % (STARTUP, name, ", ".join(hooks)))
    if found or strays:
        return 1
    print("glue call graph: %d files, no cycle; lifecycle hooks in %s alone" % (len(g), STARTUP))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
