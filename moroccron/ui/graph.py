"""Lay out a dependency graph for drawing: layers top to bottom, parents above children,
each group of connected jobs kept together, the whole within a given width.

Pure and small, so the server sends a finished SVG and the browser needs no graph
library:

- the jobs split into groups that share no edge (connected components: a root and
  its subtree, or a few trees joined by a common child). A group is drawn as one
  block, never spread among other groups' jobs;
- inside a block each job goes on the layer after its deepest parent (longest path),
  so every parent is above its children. A layer starts in depth-first order from the
  roots, which keeps each subtree contiguous, and is then ordered by the mean position
  of the parents (the barycentre heuristic, a few sweeps), which keeps edges short;
- a layer wider than the width allows is wrapped onto several rows, still below its
  parents and above its children;
- blocks are packed onto shelves, left to right, a new shelf when the width is full:
  fifty roots make several rows of subtrees, not one row fifty boxes wide. Groups
  with a job named in ``first`` (the failed ones) come first, so they are in view.

No two boxes overlap: rows of a block are ``NODE_H + GAP_Y`` apart, boxes of a row
``NODE_W + GAP_X``, blocks ``GROUP_GAP`` apart on a shelf and shelves ``GAP_Y``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from moroccron.dag import DependencyGraph

__all__ = ["MAX_WIDTH", "Layout", "layout"]

NODE_W, NODE_H, GAP_X, GAP_Y, MARGIN = 160, 34, 16, 48, 12
GROUP_GAP = 28  # between two blocks on a shelf
GROUP_PAD = 6  # a block's frame around its boxes
MAX_WIDTH = 1200  # px: inside a 1280 px window with the page's margins, so no scrolling sideways
SWEEPS = 4


@dataclass(frozen=True)
class Layout:
    nodes: dict[str, tuple[int, int]]  # name -> (x, y) of the box's top-left corner
    edges: list[tuple[str, str]]  # (parent, child)
    width: int
    height: int
    groups: list[tuple[int, int, int, int]]  # (x, y, width, height) of each block's frame

    def edge_path(self, parent: str, child: str) -> str:
        """An SVG path from the bottom of the parent's box to the top of the child's."""
        (px, py), (cx, cy) = self.nodes[parent], self.nodes[child]
        x1, y1, x2, y2 = px + NODE_W // 2, py + NODE_H, cx + NODE_W // 2, cy
        mid = (y1 + y2) // 2
        return f"M{x1},{y1} C{x1},{mid} {x2},{mid} {x2},{y2}"


def layout(parents: Mapping[str, Sequence[str]], *, max_width: int = MAX_WIDTH, first: Collection[str] = ()) -> Layout:
    """Place every job of ``parents`` (name -> parent names; unknown parents are ignored)
    within ``max_width`` pixels (at least one box wide); the groups holding a job of
    ``first`` are placed first (top left)."""
    names = sorted(parents)
    known = set(names)
    edges_of = {n: [p for p in parents[n] if p in known] for n in names}
    graph = DependencyGraph(edges_of)
    depth = _depths(graph, names)
    step = NODE_W + GAP_X
    usable = max(max_width - 2 * MARGIN, NODE_W)
    cols = max(1, (usable + GAP_X) // step)
    blocks = [_block(graph, group, depth, cols) for group in _groups(graph, names, set(first))]

    nodes: dict[str, tuple[int, int]] = {}
    frames: list[tuple[int, int, int, int]] = []
    x = y = shelf_h = right = 0
    for block_w, block_h, places in blocks:
        if x > 0 and x + block_w > usable:  # this shelf is full: start the next one below it
            x, y, shelf_h = 0, y + shelf_h + GAP_Y, 0
        for name, (bx, by) in places.items():
            nodes[name] = (MARGIN + x + bx, MARGIN + y + by)
        frames.append(
            (MARGIN + x - GROUP_PAD, MARGIN + y - GROUP_PAD, block_w + 2 * GROUP_PAD, block_h + 2 * GROUP_PAD)
        )
        right = max(right, x + block_w)
        shelf_h = max(shelf_h, block_h)
        x += block_w + GROUP_GAP
    edges = [(p, n) for n in names for p in edges_of[n]]
    return Layout(nodes, edges, 2 * MARGIN + max(right, NODE_W), 2 * MARGIN + max(y + shelf_h, NODE_H), frames)


def _depths(graph: DependencyGraph, names: list[str]) -> dict[str, int]:
    depth: dict[str, int] = {}
    for name in graph.topological_order():  # parents first: iterative, however deep the chain
        depth[name] = 1 + max((depth[p] for p in graph.parents(name) if p in depth), default=-1)
    for name in names:  # a cycle (never stored, but be safe): put its jobs on top
        depth.setdefault(name, 0)
    return depth


def _groups(graph: DependencyGraph, names: list[str], first: set[str]) -> list[list[str]]:
    """The connected groups of jobs: those holding a job of ``first`` first, then the
    largest, then by their first name. Each group's names come sorted."""
    seen: set[str] = set()
    groups: list[list[str]] = []
    for start in names:
        if start in seen:
            continue
        seen.add(start)
        group, stack = [], [start]
        while stack:  # iterative: a chain of thousands of jobs is no recursion limit
            name = stack.pop()
            group.append(name)
            for other in (*graph.parents(name), *graph.children(name)):
                if other not in seen:
                    seen.add(other)
                    stack.append(other)
        groups.append(sorted(group))
    groups.sort(key=lambda g: (not first.intersection(g), -len(g), g[0]))
    return groups


