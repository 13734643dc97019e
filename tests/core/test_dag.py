import pytest

from moroccron import Job
from moroccron.dag import DependencyGraph, validate_graph
from moroccron.errors import DependencyError


def jobs(**parents):
    return [Job(name=n, command="x", parents=ps, owners=[f"{n}@x"]) for n, ps in parents.items()]


def test_cycle_is_named():
    with pytest.raises(DependencyError) as info:
        validate_graph(jobs(a=["c"], b=["a"], c=["b"], d=[]))
    msg = str(info.value)
    assert "dependency cycle" in msg
    cycle = info.value.errors[0].value
    assert cycle[0] == cycle[-1] and set(cycle) == {"a", "b", "c"}
    # each link in the reported cycle is a real parent -> child edge
    graph = DependencyGraph({"a": ["c"], "b": ["a"], "c": ["b"]})
    for parent, child in zip(cycle, cycle[1:], strict=False):
        assert parent in graph.parents(child)


def test_missing_parent_is_named():
    with pytest.raises(DependencyError) as info:
        validate_graph(jobs(a=[], b=["a", "ghost"]))
    err = info.value.errors[0]
    assert err.value == "ghost"
    assert "ghost" in err.message and "'b'" in err.message


def test_self_parent_in_graph():
    graph = DependencyGraph({"a": ["a"]})
    with pytest.raises(DependencyError, match="own parent"):
        graph.validate()


def test_diamond_subtree_and_order():
    graph = validate_graph(jobs(a=[], b=["a"], c=["a"], d=["b", "c"], e=[]))
    assert graph.children("a") == ["b", "c"]
    assert graph.descendants("a") == ["b", "c", "d"]
    assert graph.ancestors("d") == ["b", "c", "a"]
    tree = graph.subtree("b")
    assert tree.job == "b" and [c.job for c in tree.children] == ["d"]
    assert tree.children[0].owners == ("d@x",)
    assert graph.subtree("a").names() == ["b", "c", "d"]
    order = graph.topological_order()
    assert order.index("a") < order.index("b") < order.index("d")
    assert order.index("c") < order.index("d")
    assert "└── d  (owners: d@x)" in graph.subtree("b").render()


def test_deep_chain_does_not_recurse():
    n = 5000
    parents = {f"j{i}": [f"j{i - 1}"] if i else [] for i in range(n)}
    graph = DependencyGraph(parents)
    graph.validate()
    assert len(graph.descendants("j0")) == n - 1
    parents["j0"] = [f"j{n - 1}"]
    assert len(DependencyGraph(parents).find_cycle()) == n + 1


def test_dot_output():
    dot = validate_graph(jobs(a=[], b=["a"])).to_dot()
    assert '"a" -> "b";' in dot and dot.startswith("digraph")


def test_waiting_for_and_jobs_held_by_a_failure():
    # a -> b -> d, c -> d; b has seen a succeed, d has seen b but not c
    graph = DependencyGraph({"a": [], "b": ["a"], "c": [], "d": ["b", "c"], "e": ["a"]})
    progress = {"b": {"a": ("a-1", 1)}, "d": {"b": ("b-1", 2)}}
    assert graph.waiting_for("b", progress) == []
    assert graph.waiting_for("d", progress) == ["c"]
    assert graph.waiting_for("e", progress) == ["a"]
    assert graph.waiting_for("a", progress) == []
    # c failed: d waits on it; a failed: e waits, b does not (a succeeded before), d waits (for c)
    assert graph.held_by_failures(["c"], progress, {"a", "b", "c", "d", "e"}) == {"d"}
    assert graph.held_by_failures(["a"], progress, {"a", "b", "c", "d", "e"}) == {"d", "e"}
    # only jobs within the drawn set count
    assert graph.held_by_failures(["a"], progress, {"a", "b", "e"}) == {"e"}
    assert graph.held_by_failures([], progress, {"a", "b", "c", "d", "e"}) == set()
