"""The dependency graph page: a job's subtree, or every job with dependencies, drawn with
:mod:`moroccron.ui.graph`, with the jobs that wait on a failure marked."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from moroccron.dag import DependencyGraph
from moroccron.errors import NotFound
from moroccron.ui.graph import NODE_H, NODE_W, layout
from moroccron.ui.pages import Page, PageRoute, outcome

__all__ = ["router"]

router = APIRouter(include_in_schema=False, route_class=PageRoute)
GRAPH_LIMIT = 500


@router.get("/graph")
def graph_page(request: Request) -> HTMLResponse:
    page = Page(request)
    ctx = page.ctx
    root = request.query_params.get("job") or None
    parents = ctx.store.parent_map()  # names and edges only: no spec decoded
    graph = DependencyGraph(parents)
    if root is not None:
        if root not in graph:
            raise NotFound(f"job {root!r} not found")
        names = {root, *graph.descendants(root)}
        note = f"{root} and the {len(names) - 1} jobs that depend on it"
    else:
        names = {n for n in parents if parents[n] or graph.children(n)}
        note = f"{len(names)} jobs with dependencies (jobs that stand alone are left out)"
    truncated = len(names) > GRAPH_LIMIT
    if truncated:
        names = set(sorted(names)[:GRAPH_LIMIT])
        note += f"; the first {GRAPH_LIMIT} by name are drawn: pick a job to see its whole subtree"
    # A subtree can wait on a failure above its root: look at the root's ancestors too.
    sources = names | set(graph.ancestors(root)) if root is not None else names
    newest = ctx.store.job_overview(sorted(sources))  # only these jobs' newest runs
    outcomes = {n: outcome(run) for n, (_, run) in newest.items()}
    failed = sorted(n for n in sources if outcomes.get(n) == "failed")
    progress = ctx.store.get_dependency_progress()  # once, not once per failed job
    waiting = graph.held_by_failures(failed, progress, names)
    lay = layout({n: graph.parents(n) for n in names}, first=set(failed) | waiting)
    nodes = [
        {
            "name": n,
            "x": x,
            "y": y,
            "cls": _node_class(outcomes.get(n, "never")),
            "waiting": n in waiting,
            "label": n if len(n) <= 21 else n[:20] + "…",
        }
        for n, (x, y) in lay.nodes.items()
    ]
    edges = [{"d": lay.edge_path(p, c), "waiting": c in waiting} for p, c in lay.edges]
    return page.render(
        "graph.html",
        nodes=nodes,
        edges=edges,
        width=lay.width,
        height=lay.height,
        root=root,
        groups=lay.groups,
        note=note,
        node_w=NODE_W,
        node_h=NODE_H,
        waiting=sorted(waiting),
        failed=failed,
    )


def _node_class(state: str) -> str:
    return {"succeeded": "succeeded", "failed": "failed", "running": "running", "queued": "running"}.get(state, "never")
