"""`nocontact mailroom watch IN_DIR --out OUT_DIR`: a hot folder as scanners write them. A file is
taken once it has stayed the same size and age for --settle seconds and its format says it is
whole (a PNG's IEND, a JPEG's end marker, a PDF's %%EOF); it is read, screened once, and moved to
OUT_DIR/{allow,hold,block,error}/ with a JSON sidecar beside it (journal.py keeps that across
restarts). When the gateway cannot answer (down, not ready, stale under the refuse policy) the
file stays where it is and is tried again with a growing pause: nothing is allowed by default."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from gateway.mailroom.client import GatewayClient
from gateway.mailroom.errors import GatewayRefused, GatewayUnavailable, MailroomError
from gateway.mailroom.journal import Journal, Pending, digest_of
from gateway.mailroom.ocr import open_engine
from gateway.mailroom.options import settings
from gateway.mailroom.outcome import Outcome, Screener
from gateway.mailroom.pages import kind_of
from gateway.mailroom.reading import Reading

log = logging.getLogger("nocontact.mailroom.watch")

IGNORED_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".filepart", "~")
MAX_PAUSE = 30.0  # seconds between tries while the gateway cannot answer
GIVE_UP = 30.0  # seconds unchanged after which a file that is not whole is taken anyway
TAIL = 1024  # bytes read from a file's end to see whether it is whole


def is_whole(path: Path) -> bool:
    """Whether the file's format says it is complete (TIFF cannot say: loading it decides)."""
    with path.open("rb") as fh:
        kind = kind_of(fh.read(8))
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - TAIL))
        tail = fh.read()
    if kind == "png":
        return b"IEND" in tail[-16:]
    if kind == "jpeg":
        return b"\xff\xd9" in tail[-32:]
    if kind == "pdf":
        return b"%%EOF" in tail
    return True  # TIFF, or not a scan at all (filed under error/ once it has settled)


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    since: float


class Watcher:
    def __init__(
        self,
        screener: Screener,
        journal: Journal,
        settle: float,
        clock: Callable[[], float] = time.monotonic,
        show: Callable[[str], None] = print,
    ) -> None:
        self.screener = screener
        self.journal = journal
        self.in_dir = journal.in_dir
        self.settle = settle
        self.give_up = max(GIVE_UP, 10 * settle)
        self.clock = clock
        self.show = show
        self._seen: dict[str, _Seen] = {}
        self._read: dict[tuple[str, str], Reading] = {}  # OCR kept while the gateway is away
        self.present = 0  # files in IN_DIR at the last look
        self.filed = 0
        self.waiting = 0
        self.unavailable: str | None = None  # why the gateway could not answer, while it cannot

    def settled(self) -> list[Path]:
        """The files in IN_DIR that are ready to screen, oldest first."""
        now = self.clock()
        ready: list[tuple[int, Path]] = []
        present = set()
        for path in self.in_dir.iterdir():
            name = path.name
            if name.startswith((".", "~")) or name.endswith(IGNORED_SUFFIXES) or not path.is_file():
                continue
            present.add(name)
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            seen = self._seen.get(name)
            if seen is None or (seen.size, seen.mtime_ns) != (stat.st_size, stat.st_mtime_ns):
                self._seen[name] = _Seen(stat.st_size, stat.st_mtime_ns, now)
                continue
            quiet = now - seen.since
            # a file that never becomes whole is taken in the end too: reading it files it under error/
            if stat.st_size and quiet >= self.settle and (quiet >= self.give_up or is_whole(path)):
                ready.append((stat.st_mtime_ns, path))
        for gone in set(self._seen) - present:
            del self._seen[gone]
        self.present = len(present)
        return [path for _, path in sorted(ready)]

    def handle(self, path: Path) -> bool:
        """Screens and files one settled file. False when the gateway could not answer (the file
        stays). Raises MailroomError when the token is refused: every file would be."""
        digest = digest_of(path)
        done = self.journal.lookup(path.name, digest)
        if done is None:
            key = (path.name, digest)
            reading = self._read.get(key)
            try:
                if reading is None:
                    reading = self._read[key] = self.screener.read(path)
                outcome = self.screener.screen(path.name, reading)
            except GatewayUnavailable as exc:
                if self.unavailable is None:
                    log.warning("gateway cannot answer (%s): scans wait in %s", exc, self.in_dir)
                self.unavailable = str(exc)
                return False
            except GatewayRefused as exc:
                if exc.status in (401, 403):
                    raise MailroomError(f"the gateway refused the token: {exc}") from None
                outcome = Outcome(path.name, "error", error=str(exc), reading=reading)
            except (MailroomError, OSError) as exc:
                outcome = Outcome(path.name, "error", error=str(exc))
            self._read.pop(key, None)
            if self.unavailable is not None:
                log.warning("gateway answers again")
                self.unavailable = None
            folder = outcome.decision
            done = Pending(
                path.name, digest, folder, self.journal.target_for(folder, path.name), outcome.to_dict()
            )
            self.journal.record(done)  # before the move: a restart finishes the filing, never re-screens
            self.show(outcome.line())
        target = self.journal.file(done)
        self._seen.pop(path.name, None)
        self.filed += 1
        log.info("filed %s under %s/ as %s", path.name, done.folder, target.name)
        return True

    def progress(self) -> str:
        """One status line for a terminal."""
        state = f"waiting for the gateway ({self.unavailable})" if self.unavailable else "watching"
        return f"{self.filed} filed, {self.waiting} waiting, {self.present} in the folder; {state}"

    def pass_once(self) -> bool:
        """One look at IN_DIR. False when the gateway could not answer (the rest waits too)."""
        ready = self.settled()
        for number, path in enumerate(ready):
            if not self.handle(path):
                self.waiting = len(ready) - number
                return False
            self.present -= 1
        self.waiting = 0
        return True


