#!/usr/bin/python3
"""The call graph between the module's glue files (src/mod_aoproxy_*.c) has no cycle.

A file calls another when its object file needs a symbol the other defines (nm: U
against T/D/B).  Files that call each other, directly or around a loop, cannot be
read, tested or changed one at a time; this check (run by `make check`) keeps the
graph a hierarchy.  Prints each cycle found, and the graph with -v.

    t/check-glue-cycles.py [-v] [OBJDIR]     (default: src/.libs of the build tree)
"""

import glob
import os
import re
import subprocess
import sys

PREFIX = "mod_aoproxy_la-"


def symbols(obj):
    out = subprocess.run(["nm", "--defined-only", obj], capture_output=True, text=True,
                         check=True).stdout
    defined = {l.split()[-1] for l in out.splitlines() if re.search(r" [TDBR] ", l)}
    out = subprocess.run(["nm", "--undefined-only", obj], capture_output=True, text=True,
                         check=True).stdout
    needed = {l.split()[-1] for l in out.splitlines() if l.strip()}
    return defined, needed


def graph(objdir):
    objs = sorted(glob.glob(os.path.join(objdir, PREFIX + "mod_aoproxy_*.o")))
    if not objs:
        sys.exit("check-glue-cycles: no glue objects in %s (build first)" % objdir)
    names = {o: os.path.basename(o)[len(PREFIX):-2] + ".c" for o in objs}
    syms = {names[o]: symbols(o) for o in objs}
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


def main(argv):
    verbose = "-v" in argv
    args = [a for a in argv if a != "-v"]
    objdir = args[0] if args else os.path.join(os.environ.get("AOP_BUILDDIR", "."), "src",
                                                ".libs")
    g = graph(objdir)
    if verbose:
        for name in sorted(g):
            print("%s -> %s" % (name, ", ".join(g[name]) or "-"))
    found = cycles(g)
    for comp in found:
        print("glue files calling each other in a cycle: " + " <-> ".join(comp))
    if found:
        return 1
    print("glue call graph: %d files, no cycle" % len(g))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
