#!/usr/bin/env python3
"""Fail when the top-level modules of a crate's src/ import each other in a
circle (docs/architecture.md, "Rules of the road").

    python3 .ci/module_circles.py host/src hpa-model/src

A top-level module is a folder or a loose file in src/. An edge A -> B is any
`crate::B` path in A's code outside comments and outside its `#[cfg(test)]`
module (tests may reach across layers). Prints each circle with the files
that close it.
"""
import os
import re
import sys


def modules(root):
    mods = {}
    for entry in sorted(os.listdir(root)):
        path = os.path.join(root, entry)
        if entry in ("main.rs", "lib.rs"):
            continue
        if os.path.isdir(path):
            files = [os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs if f.endswith(".rs")]
            mods[entry] = files
        elif entry.endswith(".rs"):
            mods[entry[:-3]] = [path]
    return mods


def edges(root, mods):
    out = {}
    for m, files in mods.items():
        for f in files:
            src = open(f, encoding="utf-8").read()
            cut = src.find("#[cfg(test)]")
            if cut >= 0:
                src = src[:cut]
            src = re.sub(r"//[^\n]*", "", src)
            for target in re.findall(r"crate::([a-z_0-9]+)", src):
                if target != m and target in mods:
                    out.setdefault(m, {}).setdefault(target, set()).add(os.path.relpath(f, root))
    return out


def circles(nodes, graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, {}):
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
                found.append(sorted(comp))

    for v in nodes:
        if v not in index:
            visit(v)
    return found


def main(roots):
    failed = False
    for root in roots:
        mods = modules(root)
        graph = edges(root, mods)
        found = circles(list(mods), graph)
        for comp in found:
            failed = True
            print(f"{root}: modules import each other in a circle: {' '.join(comp)}")
            for a in comp:
                for b, files in sorted(graph.get(a, {}).items()):
                    if b in comp:
                        print(f"  {a} -> {b}: {', '.join(sorted(files))}")
        if not found:
            print(f"{root}: {len(mods)} top-level modules, no circles")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["host/src", "hpa-model/src"]))
