"""The directed graph behind step DAGs and sub-workflow calls: order, reach, cycles, layers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maestro_nb.models.graph import DiGraph


def graph(edges: list[tuple[str, str]], nodes: str = "") -> DiGraph[str]:
    dag: DiGraph[str] = DiGraph()
    for node in nodes:
        dag.add_node(node)
    dag.add_edges(edges)
    return dag


def test_nodes_and_edges_keep_insertion_order_and_each_edge_once() -> None:
    dag = graph([("c", "a"), ("b", "a"), ("c", "d"), ("c", "a")], nodes="bc")
    assert dag.nodes == ("b", "c", "a", "d")
    assert dag.edges == (("b", "a"), ("c", "a"), ("c", "d"))
    assert dag.successors("c") == ("a", "d")
    assert dag.predecessors("a") == ("c", "b")
    assert dag.successors("a") == () and dag.predecessors("b") == ()
    assert "d" in dag and "e" not in dag and len(dag) == 4
    assert not DiGraph()


def test_descendants_are_everything_downstream_and_never_the_node_itself() -> None:
    dag = graph([("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("d", "e")], nodes="x")
    assert dag.descendants("a") == {"b", "c", "d", "e"}
    assert dag.descendants("c") == {"d", "e"}
    assert dag.descendants("e") == set() and dag.descendants("x") == set()
    assert graph([("a", "b"), ("b", "a")]).descendants("a") == {"b"}
    with pytest.raises(KeyError):
        dag.descendants("missing")


def test_no_cycle_in_a_dag() -> None:
    assert graph([("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")]).find_cycle() is None
    assert graph([], nodes="abc").find_cycle() is None


def test_the_cycle_comes_as_its_edges_from_where_it_closes() -> None:
    assert graph([("a", "b"), ("b", "c"), ("c", "b")]).find_cycle() == [("b", "c"), ("c", "b")]
    assert graph([("w", "w")]).find_cycle() == [("w", "w")]


def test_the_first_cycle_met_in_insertion_order_is_the_one_named() -> None:
    two = graph([("x", "y"), ("y", "x"), ("a", "b"), ("b", "a")], nodes="ab")
    assert two.find_cycle() == [("a", "b"), ("b", "a")]
    # successors are tried in the order their edges were added
    branches = graph([("s", "p"), ("s", "q"), ("q", "s"), ("p", "s")])
    assert branches.find_cycle() == [("s", "p"), ("p", "s")]


def test_a_cycle_from_a_source_is_one_the_source_reaches() -> None:
    dag = graph([("a", "b"), ("b", "a"), ("c", "d"), ("d", "e"), ("e", "d")])
    assert dag.find_cycle("c") == [("d", "e"), ("e", "d")]
    assert dag.find_cycle("e") == [("e", "d"), ("d", "e")]
    assert graph([("a", "b"), ("c", "c")]).find_cycle("a") is None
    assert dag.find_cycle("missing") is None


def test_topological_generations_in_layers_in_readiness_order() -> None:
    dag = graph([("b", "d"), ("a", "c"), ("c", "d"), ("a", "e")], nodes="ab")
    assert dag.topological_generations() == [["a", "b"], ["c", "e"], ["d"]]
    assert graph([], nodes="zy").topological_generations() == [["z", "y"]]
    assert DiGraph().topological_generations() == []
    with pytest.raises(ValueError, match="cycle"):
        graph([("a", "b"), ("b", "c"), ("c", "b")]).topological_generations()


@st.composite
def dags(draw: st.DrawFn) -> tuple[int, list[tuple[int, int]]]:
    """A graph on nodes 0..n-1 whose edges all point from a lower number to a higher one."""
    n = draw(st.integers(1, 12))
    pairs = st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(lambda p: p[0] < p[1])
    return n, draw(st.lists(pairs, max_size=30))


@given(dags())
def test_a_dag_has_layers_respecting_every_edge_and_no_cycle(dag_spec: tuple[int, list[tuple[int, int]]]) -> None:
    n, edges = dag_spec
    dag: DiGraph[int] = DiGraph()
    for node in range(n):
        dag.add_node(node)
    dag.add_edges(edges)
    assert dag.find_cycle() is None
    layers = dag.topological_generations()
    layer_of = {node: depth for depth, layer in enumerate(layers) for node in layer}
    assert sorted(layer_of) == list(range(n))
    assert all(layer_of[tail] < layer_of[head] for tail, head in edges)
    for node in range(n):  # reach agrees with the edges' transitive closure
        reach = {head for tail, head in edges if tail == node}
        for _ in range(n):
            reach |= {head for tail, head in edges if tail in reach}
        assert dag.descendants(node) == reach


@given(dags(), st.data())
def test_a_back_edge_makes_a_closed_cycle_of_real_edges(dag_spec: tuple[int, list[tuple[int, int]]],
                                                        data: st.DataObject) -> None:
    n, edges = dag_spec
    tail, head = data.draw(st.sampled_from(edges)) if edges else (0, 0)
    dag: DiGraph[int] = DiGraph()
    dag.add_edges(edges + [(head, tail)])
    cycle = dag.find_cycle()
    assert cycle
    assert all(edge in dag.edges for edge in cycle)
    assert all(cycle[k][1] == cycle[(k + 1) % len(cycle)][0] for k in range(len(cycle)))
    assert len({edge[0] for edge in cycle}) == len(cycle)  # a simple cycle: no node twice
