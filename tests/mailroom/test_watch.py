"""`nocontact mailroom watch` end to end: a hot folder fed like a scanner feeds it, real OCR, a
real `nocontact serve` killed and restarted while scans wait."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway.mailroom.journal import Journal, Pending, digest_of
from sync.cut import NOTHING_PUBLISHED
from tests.support.gateway_process import Gateway
from tests.support.mailroom_site import BLOCKED, ENTRIES, FLAT, NEIGHBOUR, OTHER_FLAT, Site, scan
from tests.support.processes import clean_env, free_port
from tests.support.redis_server import RedisFactory


class Watch:
    def __init__(self, site: Site, in_dir: Path, out_dir: Path, log: Path) -> None:
        self.site, self.in_dir, self.out_dir, self.log = site, in_dir, out_dir, log
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> Watch:
        command = [sys.executable, "-m", "gateway.cli", "mailroom", "watch", str(self.in_dir)]
        command += ["--out", str(self.out_dir), "--settle", "0.3", "--poll", "0.1"]
        with self.log.open("a") as out:
            self.process = subprocess.Popen(
                command, env=self.site.env(), stdout=out, stderr=subprocess.STDOUT, text=True
            )
        return self

    def text(self) -> str:
        return self.log.read_text()

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(30)


@pytest.fixture
def watch(site: Site, tmp_path: Path) -> Iterator[Watch]:
    (tmp_path / "in").mkdir()
    watcher = Watch(site, tmp_path / "in", tmp_path / "out", tmp_path / "watch.log")
    yield watcher
    if watcher.process is not None and watcher.process.poll() is None:
        watcher.process.kill()
        watcher.process.wait(10)


def until(condition: Callable[[], object], what: str, watch: Watch, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert watch.process is None or watch.process.poll() is None, watch.text()
        assert time.monotonic() < deadline, f"{what}\n{watch.text()}"
        time.sleep(0.1)


def filed(watch: Watch) -> dict[str, str]:
    """{file name: folder} of every scan filed with its sidecar."""
    found = {}
    for folder in ("allow", "hold", "block", "error"):
        for path in (watch.out_dir / folder).glob("*.json"):
            found[path.name.removesuffix(".json")] = folder
    return found


def test_watch_files_every_scan_once_by_decision_and_a_gateway_restart_loses_nothing(
    site: Site, watch: Watch, tmp_path: Path
) -> None:
    staging = tmp_path / "staging"
    staging.mkdir()
    scan(watch.in_dir / "01-blocked.png", BLOCKED)
    scan(watch.in_dir / "02-neighbour.png", NEIGHBOUR, font="Liberation Serif")
    scan(watch.in_dir / "03-flat.pdf", FLAT, font="Liberation Sans", sender="back")
    (watch.in_dir / "04-notes.txt").write_text("not a scan")
    (watch.in_dir / ".05-hidden.png").write_bytes(b"a scanner's temporary file")
    half = scan(staging / "06-other-flat.png", OTHER_FLAT).read_bytes()
    (watch.in_dir / "06-other-flat.png").write_bytes(half[: len(half) // 2])  # the scanner is still writing
    watch.start()
    until(lambda: len(filed(watch)) >= 1, "the first scan filed", watch)
    site.gateway.kill()  # SIGKILL while the watcher reads the next scans

    time.sleep(1.0)
    (watch.in_dir / "06-other-flat.png").write_bytes(half)  # the scanner finishes it
    scan(watch.in_dir / "07-blocked-again.jpg", BLOCKED, font="Comic Neue")
    until(lambda: "gateway cannot answer" in watch.text(), "the outage noticed", watch)
    time.sleep(2.0)
    waiting = {p.name for p in watch.in_dir.iterdir()}
    assert {
        "06-other-flat.png",
        "07-blocked-again.jpg",
        ".05-hidden.png",
    } <= waiting  # nothing allowed on a guess
    assert not set(filed(watch)) & waiting

    site.gateway.start()  # the same data: its spool and embedded Redis
    until(lambda: {p.name for p in watch.in_dir.iterdir()} == {".05-hidden.png"}, "the folder emptied", watch)
    until(lambda: len(filed(watch)) == 6, "every sidecar written", watch)
    assert watch.stop() == 0
    assert filed(watch) == {
        "01-blocked.png": "block",
        "02-neighbour.png": "allow",
        "03-flat.pdf": "block",
        "04-notes.txt": "error",
        "06-other-flat.png": "hold",  # another flat of the blocked one's building: a person looks
        "07-blocked-again.jpg": "block",
    }
    sidecars = {
        name: json.loads((watch.out_dir / folder / f"{name}.json").read_text())
        for name, folder in filed(watch).items()
    }
    assert sidecars["04-notes.txt"]["error"] == "04-notes.txt: not a PNG, JPEG, TIFF or PDF file"
    assert sidecars["03-flat.pdf"]["prisoner"] == "A1234BC" and sidecars["03-flat.pdf"]["ocr"]["pages"] == 2
    assert (watch.out_dir / "hold" / "06-other-flat.png").read_bytes() == half
    # each letter screened once: one hit per blocked or held scan, no more
    hit_ids = {h["id"] for h in site.hits("UPC-2026-000101")} | {
        h["id"] for h in site.hits("UPC-2026-000102")
    }
    acted = {name: s["hit_id"] for name, s in sidecars.items() if s["decision"] in ("block", "hold")}
    assert set(acted.values()) == hit_ids and len(hit_ids) == 4
    assert "gateway answers again" in watch.text()


def test_a_decision_recorded_before_a_crash_is_filed_without_screening_again(
    site: Site, watch: Watch
) -> None:
    letter = scan(watch.in_dir / "blocked.png", BLOCKED)
    with Journal(watch.in_dir, watch.out_dir) as journal:  # as a watcher killed after the gateway answered
        outcome = {"file": "blocked.png", "decision": "block", "hit_id": "01EARLIERHIT"}
        journal.record(Pending("blocked.png", digest_of(letter), "block", "blocked.png", outcome))
    watch.start()
    until(lambda: filed(watch) == {"blocked.png": "block"}, "the recorded decision filed", watch)
    assert json.loads((watch.out_dir / "block" / "blocked.png.json").read_text())["hit_id"] == "01EARLIERHIT"
    assert "finished filing blocked.png under block/ (interrupted before)" in watch.text()
    assert site.hits("UPC-2026-000101") == []  # not screened a second time
    assert watch.stop() == 0
    assert not os.listdir(watch.out_dir / ".nocontact-mailroom") or os.listdir(
        watch.out_dir / ".nocontact-mailroom"
    ) == ["lock"]


def test_watch_on_a_terminal_shows_its_progress_and_once_stops_when_the_folder_is_empty(
    site: Site, watch: Watch
) -> None:
    scan(watch.in_dir / "neighbour.png", NEIGHBOUR)
    leader, follower = pty.openpty()
    command = [sys.executable, "-m", "gateway.cli", "mailroom", "watch", str(watch.in_dir)]
    command += ["--out", str(watch.out_dir), "--settle", "0.2", "--poll", "0.1", "--once"]
    done = subprocess.run(
        command,
        env=site.env(),
        stderr=follower,
        stdout=subprocess.PIPE,
        timeout=120,
        check=False,
        text=True,
    )
    os.close(follower)
    shown = b""
    while select.select([leader], [], [], 0.5)[0]:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert done.returncode == 0, shown
    assert done.stdout.startswith("neighbour.png: ALLOW")
    assert b"\r1 filed, 0 waiting, 0 in the folder; watching" in shown
    assert filed(watch) == {"neighbour.png": "allow"}


def test_watch_keeps_scans_while_the_gateway_answers_503_not_ready(
    tmp_path: Path, redis_server: RedisFactory
) -> None:
    """A gateway that is up but has no blocklist yet (a fresh Redis nobody has run `nocontact
    init` on) answers 503 not_ready: the scans wait in the folder, none is allowed, and each is
    filed once the gateway is ready."""
    store = redis_server()
    gateway = Gateway(tmp_path / "data", free_port(), env={"NOCONTACT_REDIS_URL": store.url}).start()
    watcher = Watch(
        Site(gateway, gateway.token("mailroom", "HLI")), tmp_path / "in", tmp_path / "out", tmp_path / "w.log"
    )
    try:
        watcher.in_dir.mkdir()
        scan(watcher.in_dir / "blocked.png", BLOCKED)
        scan(watcher.in_dir / "neighbour.png", NEIGHBOUR)
        watcher.start()
        until(lambda: "503 not_ready" in watcher.text(), "the gateway's 503 not_ready noticed", watcher)
        assert NOTHING_PUBLISHED in watcher.text()
        time.sleep(1.0)  # more tries while it is not ready
        assert {p.name for p in watcher.in_dir.iterdir()} == {"blocked.png", "neighbour.png"}
        assert filed(watcher) == {}  # nothing allowed on a guess

        command = [sys.executable, "-m", "gateway.cli", "init", "--data-dir", str(tmp_path / "cli")]
        done = subprocess.run(
            command,
            env=clean_env(NOCONTACT_REDIS_URL=store.url),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        for entry in ENTRIES:
            status, body = gateway.http("PUT", f"/v1/entries/{entry['reference']}", entry)
            assert status == 200, body
        until(lambda: len(filed(watcher)) == 2, "both scans filed once ready", watcher)
        assert filed(watcher) == {"blocked.png": "block", "neighbour.png": "allow"}
        assert "gateway answers again" in watcher.text()
        assert watcher.stop() == 0
    finally:
        if watcher.process is not None and watcher.process.poll() is None:
            watcher.process.kill()
            watcher.process.wait(10)
        gateway.close()
