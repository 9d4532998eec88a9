"""A bounded cache of computed frames, so scrubbing back to a frame shows it at once."""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Hashable

import numpy as np

DEFAULT_BUDGET_BYTES = 1 << 30


def payload_bytes(value: object, _seen: set[int] | None = None) -> int:
    """Bytes held by the numpy arrays inside a (nested) dataclass / tuple / dict value."""
    seen = _seen if _seen is not None else set()
    if id(value) in seen:
        return 0
    seen.add(id(value))
    if isinstance(value, np.ndarray):
        return value.nbytes
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(payload_bytes(getattr(value, f.name), seen) for f in dataclasses.fields(value))
    if isinstance(value, (tuple, list)):
        return sum(payload_bytes(v, seen) for v in value)
    if isinstance(value, dict):
        return sum(payload_bytes(v, seen) for v in value.values())
    return 0


class ResultCache:
    """Least-recently-used results within a byte budget; the newest result is always kept."""

    def __init__(self, budget_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        self.budget_bytes = budget_bytes
        self._items: OrderedDict[Hashable, tuple[object, int]] = OrderedDict()
        self.bytes_used = 0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def get(self, key: Hashable) -> object | None:
        if key not in self._items:
            return None
        self._items.move_to_end(key)
        return self._items[key][0]

    def put(self, key: Hashable, value: object) -> None:
        if key in self._items:
            self.bytes_used -= self._items.pop(key)[1]
        size = payload_bytes(value)
        self._items[key] = (value, size)
        self.bytes_used += size
        while self.bytes_used > self.budget_bytes and len(self._items) > 1:
            _, (_, evicted) = self._items.popitem(last=False)
            self.bytes_used -= evicted

    def clear(self) -> None:
        self._items.clear()
        self.bytes_used = 0