def run(args: argparse.Namespace) -> int:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    url, token, establishment, engine_name = settings(args)
    client = GatewayClient(url, token, args.timeout)
    if not args.in_dir.is_dir():
        raise MailroomError(f"{args.in_dir}: not a directory")
    journal = Journal(args.in_dir, args.out)
    stop: list[int] = []

    def stopping(signum: int, frame: FrameType | None) -> None:
        stop.append(signum)

    signal.signal(signal.SIGTERM, stopping)
    signal.signal(signal.SIGINT, stopping)
    try:
        for pending in journal.recover():
            log.info("finished filing %s under %s/ (interrupted before)", pending.name, pending.folder)
        establishment = establishment or _binding(client, stop, args.once)
        if not establishment:
            return 3 if args.once else 0
        screener = Screener(client, open_engine(engine_name), establishment, args.prisoner)
        watcher = Watcher(screener, journal, args.settle)
        log.info("watching %s, filing into %s (engine %s)", args.in_dir, args.out, engine_name)
        pause = args.poll
        while not stop:
            answered = watcher.pass_once()
            if sys.stderr.isatty():
                print(f"\r{watcher.progress()}\x1b[K", end="", file=sys.stderr, flush=True)
            if args.once and not answered:
                return 3  # the files stay for the next run
            if args.once and not watcher.present:
                return 0
            pause = args.poll if answered else min(MAX_PAUSE, max(pause * 2, 1.0))
            _sleep(pause, stop)
        return 0
    finally:
        journal.close()


def _binding(client: GatewayClient, stop: list[int], once: bool) -> str:
    """The token's establishment, asked of the gateway until it answers ("" when stopped first)."""
    pause = 1.0
    while not stop:
        try:
            return client.establishment()
        except GatewayRefused as exc:
            raise MailroomError(f"the gateway refused the token: {exc}") from None
        except GatewayUnavailable as exc:
            log.warning("gateway cannot answer (%s): asking for the token's establishment again", exc)
            if once:
                break
        _sleep(pause, stop)
        pause = min(MAX_PAUSE, pause * 2)
    return ""


def _sleep(seconds: float, stop: list[int]) -> None:
    deadline = time.monotonic() + seconds
    while not stop and time.monotonic() < deadline:
        time.sleep(min(0.1, deadline - time.monotonic()))
