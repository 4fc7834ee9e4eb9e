"""Building a new index aside, off the event loop.

Every CPU-heavy step (decoding a cut's JSON, diffing it against the live index, compiling entries,
building automata) runs in a worker thread on immutable inputs; the loop only awaits the result
and swaps one reference. Python-level work in a thread gives the loop the GIL back every switch
interval (``nocontact serve`` sets gateway.serve.SWITCH_INTERVAL); what can still stall the
loop is a single long C call holding the GIL: an automaton build, a million-key dict resizing (the
index's maps are sharded), a collection walking a million young objects (gc_paused). So a resync
against a live index applies the *difference* through ``Index.with_changes`` (a small delta
automaton) whenever it is small enough, and builds a full index only on cold start, or when a new
epoch really differs in more than ``max_delta`` entries.
"""

from __future__ import annotations

import dataclasses
import gc
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from matcher.entries import Entry
from matcher.errors import DuplicateReference, ValidationError
from matcher.index import Index
from matcher.layered import ShardedDict
from matcher.profile import Profile
from matcher.stored import key_stamp
from sync.changes import decode_entry
from sync.offloop.collector import gc_paused
from sync.offloop.retire import release
from sync.offloop.workers import Handoff, run_in_worker
from sync.snapshot import references_distinct

if TYPE_CHECKING:
    from sync.snapshot import Snapshot

MAX_SKIPS = 100  # a cut with more unindexable entries than this is refused, not patched around


@dataclass(frozen=True, slots=True)
class Built:
    index: Index
    kind: str  # "full" | "delta"
    entries: int
    identifiers: int
    changes: int  # entries upserted or removed relative to the base (all of them for a full build)
    unindexable: tuple[str, ...]  # references left out (or kept at their last good content)
    seconds: float
    touched: frozenset[str] = frozenset()  # a delta's references: upserted, removed or left out


class TooManyUnindexable(ValueError):
    """More entries than MAX_SKIPS cannot be indexed: the cut is refused rather than patched."""


class IndexBuilder:
    """Makes new Index objects for the follower. `run_blocking` is how CPU work leaves the loop
    (``sync.offloop.workers.run_in_worker`` by default); benchmarks may swap it to measure the work itself."""

    def __init__(
        self,
        profile: Profile,
        *,
        max_delta: int = 50_000,
        inline_changes: int = 16,
        inline_layered: int = 4000,
        run_blocking: Callable[[Callable[[], Built]], Awaitable[Built]] | None = None,
    ) -> None:
        self.profile = profile
        self.max_delta = max_delta
        self.inline_changes = inline_changes
        self.inline_layered = inline_layered
        self._run = run_blocking

    async def _off_loop(self, work: Callable[[], Built]) -> Built:
        """`work` in a worker thread with the cyclic collector paused: the only pause around the
        matcher's builds, which never switch the collector themselves."""
        handoff = Handoff(work)
        del work

        def work_then_freeze() -> Built:
            built = handoff()
            if built.kind == "full":
                # without this, re-enabling gc made the loop thread's next allocation walk the
                # millions of objects the build made
                gc.freeze()
            return built

        run = self._run if self._run is not None else run_in_worker
        with gc_paused():
            return await run(work_then_freeze)

    def settle(self, built: Built) -> None:
        """After a full build is swapped in: move the new index's objects out of the cyclic
        collector's reach (``gc.freeze``), so later full collections, which hold the GIL, do not
        walk millions of immutable objects and stall the loop for tens of milliseconds."""
        if built.kind == "full":
            gc.freeze()

    async def from_snapshot(self, snapshot: Snapshot) -> Built:
        """A full build from the snapshot file: its stored rows when they were written under this
        profile's ``key_stamp``, else its entries, normalised again. DuplicateReference when the
        file repeats a reference (read with ``references_by_build``: this is where it is checked)."""
        if snapshot.key_stamp == key_stamp(self.profile):
            return await self._off_loop(lambda: self._full_stored(snapshot))
        return await self._off_loop(lambda: self._full(_snapshot_entries(snapshot), snapshot.version, ()))

    async def rebuild(self, index: Index) -> Built:
        """Compaction: the same entries as one fresh index, without the layers of changes."""
        return await self._off_loop(lambda: self._full(by_reference(index.entries()), index.version, ()))

    async def from_cut(self, raw: Mapping[str, str], version: int, base: Index | None) -> Built:
        """The index for a cut's entries: a delta over `base` when the difference is small."""
        return await self._off_loop(lambda: self._from_cut(raw, version, base))

    async def apply(
        self,
        base: Index,
        upserts: Mapping[str, Entry],
        removals: Iterable[str],
        version: int,
        counts: tuple[int, int],
        *,
        layered: int = 0,
    ) -> Built:
        """Stream changes over the live index: a few changes on a thin layer inline (cheaper than a
        thread hop), anything else in the worker thread. `layered` is how many changes the base
        already carries: each new version copies that layer."""
        removals = list(removals)
        if len(upserts) + len(removals) <= self.inline_changes and layered <= self.inline_layered:
            return self._delta(base, upserts, removals, version, counts)
        return await self._off_loop(lambda: self._delta(base, upserts, removals, version, counts))

    # -- the work, run off the loop ------------------------------------------------------------
    def _from_cut(self, raw: Mapping[str, str], version: int, base: Index | None) -> Built:
        started = time.perf_counter()
        entries: ShardedDict[str, Entry] = ShardedDict()
        unreadable: list[str] = []
        for reference, payload in raw.items():
            try:
                entry = decode_entry(payload)
            except ValueError:
                unreadable.append(reference)
                continue
            if entry.reference != reference:
                unreadable.append(reference)
                continue
            entries[reference] = entry
        if len(unreadable) > MAX_SKIPS:
            raise TooManyUnindexable(f"{len(unreadable)} entries in the store cannot be read")
        if base is not None:
            upserts: dict[str, Entry] = {}
            for ref, entry in entries.items():
                if base.entry(ref) != entry:
                    upserts[ref] = entry
                    if len(upserts) > self.max_delta:
                        break  # a full build: no need to list a million differences
            if len(upserts) <= self.max_delta:
                # an unreadable entry keeps its last good content: it is neither upserted nor removed
                removals = [e.reference for e in base.entries() if e.reference not in raw]
                if len(upserts) + len(removals) <= self.max_delta:
                    counts = _counts(base.entries())
                    built = self._delta(base, upserts, removals, version, counts, unreadable)
                    release(entries)
                    return _timed(built, started)
        return _timed(self._full(entries, version, unreadable), started)

    def _full(self, entries: ShardedDict[str, Entry], version: int, unreadable: Sequence[str]) -> Built:
        started = time.perf_counter()
        skipped = list(unreadable)
        index = _leaving_out_unindexable(
            lambda: Index.build(entries.values(), self.profile, version=version), entries, skipped
        )
        entry_count, identifiers = index.entry_count, index.identifier_count
        release(entries)  # ours (every caller hands over a dict it made)
        seconds = time.perf_counter() - started
        return Built(index, "full", entry_count, identifiers, entry_count, tuple(skipped), seconds)

    def _full_stored(self, snapshot: Snapshot) -> Built:
        """A ValidationError (an address that no longer parses) falls back to the checked path,
        which leaves such entries out."""
        started = time.perf_counter()
        try:
            index = Index.build_stored(snapshot.stored, self.profile, version=snapshot.version)
        except DuplicateReference:
            raise  # the file is rejected whole, never served with one of the two left out
        except ValidationError:
            return self._full(_snapshot_entries(snapshot), snapshot.version, ())
        entry_count, identifiers = index.entry_count, index.identifier_count
        seconds = time.perf_counter() - started
        return Built(index, "full", entry_count, identifiers, entry_count, (), seconds)

    def _delta(
        self,
        base: Index,
        upserts: Mapping[str, Entry],
        removals: Sequence[str],
        version: int,
        counts: tuple[int, int],
        unreadable: Sequence[str] = (),
    ) -> Built:
        """An unindexable upsert is left out and the entry keeps its last good content: blocking
        more than the store says is the safe side."""
        started = time.perf_counter()
        pending = dict(upserts)
        skipped = list(unreadable)
        index = _leaving_out_unindexable(
            lambda: base.with_changes(list(pending.values()), removals, version=version), pending, skipped
        )
        entry_count, identifiers = counts
        for reference in [*pending, *removals]:
            old = base.entry(reference)
            if old is not None:
                entry_count -= 1
                identifiers -= old.identifier_count()
        for entry in pending.values():
            entry_count += 1
            identifiers += entry.identifier_count()
        return Built(
            index,
            "delta",
            entry_count,
            identifiers,
            len(pending) + len(removals),
            tuple(skipped),
            time.perf_counter() - started,
            frozenset(upserts) | frozenset(removals) | frozenset(unreadable),
        )


