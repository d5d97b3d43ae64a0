"""A small directed graph: the steps of one DAG level, or workflows and the ones they call.

Nodes and each node's successors keep insertion order, so every walk (and so every cycle
found, every generation) follows definition order and comes out the same on every run.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

__all__ = ["DiGraph"]

Node = TypeVar("Node", bound=Hashable)
_END = object()  # a walk has no more successors to try


class DiGraph(Generic[Node]):
    """Nodes in insertion order and directed edges between them (each edge at most once)."""

    def __init__(self) -> None:
        self._successors: dict[Node, dict[Node, None]] = {}
        self._predecessors: dict[Node, dict[Node, None]] = {}

    def add_node(self, node: Node) -> None:
        """Add `node` (no change if it is there already)."""
        if node not in self._successors:
            self._successors[node] = {}
            self._predecessors[node] = {}

    def add_edge(self, tail: Node, head: Node) -> None:
        """Add the edge `tail` -> `head`, and either node that is not there yet."""
        self.add_node(tail)
        self.add_node(head)
        self._successors[tail][head] = None
        self._predecessors[head][tail] = None

    def add_edges(self, edges: Iterable[tuple[Node, Node]]) -> None:
        """Add each (tail, head) edge in turn."""
        for tail, head in edges:
            self.add_edge(tail, head)

    @property
    def nodes(self) -> tuple[Node, ...]:
        """Every node, in insertion order."""
        return tuple(self._successors)

    @property
    def edges(self) -> tuple[tuple[Node, Node], ...]:
        """Every edge as (tail, head), by tail in node order, then in insertion order."""
        return tuple((tail, head) for tail, heads in self._successors.items() for head in heads)

    def __contains__(self, node: object) -> bool:
        return node in self._successors

    def __len__(self) -> int:
        return len(self._successors)

    def successors(self, node: Node) -> tuple[Node, ...]:
        """The heads of the edges out of `node`, in insertion order."""
        return tuple(self._successors[node])

    def predecessors(self, node: Node) -> tuple[Node, ...]:
        """The tails of the edges into `node`, in insertion order."""
        return tuple(self._predecessors[node])

    def descendants(self, node: Node) -> set[Node]:
        """Every node reachable from `node` by one edge or more, `node` itself excluded."""
        found: set[Node] = {node}
        stack = list(self._successors[node])
        while stack:
            current = stack.pop()
            if current not in found:
                found.add(current)
                stack.extend(self._successors[current])
        found.discard(node)
        return found

    def find_cycle(self, source: Node | None = None) -> list[tuple[Node, Node]] | None:
        """The first cycle a depth-first walk meets (from `source` only, if given; else from every
        node in order), as its edges from the node where it closes; None when there is none."""
        starts = list(self._successors) if source is None else [source] if source in self else []
        done: set[Node] = set()  # nodes whose every descendant has been walked
        for start in starts:
            if start in done:
                continue
            path = {start: None}  # the walk's current path, in order (a dict: membership is O(1))
            successors = [iter(self._successors[start])]  # where each node on it has got to
            while path:
                head = next(successors[-1], _END)
                if head is _END:
                    done.add(path.popitem()[0])
                    successors.pop()
                elif head in path:
                    walked = list(path)
                    closing = walked[walked.index(head):] + [head]
                    return list(zip(closing, closing[1:]))
                elif head not in done:
                    path[head] = None
                    successors.append(iter(self._successors[head]))
        return None

    def topological_generations(self) -> list[list[Node]]:
        """The nodes in layers: the first has no predecessors, each next one only predecessors in
        the layers above; a layer keeps the order its nodes became ready in. ValueError on a cycle."""
        waiting = {node: len(before) for node, before in self._predecessors.items() if before}
        layer = [node for node, before in self._predecessors.items() if not before]
        layers = []
        while layer:
            layers.append(layer)
            ready = []
            for node in layer:
                for head in self._successors[node]:
                    waiting[head] -= 1
                    if not waiting[head]:
                        del waiting[head]
                        ready.append(head)
            layer = ready
        if waiting:
            raise ValueError("the graph has a cycle: it has no topological order")
        return layers
