#!/usr/bin/env python3
"""Fail when the top-level modules of a crate's src/ import each other in a
circle (docs/architecture.md, "Rules of the road"); with --layers, also when
a module of host/src imports one listed after it in the architecture page's
table "Where each concept lives" (the table lists the lowest layer first).

    python3 .ci/module_circles.py host/src hpa-model/src
    python3 .ci/module_circles.py --layers docs/architecture.md host/src

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


def layers(page):
    """The modules of the concept table, in its order: the first backticked
    name of each row's module column (`cluster/` -> cluster)."""
    text = open(page, encoding="utf-8").read()
    start = text.index("## Where each concept lives")
    end = text.index("\n## ", start + 1)
    order = []
    for line in text[start:end].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not cells[1].startswith("`"):
            continue
        name = cells[1].split("`")[1].rstrip("/")
        name = name[:-3] if name.endswith(".rs") else name
        if name not in order:
            order.append(name)
    return order


def check_layers(root, page):
    order = layers(page)
    mods = modules(root)
    graph = edges(root, mods)
    ok = True
    for m in mods:
        if m not in order:
            ok = False
            print(f"{root}: module {m} is not in the table of {page}")
    for a, targets in graph.items():
        for b, files in targets.items():
            if a in order and b in order and order.index(b) > order.index(a):
                ok = False
                print(f"{root}: {a} imports {b}, listed after it in {page}: {', '.join(sorted(files))}")
    if ok:
        print(f"{root}: every import goes down the table of {page}")
    return ok


def main(roots):
    failed = False
    if len(roots) >= 2 and roots[0] == "--layers":
        page, root = roots[1], roots[2]
        return 0 if check_layers(root, page) else 1
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