def _block(
    graph: DependencyGraph, group: list[str], depth: dict[str, int], cols: int
) -> tuple[int, int, dict[str, tuple[int, int]]]:
    """One group's boxes relative to its block's top-left corner: (width, height, places)."""
    members = set(group)
    top = min(depth[n] for n in group)
    layers: list[list[str]] = [[] for _ in range(max(depth[n] for n in group) - top + 1)]
    order: dict[str, float] = {}
    # Depth-first from the roots, children by name: each subtree's jobs come together.
    stack = [n for n in reversed(group) if depth[n] == top or not any(p in members for p in graph.parents(n))]
    while stack:
        name = stack.pop()
        if name in order:
            continue
        order[name] = float(len(order))
        stack.extend(sorted((c for c in graph.children(name) if c in members and c not in order), reverse=True))
    for name in group:
        order.setdefault(name, float(len(order)))
        layers[depth[name] - top].append(name)
    for layer in layers:
        layer.sort(key=lambda n: order[n])
        for i, n in enumerate(layer):
            order[n] = float(i)
    for _ in range(SWEEPS):
        for layer in layers[1:]:

            def centre(n: str) -> float:
                ps = [order[p] for p in graph.parents(n) if p in members]
                return sum(ps) / len(ps) if ps else order[n]

            layer.sort(key=lambda n: (centre(n), order[n]))
            for i, n in enumerate(layer):
                order[n] = float(i)
    step = NODE_W + GAP_X
    widest = min(cols, max(len(layer) for layer in layers))
    width = widest * step - GAP_X
    places: dict[str, tuple[int, int]] = {}
    row = 0
    for layer in layers:
        # A layer too wide for the page wraps onto rows of about equal length (19 boxes at 6 a
        # row make rows of 5, 5, 5 and 4, not 6, 6, 6 and 1).
        per_row = -(-len(layer) // -(-len(layer) // cols))
        for start in range(0, len(layer), per_row):
            chunk = layer[start : start + per_row]
            offset = (width - (len(chunk) * step - GAP_X)) // 2
            for i, name in enumerate(chunk):
                places[name] = (offset + i * step, row * (NODE_H + GAP_Y))
            row += 1
    return width, row * (NODE_H + GAP_Y) - GAP_Y, places
