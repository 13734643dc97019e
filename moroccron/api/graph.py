"""Dependencies: a job's parents, children and subtree (and what in it is waiting), and the whole graph."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse, Response

from moroccron.api.deps import AppContext, ContextDep
from moroccron.dag import DependencyGraph, SubtreeNode
from moroccron.errors import ValidationError
from moroccron.model import RunState

router = APIRouter(prefix="/api/v1", tags=["dependencies"])

FAILED = (RunState.FAILED, RunState.LOST, RunState.KILLED)


def _graph(ctx: AppContext) -> DependencyGraph:
    return DependencyGraph.from_jobs(ctx.store.all_jobs())


def _outcomes(ctx: AppContext) -> dict[str, str]:
    """Each job's last outcome: succeeded, failed, skipped, running or never."""
    out = {name: run.state.value for name, run in ctx.store.last_final_runs().items()}
    for run in ctx.store.unfinished_runs():
        out[run.job] = "running" if run.state.live else "queued"
    return out


def _waiting(ctx: AppContext, graph: DependencyGraph, root: str) -> dict[str, list[str]]:
    """For each job in ``root``'s subtree: the parents it still waits for (empty: not waiting)."""
    progress = ctx.store.get_dependency_progress()
    return {name: graph.waiting_for(name, progress) for name in graph.descendants(root)}


def _tree(node: SubtreeNode, waiting: dict[str, list[str]], outcomes: dict[str, str]) -> dict[str, Any]:
    return {
        "job": node.job,
        "owners": list(node.owners),
        "last_outcome": outcomes.get(node.job, "never"),
        "waiting_for": waiting.get(node.job, []),
        "children": [_tree(c, waiting, outcomes) for c in node.children],
    }


@router.get("/jobs/{name}/parents")
def parents(ctx: ContextDep, name: str) -> dict[str, Any]:
    job = ctx.store.get_job(name)
    progress = ctx.store.get_dependency_progress().get(name, {})
    return {
        "job": name,
        "parents": [
            {
                "job": p,
                "succeeded_since_last_run": p in progress,
                "satisfied_by": progress[p][0] if p in progress else None,
            }
            for p in job.parents
        ],
    }


@router.get("/jobs/{name}/children")
def children(ctx: ContextDep, name: str) -> dict[str, Any]:
    ctx.store.get_job(name)
    return {"job": name, "children": ctx.store.children_of(name)}


@router.get("/jobs/{name}/subtree")
def subtree(ctx: ContextDep, name: str) -> dict[str, Any]:
    """Every job that depends on ``name``, as a tree, with what each still waits for."""
    ctx.store.get_job(name)
    graph = _graph(ctx)
    waiting = _waiting(ctx, graph, name)
    tree = _tree(graph.subtree(name), waiting, _outcomes(ctx))
    return {"job": name, "tree": tree, "waiting": sorted(j for j, w in waiting.items() if w)}


@router.get("/graph", response_model=None)
def graph(ctx: ContextDep, format: str = Query("json", pattern="^(json|dot)$")) -> Response | dict[str, Any]:  # noqa: A002
    """The whole dependency graph: nodes with owners and last outcome, and parent -> child edges."""
    if format not in ("json", "dot"):
        raise ValidationError.single("format", "unknown format", format, "json | dot")
    jobs = ctx.store.all_jobs()
    g = DependencyGraph.from_jobs(jobs)
    if format == "dot":
        return PlainTextResponse(g.to_dot(), media_type="text/vnd.graphviz")
    outcomes = _outcomes(ctx)
    return {
        "nodes": [
            {
                "job": j.name,
                "owners": list(j.owners),
                "disabled": j.disabled,
                "schedule": j.schedule,
                "last_outcome": outcomes.get(j.name, "never"),
            }
            for j in sorted(jobs, key=lambda j: j.name)
        ],
        "edges": [{"parent": p, "child": j.name} for j in jobs for p in j.parents],
    }
