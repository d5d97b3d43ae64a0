"""Every paused attempt, kept in the order users see them and counted per step.

Each face lists paused attempts in one order (workflow, instance, run, step as defined,
iteration, attempt number) and shows counts per step. Keeping both here makes counting,
membership and listing the first rows cheap with 100,000 attempts paused.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .runtime import Attempt, Node

__all__ = ["PausedIndex", "attempt_order", "iteration_order"]


def iteration_order(iteration: str) -> tuple[int, ...]:
    """Sort key for iteration labels such as '10' or '2/1' ('' for a step outside a foreach)."""
    return tuple(int(part) for part in iteration.split("/") if part)


def attempt_order(a: Attempt) -> tuple:
    """The order attempts are shown in: workflow, instance, run, step as defined, iteration, number."""
    return (*_group_key(a), iteration_order(a.iteration), a.number)


def _group_key(a: Attempt) -> tuple:
    instance = a.instance
    return (instance.workflow, instance.instance_id, instance.run_id,
            instance.definition.position(a.node.step.id), a.node.step.id)


class _Group:
    """The paused attempts of one step of one run, sorted by (iteration, attempt number)."""

    __slots__ = ("keys", "members")

    def __init__(self) -> None:
        self.keys: list[tuple[tuple[int, ...], int]] = []
        self.members: list[Attempt] = []

    def add(self, a: Attempt) -> None:
        key = (iteration_order(a.iteration), a.number)
        at = bisect.bisect_left(self.keys, key)
        self.keys.insert(at, key)
        self.members.insert(at, a)

    def remove(self, a: Attempt) -> None:
        at = bisect.bisect_left(self.keys, (iteration_order(a.iteration), a.number))
        if at < len(self.members) and self.members[at] is a:
            del self.keys[at]
            del self.members[at]
        else:  # an attempt relabelled while paused would be found here; never expected
            at = self.members.index(a)
            del self.keys[at]
            del self.members[at]


class PausedIndex:
    """The set of paused attempts: O(1) membership and counts, listing in display order."""

    def __init__(self) -> None:
        self._members: dict[Attempt, tuple] = {}  # attempt -> its group key
        self._groups: dict[tuple, _Group] = {}
        self._per_node: dict[Node, int] = {}

    def add(self, a: Attempt) -> None:
        if a in self._members:
            return
        key = _group_key(a)
        self._members[a] = key
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group()
        group.add(a)
        self._per_node[a.node] = self._per_node.get(a.node, 0) + 1

    def discard(self, a: Attempt) -> None:
        key = self._members.pop(a, None)
        if key is None:
            return
        group = self._groups[key]
        group.remove(a)
        if not group.members:
            del self._groups[key]
        left = self._per_node[a.node] - 1
        if left:
            self._per_node[a.node] = left
        else:
            del self._per_node[a.node]

    def __contains__(self, a: object) -> bool:
        return a in self._members

    def __len__(self) -> int:
        return len(self._members)

    def __bool__(self) -> bool:
        return bool(self._members)

    def __iter__(self) -> Iterator[Attempt]:
        """Every paused attempt, in display order."""
        return self.ordered()

    def count(self, node: Node) -> int:
        """How many attempts of one node (a step in one frame) are paused."""
        return self._per_node.get(node, 0)

    def count_in(self, workflow: str, instance: int) -> int:
        """How many attempts of one instance (sub-workflows not included) are paused."""
        return sum(len(group.members) for key, group in self._groups.items()
                   if key[0] == workflow and key[1] == instance)

    def ordered(self, workflow: str | None = None, instance: int | None = None,
                step: str | None = None) -> Iterator[Attempt]:
        """Paused attempts in display order, optionally of one workflow, instance and step."""
        for key in sorted(self._groups):
            if ((workflow is not None and key[0] != workflow) or (instance is not None and key[1] != instance)
                    or (step is not None and key[4] != step)):
                continue
            yield from list(self._groups[key].members)
