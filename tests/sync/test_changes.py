"""A read of the change stream folded into one delta (sync.changes.fold_changes), and the guard that
refuses a cut (sync.cut.refusal): pure rules, in tables."""

from __future__ import annotations

import pytest

from sync.changes import encode_entry, fold_changes
from sync.cut import Cut, Head, refusal
from sync.status import SyncState, SyncStatus
from tests.support.sync_data import make_entry


def upsert(version: int, i: int, epoch: str = "e1") -> tuple[str, dict[str, str]]:
    entry = make_entry(i)
    fields = {
        "v": str(version),
        "e": epoch,
        "op": "upsert",
        "ref": entry.reference,
        "entry": encode_entry(entry),
    }
    return f"{version}-0", fields


def remove(version: int, i: int, epoch: str = "e1") -> tuple[str, dict[str, str]]:
    return f"{version}-0", {"v": str(version), "e": epoch, "op": "remove", "ref": make_entry(i).reference}


def reset(version: int) -> tuple[str, dict[str, str]]:
    return f"{version}-0", {"v": str(version), "e": "e1", "op": "reset", "entries": "0"}


def ref(i: int) -> str:
    return make_entry(i).reference


@pytest.mark.parametrize(
    ("messages", "version", "upserts", "removals", "last_id", "cursor", "stop"),
    [
        ([], 5, [], [], None, None, None),
        ([upsert(6, 1), upsert(7, 2)], 7, [1, 2], [], "7-0", "7-0", None),
        ([upsert(4, 1), upsert(5, 2)], 5, [], [], None, None, "diverged"),  # a reused version
        ([upsert(6, 1), upsert(6, 2)], 6, [1], [], "6-0", "6-0", "diverged"),
        ([upsert(6, 1), remove(7, 1)], 7, [], [1], "7-0", "7-0", None),  # the last change wins
        ([remove(6, 1), upsert(7, 1)], 7, [1], [], "7-0", "7-0", None),
        ([upsert(6, 1), upsert(8, 2)], 6, [1], [], "6-0", "6-0", "gap"),
        ([upsert(6, 1), upsert(7, 2, epoch="e0")], 6, [1], [], "6-0", "6-0", "epoch"),
        ([upsert(6, 1), reset(7)], 6, [1], [], "6-0", "6-0", "reset"),
        (
            [upsert(6, 1), ("7-0", {"v": "x", "e": "e1", "op": "upsert"})],
            6,
            [1],
            [],
            "6-0",
            "6-0",
            "unparsable",
        ),
        (
            [("6-0", {"v": "6", "e": "e1", "op": "upsert", "ref": ref(1)})],
            5,
            [],
            [],
            None,
            None,
            "unparsable",
        ),
    ],
)
def test_changes_fold_into_one_delta_up_to_the_first_that_needs_a_resync(
    messages: list[tuple[str, dict[str, str]]],
    version: int,
    upserts: list[int],
    removals: list[int],
    last_id: str | None,
    cursor: str | None,
    stop: str | None,
) -> None:
    batch = fold_changes(messages, "e1", 5)
    assert batch.version == version
    assert batch.upserts == {ref(i): make_entry(i) for i in upserts}
    assert batch.removals == {ref(i) for i in removals}
    assert (batch.last_id, batch.cursor, batch.stop) == (last_id, cursor, stop)


def cut(entries: int, *, epoch: str | None = "e1", version: int = 10, shrink_ok: bool = False) -> Cut:
    meta = {"shrink_ok": "1" if shrink_ok else "0"}
    raw = {ref(i): encode_entry(make_entry(i)) for i in range(entries)}
    return Cut(Head(epoch, version, "10-0", 0), meta, raw)


SERVING_10 = SyncStatus(SyncState.VALID, "in sync", epoch="e0", version=9, entries=10, serving=True)


@pytest.mark.parametrize(
    ("the_cut", "served", "reason", "refused"),
    [
        (cut(10), SERVING_10, "epoch", None),
        (cut(8), SERVING_10, "epoch", None),  # within max_shrink (0.2)
        (cut(7), SERVING_10, "epoch", "shrink"),
        (cut(0), SERVING_10, "epoch", "shrink"),
        (cut(0), None, "initial", "shrink"),  # empty needs an explicit licence even on a fresh start
        (cut(3), None, "initial", None),
        (cut(0, shrink_ok=True), SERVING_10, "epoch", None),  # an explicit reset
        (cut(3, epoch="e0"), SERVING_10, "gap", None),  # the same history: removals were changes
        (cut(3, epoch="e0"), SERVING_10, "behind", "shrink"),  # the store lost writes
        (cut(3, epoch="e0"), SERVING_10, "diverged", "shrink"),  # ... and reused their versions
        (cut(9, epoch="e0"), SERVING_10, "diverged", None),  # within max_shrink: the store's history
        (cut(3, epoch="e0", version=8), SERVING_10, "gap", "shrink"),  # older than what is served
        (cut(3, epoch=None), SERVING_10, "epoch", "nothing-published"),
        (cut(3, version=-1), SERVING_10, "epoch", "meta"),
    ],
)
def test_a_cut_that_would_silently_empty_or_shrink_the_blocklist_is_refused(
    the_cut: Cut, served: SyncStatus | None, reason: str, refused: str | None
) -> None:
    got = refusal(the_cut, served, reason=reason, max_shrink=0.2)
    assert (got[0] if got else None) == refused
