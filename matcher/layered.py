"""An immutable map for live blocklists: a big base dict shared between versions plus a small
overlay of the changes since the base was built. A new version copies only the overlay, so a
single change costs microseconds however large the list is; compaction folds the overlay into a
fresh base in bounded steps, so a caller on an event loop can yield between them."""

from __future__ import annotations

from collections.abc import Generator, Hashable, Iterator, Mapping
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_MISSING = object()
COMPACTION_STEP = 50_000  # keys copied per step: ~1.5 ms here


class LayeredMap(Generic[K, V]):
    # Public but read-only by convention: a hot path may inline get (overlay first, then base).
    __slots__ = ("base", "overlay")

    def __init__(self, base: dict[K, V] | None = None, overlay: dict[K, V | None] | None = None) -> None:
        self.base: dict[K, V] = base if base is not None else {}
        self.overlay: dict[K, V | None] = overlay if overlay is not None else {}

    def get(self, key: K) -> V | None:
        overlay = self.overlay
        if overlay:
            value = overlay.get(key, _MISSING)
            if value is not _MISSING:
                return value  # type: ignore[return-value]  # None marks a deletion
        return self.base.get(key)

    def __contains__(self, key: K) -> bool:
        return self.get(key) is not None

    def items(self) -> Iterator[tuple[K, V]]:
        overlay = self.overlay
        for key, value in self.base.items():
            if key not in overlay:
                yield key, value
        for key, maybe in overlay.items():
            if maybe is not None:
                yield key, maybe

    def __len__(self) -> int:
        return sum(1 for _ in self.items())

    @property
    def overlay_size(self) -> int:
        return len(self.overlay)

    def with_changes(self, changes: Mapping[K, V | None]) -> LayeredMap[K, V]:
        """A new map with `changes` applied (None deletes); self is untouched."""
        if not changes:
            return self
        overlay = dict(self.overlay)
        overlay.update(changes)
        return LayeredMap(self.base, overlay)

    def compaction_steps(self, step: int = COMPACTION_STEP) -> Generator[None, None, LayeredMap[K, V]]:
        """Fold the overlay into a new base, yielding between bounded steps; returns the new map."""
        base: dict[K, V] = {}
        overlay = self.overlay
        for copied, (key, value) in enumerate(self.base.items(), start=1):
            if key not in overlay:
                base[key] = value
            if copied % step == 0:
                yield
        for key, maybe in overlay.items():
            if maybe is not None:
                base[key] = maybe
        return LayeredMap(base)

    def compacted(self) -> LayeredMap[K, V]:
        steps = self.compaction_steps()
        while True:
            try:
                next(steps)
            except StopIteration as done:
                result: LayeredMap[K, V] = done.value
                return result

    def rebased(self, compacted: LayeredMap[K, V], folded: LayeredMap[K, V]) -> LayeredMap[K, V]:
        """`compacted` was made from `folded`, an older version of this map. Keep compacted's base
        and only the overlay entries that changed after `folded` was taken."""
        old = folded.overlay
        overlay = {k: v for k, v in self.overlay.items() if k not in old or old[k] is not v}
        return LayeredMap(compacted.base, overlay)
