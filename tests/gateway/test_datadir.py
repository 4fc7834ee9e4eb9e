"""Issue 16 item 7: the data directory holds victims' details, so it is 0700 and every file in
it 0600; `nocontact serve` refuses a data directory others may read that already holds data,
saying how to fix it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.gateway_process import Gateway, request
from tests.support.processes import clean_env, free_port

ENTRY = {
    "prisoner": "A1234BC",
    "scope": "all",
    "protected": [{"name": "Jane Smith", "phones": ["07700 900123"]}],
}
CALL = {"establishment": "HLI", "prisoner": "Z9999ZZ", "number": "9 07700 900123"}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    gw = Gateway(tmp_path / "data", free_port())
    yield gw
    gw.close()


def test_serve_keeps_the_data_directory_and_its_files_to_its_owner(gateway: Gateway) -> None:
    """Reproduction: snapshot.jsonl was 0644 in a 0755 directory (names, numbers, addresses), and
    hits.sqlite3* 0644."""
    old = os.umask(0o022)  # as most shells start it
    try:
        gateway.start()
    finally:
        os.umask(old)
    assert request(gateway.port, "PUT", "/v1/entries/UPC-2026-000001", ENTRY)[0] == 200
    deadline = time.monotonic() + 20  # a bound, not a measurement: the snapshot follows the change
    decision = None
    while time.monotonic() < deadline and (
        decision != "block" or not (gateway.data_dir / "snapshot.jsonl").exists()
    ):
        decision = request(gateway.port, "POST", "/v1/screen/call", CALL)[1].get("decision")
        time.sleep(0.05)
    assert decision == "block"
    data = gateway.data_dir
    assert mode(data) == 0o700
    files = [p for p in data.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"snapshot.jsonl", "hits.sqlite3", "hits.sqlite3-wal"} <= names, names
    exposed = {str(p.relative_to(data)): oct(mode(p)) for p in files if mode(p) & 0o077}
    assert exposed == {}
    assert all(mode(p) & 0o077 == 0 for p in data.rglob("*") if p.is_dir())


def test_serve_refuses_a_data_directory_others_can_read(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    (data / "snapshot.jsonl").write_text("{}\n")
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "serve", "--port", str(free_port()), "--data-dir", str(data)],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "can be read by other users" in done.stderr and f"chmod -R go-rwx {data}" in done.stderr
    assert mode(data) == 0o755  # refused, not silently changed
    assert not (data / "redis").exists()


def test_the_start_check_tightens_what_it_safely_can(tmp_path: Path) -> None:
    from sync.private import ExposedDataDir, check_data_dir  # here: the tests above run without it

    empty = tmp_path / "empty"
    empty.mkdir()
    empty.chmod(0o755)
    check_data_dir(empty)  # nothing in it yet: made private
    assert mode(empty) == 0o700
    private = tmp_path / "private"
    (private / "redis").mkdir(parents=True)
    private.chmod(0o700)
    (private / "redis").chmod(0o755)
    (private / "snapshot.jsonl").write_text("{}\n")
    (private / "snapshot.jsonl").chmod(0o644)
    check_data_dir(private)  # private, with files an older version left readable: tightened
    assert mode(private / "snapshot.jsonl") == 0o600 and mode(private / "redis") == 0o700
    fresh = tmp_path / "a" / "b"
    check_data_dir(fresh)
    assert mode(fresh) == 0o700 and mode(tmp_path / "a") == 0o700
    private.chmod(0o750)
    with pytest.raises(ExposedDataDir):
        check_data_dir(private)
