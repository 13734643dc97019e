"""The dependency graph of jobs: validation, children, subtrees, order.

Pure and cheap: built from ``name -> parents`` in O(jobs + edges), so the API can
rebuild it for every change and check the whole graph before anything is stored.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from moroccron.errors import DependencyError, FieldError
from moroccron.model import JobSpec

__all__ = ["DependencyGraph", "SubtreeNode", "validate_graph"]


@dataclass(frozen=True, slots=True)
class SubtreeNode:
    """One job in a subtree, with its owners and the jobs that depend on it."""

    job: str
    owners: tuple[str, ...] = ()
    children: tuple[SubtreeNode, ...] = field(default=())

    def names(self) -> list[str]:
        """Every job in this subtree below the root, breadth first, each once."""
        seen: list[str] = []
        queue = deque(self.children)
        while queue:
            node = queue.popleft()
            if node.job not in seen:
                seen.append(node.job)
                queue.extend(node.children)
        return seen

    def to_dict(self) -> dict[str, Any]:
        return {"job": self.job, "owners": list(self.owners), "children": [c.to_dict() for c in self.children]}

    def render(self, indent: str = "") -> str:
        """A plain-text tree for notifications and the CLI."""
        lines = []
        for i, child in enumerate(self.children):
            last = i == len(self.children) - 1
            owners = f"  (owners: {', '.join(child.owners)})" if child.owners else ""
            lines.append(f"{indent}{'└── ' if last else '├── '}{child.job}{owners}")
            sub = child.render(indent + ("    " if last else "│   "))
            if sub:
                lines.append(sub)
        return "\n".join(lines)


class DependencyGraph:
    """Parents and children of every job.

    ``parents`` maps each job to the jobs it waits for. Built unchecked; call
    :meth:`validate` (or use :func:`validate_graph`) before trusting it.
    """

    def __init__(self, parents: Mapping[str, Iterable[str]], owners: Mapping[str, Iterable[str]] | None = None):
        self._parents: dict[str, tuple[str, ...]] = {name: tuple(ps) for name, ps in parents.items()}
        self._owners: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in (owners or {}).items()}
        self._children: dict[str, list[str]] = {name: [] for name in self._parents}
        for name, ps in self._parents.items():
            for p in ps:
                self._children.setdefault(p, []).append(name)
        for kids in self._children.values():
            kids.sort()

    @classmethod
    def from_jobs(cls, jobs: Iterable[JobSpec]) -> DependencyGraph:
        jobs = list(jobs)
        return cls({j.name: j.parents for j in jobs}, {j.name: j.owners for j in jobs})

    def __contains__(self, name: str) -> bool:
        return name in self._parents

    def parents(self, name: str) -> tuple[str, ...]:
        return self._parents.get(name, ())

    def children(self, name: str) -> list[str]:
        """Jobs that name ``name`` as a parent, sorted."""
        return list(self._children.get(name, ()))

    def descendants(self, name: str) -> list[str]:
        """Every transitive child of ``name``, breadth first, each once."""
        seen: dict[str, None] = {}
        queue = deque(self._children.get(name, ()))
        while queue:
            n = queue.popleft()
            if n not in seen and n != name:
                seen[n] = None
                queue.extend(self._children.get(n, ()))
        return list(seen)

    def ancestors(self, name: str) -> list[str]:
        seen: dict[str, None] = {}
        queue = deque(self._parents.get(name, ()))
        while queue:
            n = queue.popleft()
            if n not in seen and n != name:
                seen[n] = None
                queue.extend(self._parents.get(n, ()))
        return list(seen)

    def waiting_for(self, name: str, progress: Mapping[str, Mapping[str, object]]) -> list[str]:
        """The parents ``name`` still waits for: those that have not succeeded since its last
        run. ``progress`` is the store's dependency progress (job -> parents satisfied)."""
        done = progress.get(name, {})
        return [p for p in self.parents(name) if p not in done]

    def held_by_failures(
        self, failed: Iterable[str], progress: Mapping[str, Mapping[str, object]], within: Collection[str]
    ) -> set[str]:
        """The jobs of ``within`` that wait on a failure: a transitive child of a job in
        ``failed`` that still waits for one of its parents."""
        waiting: set[str] = set()
        for name in failed:
            for child in self.descendants(name):
                if child in within and child not in waiting and self.waiting_for(child, progress):
                    waiting.add(child)
        return waiting

    def subtree(self, name: str) -> SubtreeNode:
        """``name`` and its transitive children as a tree with owners.

        A job reachable by two paths (a diamond) appears under each parent, as a
        reader of a failure message expects, but its own subtree is built once.
        """
        memo: dict[str, SubtreeNode] = {}

        def build(n: str, path: frozenset[str]) -> SubtreeNode:
            if n in memo:
                return memo[n]
            kids = tuple(build(c, path | {n}) for c in self._children.get(n, ()) if c not in path)
            node = SubtreeNode(n, self._owners.get(n, ()), kids)
            memo[n] = node
            return node

        return build(name, frozenset())

    def missing_parents(self) -> list[FieldError]:
        errors = []
        for name in sorted(self._parents):
            for i, p in enumerate(self._parents[name]):
                if p == name:
                    errors.append(
                        FieldError(
                            f"{name}.parents[{i}]",
                            f"job {name!r} cannot be its own parent",
                            p,
                            "names of other existing jobs",
                        )
                    )
                elif p not in self._parents:
                    errors.append(
                        FieldError(
                            f"{name}.parents[{i}]",
                            f"parent job {p!r} of {name!r} does not exist",
                            p,
                            "names of existing jobs",
                        )
                    )
        return errors

    def find_cycle(self) -> list[str] | None:
        """A cycle as ``[a, b, c, a]``, or None. Iterative: deep chains must not hit the recursion limit."""
        white, grey, black = 0, 1, 2
        colour = dict.fromkeys(self._parents, white)
        for root in sorted(self._parents):
            if colour[root] != white:
                continue
            stack: list[tuple[str, int]] = [(root, 0)]
            path: list[str] = []
            while stack:
                node, idx = stack.pop()
                if idx == 0:
                    colour[node] = grey
                    path.append(node)
                kids = [p for p in self._parents.get(node, ()) if p in colour]
                if idx < len(kids):
                    stack.append((node, idx + 1))
                    nxt = kids[idx]
                    if colour[nxt] == grey:
                        cycle = path[path.index(nxt) :] + [nxt]
                        # path follows parent edges; show it in run order (parent -> child)
                        return list(reversed(cycle))
                    if colour[nxt] == white:
                        stack.append((nxt, 0))
                else:
                    colour[node] = black
                    path.pop()
        return None

    def validate(self) -> None:
        """Raise :class:`DependencyError` for missing parents, self-parents or a cycle."""
        errors = self.missing_parents()
        if errors:
            raise DependencyError(errors)
        self.check_acyclic()

    def check_acyclic(self) -> None:
        """Raise :class:`DependencyError` naming a cycle, if there is one."""
        cycle = self.find_cycle()
        if cycle:
            raise DependencyError(
                FieldError(
                    f"{cycle[0]}.parents",
                    "dependency cycle: " + " -> ".join(cycle),
                    cycle,
                    "an acyclic graph: remove one of these parent links",
                )
            )

    def topological_order(self) -> list[str]:
        """Parents before children (Kahn's algorithm; ties in name order)."""
        indeg = {n: sum(1 for p in ps if p in self._parents) for n, ps in self._parents.items()}
        ready = deque(sorted(n for n, d in indeg.items() if d == 0))
        out = []
        while ready:
            n = ready.popleft()
            out.append(n)
            for c in self._children.get(n, ()):
                if c in indeg:
                    indeg[c] -= 1
                    if indeg[c] == 0:
                        ready.append(c)
        return out

    def to_dot(self) -> str:
        lines = ["digraph moroccron {"]
        for name in sorted(self._parents):
            lines.append(f'  "{_dot(name)}";')
        for name in sorted(self._parents):
            for p in self._parents[name]:
                lines.append(f'  "{_dot(p)}" -> "{_dot(name)}";')
        lines.append("}")
        return "\n".join(lines) + "\n"


def _dot(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')


def validate_graph(jobs: Iterable[JobSpec]) -> DependencyGraph:
    """Build the graph of ``jobs`` and validate it; return it for further use."""
    graph = DependencyGraph.from_jobs(jobs)
    graph.validate()
    return graph
