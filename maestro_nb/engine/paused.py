"""Every paused attempt, kept in the order users see them and counted per step.

Each face lists paused attempts in one order (workflow, instance, run, step as defined,
iteration, attempt number) and shows counts per step. Keeping both here makes counting,
membership and listing the first rows cheap with 100,000 attempts paused.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

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

    __slots__ = ("keys", "members", "changes", "holes")

    def __init__(self) -> None:
        self.keys: list[tuple[tuple[int, ...], int]] = []
        self.members: list[Attempt | None] = []  # None: removed during a batch, until `compact`
        self.changes = 0  # counts adds and removes, so that a walk can tell it must find its place again
        self.holes: list[int] = []  # positions of the members that are None

    @property
    def size(self) -> int:
        return len(self.members) - len(self.holes)

    def add(self, a: Attempt) -> None:
        self.compact()
        key = (iteration_order(a.iteration), a.number)
        at = bisect.bisect_left(self.keys, key)
        self.keys.insert(at, key)
        self.members.insert(at, a)
        self.changes += 1

    def remove(self, a: Attempt, later: bool = False) -> None:
        """Remove `a`; `later`: leave a hole, so that removing many costs one compaction, not a
        move of the rest of the list each."""
        at = bisect.bisect_left(self.keys, (iteration_order(a.iteration), a.number))
        if not (at < len(self.members) and self.members[at] is a):
            at = self.members.index(a)  # an attempt relabelled while paused would be found here; never expected
        if later and at < len(self.members) - 1:
            self.members[at] = None
            self.holes.append(at)
        else:
            del self.keys[at]
            del self.members[at]
        self.changes += 1

    def compact(self) -> None:
        """Close the holes `remove(later=True)` left."""
        if not self.holes:
            return
        if len(self.holes) <= 16:  # a few: deleted from the back, so that the others stay put
            for at in sorted(self.holes, reverse=True):
                del self.keys[at]
                del self.members[at]
        else:
            kept = [(key, a) for key, a in zip(self.keys, self.members) if a is not None]
            self.keys = [key for key, _ in kept]
            self.members = [a for _, a in kept]
        self.holes = []
        self.changes += 1  # positions moved: a walk finds its place again by key

    def __iter__(self) -> Iterator[Attempt]:
        """The members in order, without copying them: when the group changes during the walk
        (the caller resumes what it is given), the walk goes on after the last key it gave, so
        every attempt still paused there is given once."""
        seen, at = self.changes, 0
        while at < len(self.members):
            a, key = self.members[at], self.keys[at]
            if a is not None:
                yield a
            if self.changes != seen:
                seen = self.changes
                at = bisect.bisect_right(self.keys, key)
            else:
                at += 1


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


class PausedIndex:
    """The set of paused attempts: O(1) membership and counts, listing in display order, and
    finding attempts by iteration or loop param without a scan."""

    def __init__(self) -> None:
        self._members: dict[Attempt, tuple] = {}  # attempt -> its group key
        self._groups: dict[tuple, _Group] = {}
        self._per_node: dict[Node, int] = {}
        # (loop param name, value) -> attempts; values that cannot be hashed are left out and
        # found by a scan (`_unindexed` counts them per name)
        self._by_param: dict[tuple[str, Any], set[Attempt]] = {}
        self._unindexed: dict[str, int] = {}
        self._names: dict[str, int] = {}  # loop param name -> how many paused attempts have it
        self._by_iteration: dict[str, set[Attempt]] = {}
        self._errors: dict[tuple[str, int], int] = {}  # attempts paused at their error, per instance
        self._at_error: set[Attempt] = set()
        self._batches = 0  # open `batch()` contexts
        self._holed: set[_Group] = set()  # groups with holes to close when the last batch ends

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Within it, discarding many attempts of one step costs one pass over the step's list
        when the batch ends (one by one, each removal from a long list moves the rest of it)."""
        self._batches += 1
        try:
            yield
        finally:
            self._batches -= 1
            if not self._batches:
                for group in self._holed:
                    group.compact()
                self._holed.clear()

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
        self._by_iteration.setdefault(a.iteration, set()).add(a)
        if a.pause_point == "error":
            self._at_error.add(a)
            self._errors[key[:2]] = self._errors.get(key[:2], 0) + 1
        for name, value in a.loop_params.items():
            self._names[name] = self._names.get(name, 0) + 1
            if _hashable(value):
                self._by_param.setdefault((name, value), set()).add(a)
            else:
                self._unindexed[name] = self._unindexed.get(name, 0) + 1

    def discard(self, a: Attempt) -> None:
        key = self._members.pop(a, None)
        if key is None:
            return
        group = self._groups[key]
        group.remove(a, later=self._batches > 0)
        if group.holes:
            self._holed.add(group)
        if not group.size:
            del self._groups[key]
        left = self._per_node[a.node] - 1
        if left:
            self._per_node[a.node] = left
        else:
            del self._per_node[a.node]
        _drop(self._by_iteration, a.iteration, a)
        if a in self._at_error:
            self._at_error.discard(a)
            left = self._errors.get(key[:2], 0) - 1
            if left > 0:
                self._errors[key[:2]] = left
            else:
                self._errors.pop(key[:2], None)
        for name, value in a.loop_params.items():
            _decrement(self._names, name)
            if _hashable(value):
                _drop(self._by_param, (name, value), a)
            else:
                _decrement(self._unindexed, name)

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
        return sum(group.size for key, group in self._groups.items()
                   if key[0] == workflow and key[1] == instance)

    def errors_in(self, workflow: str, instance: int) -> int:
        """How many attempts of one instance are paused at their error."""
        return self._errors.get((workflow, instance), 0)

    def loop_param_names(self) -> set[str]:
        """The loop param names some paused attempt has."""
        return set(self._names)

    def _keys(self, workflow: str | None, instance: int | None, step: str | None) -> list[tuple]:
        return [key for key in sorted(self._groups)
                if not ((workflow is not None and key[0] != workflow) or (instance is not None and key[1] != instance)
                        or (step is not None and key[4] != step))]

    def ordered(self, workflow: str | None = None, instance: int | None = None,
                step: str | None = None) -> Iterator[Attempt]:
        """Paused attempts in display order, optionally of one workflow, instance and step."""
        for key in self._keys(workflow, instance, step):
            group = self._groups.get(key)
            if group is not None:  # emptied by what the caller did during the walk
                yield from group

    def listed(self, workflow: str | None = None, instance: int | None = None,
               step: str | None = None) -> list[Attempt]:
        """The same attempts as `ordered`, as a list taken now (a whole step at a time)."""
        found: list[Attempt] = []
        for key in self._keys(workflow, instance, step):
            group = self._groups[key]
            group.compact()
            found.extend(group.members)
        return found

    def ordered_in(self, instances: Iterable[tuple[str, int]]) -> Iterator[Attempt]:
        """Paused attempts of several instances (by workflow and instance id), in display order."""
        wanted = set(instances)
        for key in sorted(k for k in self._groups if (k[0], k[1]) in wanted):
            group = self._groups.get(key)
            if group is not None:
                yield from group

    def first_at_error_in(self, instances: Iterable[tuple[str, int]]) -> Attempt | None:
        """The first paused attempt of these instances that is paused at its error (display order)."""
        wanted = set(instances)
        found = [a for a in self._at_error if self._members[a][:2] in wanted]
        return min(found, key=attempt_order) if found else None

    def nth(self, position: int, workflow: str | None = None, instance: int | None = None,
            step: str | None = None) -> Attempt | None:
        """The attempt at `position` (from 0) in display order, optionally of one workflow,
        instance and step: whole steps are skipped by their counts, not walked."""
        for key in self._keys(workflow, instance, step):
            group = self._groups[key]
            group.compact()
            members = group.members
            if position < len(members):
                return members[position]
            position -= len(members)
        return None

    def _candidates(self, iteration: str | None, loop_params: Mapping[str, Any]) -> set[Attempt] | None:
        """The attempts an iteration and loop params can match, from the index (None: not indexed)."""
        found: set[Attempt] | None = None
        if iteration is not None:
            found = self._by_iteration.get(str(iteration), set())
        for name, value in loop_params.items():
            if self._unindexed.get(name) or not _hashable(value):
                continue  # checked one by one on what the other filters leave
            these = self._by_param.get((name, value), set())
            found = these if found is None else found & these
            if not found:
                break
        return found

    def select(self, workflow: str | None = None, instance: int | None = None, step: str | None = None,
               iteration: str | None = None, loop_params: Mapping[str, Any] | None = None) -> Iterator[Attempt]:
        """Paused attempts that match, in display order; by the index when an iteration or a loop
        param is given (no scan of every paused attempt)."""
        loop_params = loop_params or {}
        candidates = self._candidates(iteration, loop_params)
        if candidates is None and not loop_params:  # whole steps: nothing to test one by one
            yield from self.ordered(workflow, instance, step)
            return
        if candidates is None:
            source: Iterable[Attempt] = self.ordered(workflow, instance, step)
        else:
            source = sorted(candidates, key=attempt_order)
        for a in source:
            if candidates is not None and (
                    (workflow is not None and a.instance.workflow != workflow)
                    or (instance is not None and a.instance.instance_id != instance)
                    or (step is not None and a.node.step.id != step)):
                continue
            if loop_params and any(a.loop_params.get(k, _MISSING) != v for k, v in loop_params.items()):
                continue
            if iteration is not None and a.iteration != str(iteration):
                continue
            yield a

    def count_matching(self, workflow: str | None = None, instance: int | None = None, step: str | None = None,
                       iteration: str | None = None, loop_params: Mapping[str, Any] | None = None) -> int:
        """How many paused attempts match (without listing them when only groups are filtered)."""
        if iteration is None and not loop_params:
            return sum(self._groups[key].size for key in self._keys(workflow, instance, step))
        return sum(1 for _ in self.select(workflow, instance, step, iteration, loop_params))


_MISSING: Any = object()


def _drop(index: dict[Any, set[Attempt]], key: Any, a: Attempt) -> None:
    members = index.get(key)
    if members is not None:
        members.discard(a)
        if not members:
            del index[key]


def _decrement(counts: dict[str, int], name: str) -> None:
    left = counts.get(name, 0) - 1
    if left > 0:
        counts[name] = left
    else:
        counts.pop(name, None)
