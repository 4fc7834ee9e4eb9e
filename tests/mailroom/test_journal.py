"""The hot folder's journal: a decision is recorded before its file moves, and a watcher stopped
at any step finishes the filing when it starts again, without screening the file again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.mailroom.errors import MailroomError
from gateway.mailroom.journal import Journal, Pending, digest_of


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "in").mkdir()
    return tmp_path / "in", tmp_path / "out"


@pytest.fixture
def journal(folders: tuple[Path, Path]) -> Iterator[Journal]:
    with Journal(*folders) as opened:
        yield opened


def decided(journal: Journal, name: str, folder: str = "block") -> Pending:
    path = journal.in_dir / name
    outcome = {"file": name, "decision": folder, "hit_id": "01TEST"}
    return Pending(name, digest_of(path), folder, journal.target_for(folder, name), outcome)


def test_a_filing_moves_the_file_writes_its_sidecar_and_forgets_the_record(journal: Journal) -> None:
    in_dir, out_dir = journal.in_dir, journal.out_dir
    (in_dir / "scan1.png").write_bytes(b"letter one")
    pending = decided(journal, "scan1.png")
    journal.record(pending)
    assert journal.pending() == [pending]
    target = journal.file(pending)
    assert target == out_dir / "block" / "scan1.png" and target.read_bytes() == b"letter one"
    assert json.loads((out_dir / "block" / "scan1.png.json").read_text())["hit_id"] == "01TEST"
    assert not (in_dir / "scan1.png").exists()
    assert journal.pending() == []
    assert sorted(p.name for p in out_dir.iterdir()) == [
        ".nocontact-mailroom",
        "allow",
        "block",
        "error",
        "hold",
    ]


@pytest.mark.parametrize("stopped_after", ["record", "move", "sidecar"])
def test_a_filing_stopped_at_any_step_is_finished_by_the_next_watcher(
    folders: tuple[Path, Path], stopped_after: str, request: pytest.FixtureRequest
) -> None:
    in_dir, out_dir = folders
    (in_dir / "scan1.png").write_bytes(b"letter one")
    first = Journal(in_dir, out_dir)
    pending = decided(first, "scan1.png", "hold")
    first.record(pending)
    target = out_dir / "hold" / "scan1.png"
    if stopped_after in ("move", "sidecar"):
        (in_dir / "scan1.png").replace(target)
    if stopped_after == "sidecar":
        (out_dir / "hold" / "scan1.png.json").write_text(json.dumps(pending.outcome))
    first.close()  # the process died here

    second = Journal(in_dir, out_dir)
    request.addfinalizer(second.close)
    assert second.lookup("scan1.png", pending.digest) == pending  # a watcher files it, never screens it
    assert second.recover() == [pending]
    assert target.read_bytes() == b"letter one" and not (in_dir / "scan1.png").exists()
    assert json.loads((out_dir / "hold" / "scan1.png.json").read_text()) == pending.outcome
    assert second.pending() == [] and second.recover() == []


def test_a_new_letter_under_a_filed_name_is_a_new_letter(journal: Journal) -> None:
    in_dir, out_dir = journal.in_dir, journal.out_dir
    (in_dir / "scan.png").write_bytes(b"monday's letter")
    pending = decided(journal, "scan.png", "allow")
    journal.record(pending)
    (in_dir / "scan.png").replace(out_dir / "allow" / "scan.png")  # moved, then stopped
    (in_dir / "scan.png").write_bytes(b"tuesday's letter")  # the scanner reuses the name
    assert journal.lookup("scan.png", digest_of(in_dir / "scan.png")) is None  # to be screened
    journal.recover()
    assert (in_dir / "scan.png").read_bytes() == b"tuesday's letter"
    assert (out_dir / "allow" / "scan.png.json").exists()
    assert journal.target_for("allow", "scan.png") == "scan-1.png"


def test_one_watcher_per_out_dir(folders: tuple[Path, Path]) -> None:
    in_dir, out_dir = folders
    first = Journal(in_dir, out_dir)
    with pytest.raises(MailroomError, match="another mailroom watch is filing into this folder"):
        Journal(in_dir, out_dir)
    first.close()
    Journal(in_dir, out_dir).close()


def test_a_record_that_cannot_be_read_is_left_and_logged(
    journal: Journal, caplog: pytest.LogCaptureFixture
) -> None:
    (journal.state / "broken.json").write_text('{"name": "x"}')
    assert journal.pending() == []
    assert "journal record broken.json cannot be read (record.digest: missing or not a string)" in caplog.text
    assert (journal.state / "broken.json").exists()
