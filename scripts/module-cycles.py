#!/usr/bin/env python3
"""Reads `cargo modules dependencies --no-owns` output (Graphviz) on stdin, folds every item
into the module that defines it, and prints the module import graph's cycles, if any.

cargo-modules' own --acyclic also counts an item and its methods (a `fn` returning `Self`)
as a cycle; only imports between modules matter here. Exit 0: no cycle; 1: cycles printed; 2: no graph read.
"""
import re
import sys

nodes, edges = {}, []
for line in sys.stdin:
    m = re.match(r'\s*"([^"]+)" \[label="[^|]*\|[^"]*".*// "(\w+)" node', line)
    if m:
        nodes[m.group(1)] = m.group(2)
        continue
    m = re.match(r'\s*"([^"]+)" -> "([^"]+)" \[label="uses"', line)
    if m:
        edges.append((m.group(1), m.group(2)))

# cargo-modules leaves out the node of some modules (those that only hold items others
# use); a lowercase path with items under it is a module too (types are CamelCase).
named = set(nodes) | {n for e in edges for n in e}
parents = {"::".join(p.split("::")[:k]) for p in named for k in range(1, p.count("::") + 1)}


def is_module(p):
    last = p.rsplit("::", 1)[-1]
    return nodes.get(p) in ("mod", "crate") or (p in parents and last[:1].islower())


def module(path):
    """The innermost module (or crate) that `path` lies in, itself if it is one."""
    parts = path.split("::")
    for n in range(len(parts), 0, -1):
        p = "::".join(parts[:n])
        if is_module(p):
            return p
    return parts[0]

graph = {}
for a, b in edges:
    ma, mb = module(a), module(b)
    if ma != mb:
        graph.setdefault(ma, set()).add(mb)

# Tarjan's strongly connected components: a component of more than one module is a cycle.
index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
def visit(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on.add(v)
    for w in graph.get(v, ()):
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
for v in sorted(graph):
    if v not in index:
        visit(v)
modules = {module(n) for n in named}
edge_count = sum(len(s) for s in graph.values())
for comp in out:
    print("cycle:", " <-> ".join(comp))
print(f"{len(modules)} modules, {edge_count} imports between them, {len(out)} cycles")
# No module read is no check at all (cargo-modules failed, or printed nothing): a failure.
if not modules:
    print("no module graph read: is cargo-modules working?", file=sys.stderr)
    sys.exit(2)
sys.exit(1 if out else 0)