def _snapshot_entries(snapshot: Snapshot) -> ShardedDict[str, Entry]:
    """by_reference keeps the last of a repeated reference: a snapshot's are checked first."""
    if not snapshot.references_checked and not references_distinct(snapshot.stored):
        raise DuplicateReference("reference", "appears twice in the snapshot file")
    return by_reference(snapshot.entries)


def by_reference(entries: Iterable[Entry]) -> ShardedDict[str, Entry]:
    """Entries by reference (the last of a repeated one wins), sharded: a build's dicts must not
    grow a million keys in one (see matcher.layered)."""
    out: ShardedDict[str, Entry] = ShardedDict()
    shards, count = out.shards, len(out.shards)
    for entry in entries:
        reference = entry.reference
        shards[hash(reference) % count][reference] = entry
    return out


def _leaving_out_unindexable(
    build: Callable[[], Index], pending: MutableMapping[str, Entry], skipped: list[str]
) -> Index:
    """`build()`, retried without each entry of `pending` a ValidationError names (its reference
    goes to `skipped`); TooManyUnindexable past MAX_SKIPS or when the error names no entry."""
    while True:
        try:
            return build()
        except ValidationError as exc:
            reference = _culprit(exc, pending)
            if reference is None or len(skipped) >= MAX_SKIPS:
                raise TooManyUnindexable(f"cannot index {exc.field}") from None
            skipped.append(reference)
            del pending[reference]


def _culprit(exc: ValidationError, entries: Mapping[str, Entry]) -> str | None:
    """Index.build names the entry as ``<reference>: <field>``; references hold no spaces."""
    reference = exc.field.split(": ", 1)[0]
    return reference if reference in entries else None


def _counts(entries: Iterable[Entry]) -> tuple[int, int]:
    n = identifiers = 0
    for entry in entries:
        n += 1
        identifiers += entry.identifier_count()
    return n, identifiers


def _timed(built: Built, started: float) -> Built:
    return dataclasses.replace(built, seconds=time.perf_counter() - started)
