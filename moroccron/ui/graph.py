"""Lay out a dependency graph for drawing: layers top to bottom, parents above children.

Pure and small, so the server sends a finished SVG and the browser needs no graph
library: each job goes on the layer after its deepest parent (longest path), and the
jobs of a layer are ordered by the mean position of their parents (the barycentre
heuristic, a few sweeps), which keeps most edges short and uncrossed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from moroccron.dag import DependencyGraph

__all__ = ["Layout", "layout"]

NODE_W, NODE_H, GAP_X, GAP_Y, MARGIN = 170, 34, 24, 56, 12


@dataclass(frozen=True)
class Layout:
    nodes: dict[str, tuple[int, int]]  # name -> (x, y) of the box's top-left corner
    edges: list[tuple[str, str]]       # (parent, child)
    width: int
    height: int

    def edge_path(self, parent: str, child: str) -> str:
        """An SVG path from the bottom of the parent's box to the top of the child's."""
        (px, py), (cx, cy) = self.nodes[parent], self.nodes[child]
        x1, y1, x2, y2 = px + NODE_W // 2, py + NODE_H, cx + NODE_W // 2, cy
        mid = (y1 + y2) // 2
        return f"M{x1},{y1} C{x1},{mid} {x2},{mid} {x2},{y2}"


def layout(parents: Mapping[str, Sequence[str]]) -> Layout:
    """Place every job of ``parents`` (name -> parent names; unknown parents are ignored)."""
    names = sorted(parents)
    known = set(names)
    graph = DependencyGraph({n: [p for p in parents[n] if p in known] for n in names})
    depth: dict[str, int] = {}
    for name in graph.topological_order():  # parents first: iterative, however deep the chain
        depth[name] = 1 + max((depth[p] for p in graph.parents(name) if p in depth), default=-1)
    for name in names:  # a cycle (never stored, but be safe): put its jobs on top
        depth.setdefault(name, 0)
    layers: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for name in names:
        layers[depth[name]].append(name)
    position = {name: float(i) for layer in layers for i, name in enumerate(layer)}
    for _ in range(4):
        for layer in layers[1:]:
            def centre(n: str) -> float:
                ps = [position[p] for p in parents.get(n, ()) if p in position]
                return sum(ps) / len(ps) if ps else position[n]
            layer.sort(key=lambda n: (centre(n), n))
            for i, n in enumerate(layer):
                position[n] = float(i)
    nodes = {}
    for row, layer in enumerate(layers):
        for col, name in enumerate(layer):
            nodes[name] = (MARGIN + col * (NODE_W + GAP_X), MARGIN + row * (NODE_H + GAP_Y))
    widest = max((len(layer) for layer in layers), default=0)
    edges = [(p, n) for n in names for p in parents.get(n, ()) if p in known]
    return Layout(nodes, edges, 2 * MARGIN + max(widest * (NODE_W + GAP_X) - GAP_X, NODE_W),
                  2 * MARGIN + max(len(layers) * (NODE_H + GAP_Y) - GAP_Y, NODE_H))
