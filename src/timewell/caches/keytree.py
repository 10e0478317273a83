"""A hierarchy of key values: one level per key column, a leaf per distinct combination.

Both caches keep their entries in one. A lookup constrained on some key columns visits only
the matching branches: constrained levels are dictionary lookups, unconstrained ones are
iterated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Generic, TypeVar

from timewell.query.pushdown import Constraints

Leaf = TypeVar("Leaf")


class KeyTree(Generic[Leaf]):
    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = list(columns)
        self._root: dict = {}
        self.leaf_count = 0

    def leaf(self, key: tuple, make: Callable[[], Leaf]) -> Leaf:
        """The leaf for `key`, created with `make()` if it is new."""
        node = self._root
        for value in key[:-1] if key else ():
            child = node.get(value)
            if child is None:
                child = node[value] = {}
            node = child
        last = key[-1] if key else ()
        found = node.get(last)
        if found is None:
            found = node[last] = make()
            self.leaf_count += 1
        return found

    def get(self, key: tuple) -> Leaf | None:
        node = self._root
        for value in key[:-1] if key else ():
            node = node.get(value)
            if node is None:
                return None
        return node.get(key[-1] if key else ())

    def remove(self, key: tuple) -> None:
        """Remove `key`'s leaf and the branches it leaves empty."""
        path = [self._root]
        for value in key[:-1] if key else ():
            child = path[-1].get(value)
            if child is None:
                return
            path.append(child)
        if path[-1].pop(key[-1] if key else (), None) is None:
            return
        self.leaf_count -= 1
        for depth in range(len(path) - 1, 0, -1):
            if path[depth]:
                break
            del path[depth - 1][key[depth - 1]]

    def items(self, constraints: Constraints | None = None) -> Iterator[tuple[tuple, Leaf]]:
        """(key, leaf) pairs whose key values satisfy `constraints`, in insertion order.

        Consume it before the tree changes (callers hold their cache's lock)."""
        allowed = [constraints.get(c) if constraints else None for c in self.columns]
        if not self.columns:
            leaf = self._root.get(())
            if leaf is not None:
                yield (), leaf
            return
        yield from self._walk(self._root, allowed, 0, ())

    def _walk(self, node: dict, allowed: list, depth: int, prefix: tuple):
        values = allowed[depth]
        pairs = node.items() if values is None else [(v, node[v]) for v in values if v in node]
        last = depth == len(self.columns) - 1
        for value, child in pairs:
            if last:
                yield (*prefix, value), child
            else:
                yield from self._walk(child, allowed, depth + 1, (*prefix, value))

    def __len__(self) -> int:
        return self.leaf_count
