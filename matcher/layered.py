"""An immutable map for live blocklists: a big base dict shared between versions plus a small
overlay of the changes since the base was built. A new version copies only the overlay, so a
single change costs microseconds however large the list is; compaction folds the overlay into a
fresh base in bounded steps, so a caller on an event loop can yield between them.

The base is a `ShardedDict`: builds run in a worker thread of a serving process, and one insert
that grows a single big dict resizes it in one C call holding the GIL, stalling the event loop;
split SHARDS ways, each resize is a small fraction of that.
"""

from __future__ import annotations

from collections.abc import Generator, Hashable, Iterator, Mapping, MutableMapping
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_MISSING = object()
COMPACTION_STEP = 50_000  # keys copied per step: a short step between the caller's yields
SHARDS = 64


class ShardedDict(MutableMapping[K, V]):
    """A dict split by key hash into `len(shards)` dicts. Hot paths may read
    ``shards[hash(key) % len(shards)]`` inline. Not for keys whose hash differs between
    processes to be compared across them (str hashes are per process; nothing here is pickled)."""

    __slots__ = ("shards",)

    def __init__(self, count: int = SHARDS) -> None:
        self.shards: tuple[dict[K, V], ...] = tuple({} for _ in range(count))

    @classmethod
    def wrap(cls, whole: dict[K, V]) -> ShardedDict[K, V]:
        """One shard: the dict itself (small maps and tests)."""
        sharded: ShardedDict[K, V] = cls(0)
        sharded.shards = (whole,)
        return sharded

    def shard(self, key: K) -> dict[K, V]:
        shards = self.shards
        return shards[hash(key) % len(shards)]

    def get(self, key: K, default: V | None = None) -> V | None:  # type: ignore[override]
        shards = self.shards
        return shards[hash(key) % len(shards)].get(key, default)

    def __getitem__(self, key: K) -> V:
        shards = self.shards
        return shards[hash(key) % len(shards)][key]

    def __setitem__(self, key: K, value: V) -> None:
        shards = self.shards
        shards[hash(key) % len(shards)][key] = value

    def __delitem__(self, key: K) -> None:
        shards = self.shards
        del shards[hash(key) % len(shards)][key]

    def __contains__(self, key: object) -> bool:
        shards = self.shards
        return key in shards[hash(key) % len(shards)]

    def __iter__(self) -> Iterator[K]:
        for shard in self.shards:
            yield from shard

    def __len__(self) -> int:
        return sum(map(len, self.shards))

    def items(self) -> Iterator[tuple[K, V]]:  # type: ignore[override]  # a view's work, without the view
        for shard in self.shards:
            yield from shard.items()

    def values(self) -> Iterator[V]:  # type: ignore[override]
        for shard in self.shards:
            yield from shard.values()

    def popitem(self) -> tuple[K, V]:
        for shard in self.shards:
            if shard:
                return shard.popitem()
        raise KeyError("popitem(): ShardedDict is empty")


class LayeredMap(Generic[K, V]):
    # Public but read-only by convention: a hot path may inline get (overlay first, then base).
    __slots__ = ("base", "overlay")

    def __init__(
        self, base: ShardedDict[K, V] | dict[K, V] | None = None, overlay: dict[K, V | None] | None = None
    ) -> None:
        if base is None:
            base = ShardedDict(1)
        elif isinstance(base, dict):
            base = ShardedDict.wrap(base)
        self.base: ShardedDict[K, V] = base
        self.overlay: dict[K, V | None] = overlay if overlay is not None else {}

    def get(self, key: K) -> V | None:
        overlay = self.overlay
        if overlay:
            value = overlay.get(key, _MISSING)
            if value is not _MISSING:
                return value  # type: ignore[return-value]  # None marks a deletion
        shards = self.base.shards
        return shards[hash(key) % len(shards)].get(key)

    def __contains__(self, key: K) -> bool:
        return self.get(key) is not None

    def items(self) -> Iterator[tuple[K, V]]:
        overlay = self.overlay
        for shard in self.base.shards:
            for key, value in shard.items():
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
        base: ShardedDict[K, V] = ShardedDict()
        overlay = self.overlay
        copied = 0
        for shard in self.base.shards:
            for key, value in shard.items():
                if key not in overlay:
                    base[key] = value
                copied += 1
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
