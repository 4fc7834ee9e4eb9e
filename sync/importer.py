"""``nocontact import FILE.jsonl``: bulk-load entries (one JSON object a line, as in the API).

Every line is validated first (JSON, the entry's structure, and whether the matcher can index it
under the profile), and every bad line is reported on stderr as ``line N: FIELD: problem``.

- By default the good lines are loaded and the command exits 1 if any line failed: each line is
  an independent block, and holding back the good ones would leave those people unprotected
  because of someone else's typo. ``--strict`` loads nothing unless every line is good.
- ``--replace`` republishes the whole blocklist from the file (a new epoch); it implies
  ``--strict``. An empty list, or one more than ``[sync] max_shrink`` shorter than the store's, is
  refused before anything is published (exit 1, saying why) unless ``--allow-shrink`` licenses it:
  the gateways would refuse it and keep serving the old list. The entries requests own are kept
  (they change only through their requests, which still say authorised), and the count is said.
- A line whose reference is a request's id (``sync.owners``) would replace that request's block
  behind its back: the whole import is refused before anything is written (exit 1), naming the
  lines and references. Take those lines out; a request's block changes through the request.

Writes are batched: ``--batch`` entries per atomic script (one version and one stream message
each), several scripts per pipeline round trip. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TextIO

import config
from config import establishments
from matcher.entries import Entry
from matcher.errors import ConfigError, ValidationError
from matcher.index import Index
from matcher.profile import Profile
from sync.changes import OP_UPSERT
from sync.client import sync_client
from sync.embedded import store_url
from sync.errors import OwnedByRequest, ShrinkRefused, SyncError
from sync.owners import owned
from sync.settings import SyncSettings
from sync.writer import Writer

MAX_REPORTED = 1000
SCRIPTS_PER_ROUND_TRIP = 8


@dataclass
class LineError:
    line: int
    field: str
    detail: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.detail}"


@dataclass
class Parsed:
    entries: list[Entry] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)
    lines: int = 0
    line_of: dict[str, int] = field(default_factory=dict)  # reference -> its line


OWNED_ADVICE = (
    "A request's block changes only through the request (POST /v1/requests/ID/..., the web UI or "
    "`nocontact case`): take these lines out of the file; the requests' blocks stay as they are"
)


def report_owned(err: TextIO, refusal: OwnedByRequest, line_of: dict[str, int], *, loaded: str) -> None:
    """``line N: reference: R belongs to request R`` per line (references only, never the
    entry's details), then what was loaded and what to do instead."""
    lines = sorted((line_of.get(reference, 0), reference) for reference in refusal.references)
    for number, reference in lines[:MAX_REPORTED]:
        err.write(f"line {number}: reference: {reference} belongs to request {reference}\n")
    if len(lines) > MAX_REPORTED:
        err.write(f"... and {len(lines) - MAX_REPORTED} more lines naming requests' entries\n")
    err.write(f"import: {len(lines)} lines name requests' entries; {loaded}. {OWNED_ADVICE}\n")


class EntryChecker:
    """What ``matcher.index.check_entry`` checks, at a fraction of the cost: entries are indexed in
    batches on top of one shared empty index, instead of building a fresh index (and its profile
    context) per line. Index building names the first bad entry; it is set aside and the rest of
    the batch is tried again."""

    BATCH = 500

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self._empty = Index.build([], profile)

    def __call__(self, entry: Entry) -> None:
        self._empty.with_changes([entry], [], version=0)

    def check_many(self, entries: list[Entry]) -> dict[str, ValidationError]:
        """Bad entries by reference (references are unique here)."""
        bad: dict[str, ValidationError] = {}
        pending = {e.reference: e for e in entries}
        while pending:
            if len(bad) > len(entries) // 10:  # a bad batch: one at a time is cheaper than retries
                for reference, entry in pending.items():
                    try:
                        self(entry)
                    except ValidationError as exc:
                        bad[reference] = exc
                return bad
            try:
                self._empty.with_changes(list(pending.values()), [], version=0)
                return bad
            except ValidationError as exc:
                reference = exc.field.split(": ", 1)[0]
                if reference not in pending:
                    raise
                bad[reference] = exc
                del pending[reference]
        return bad


class Progress:
    """A one-line progress bar on a terminal; a line every 10% otherwise."""

    def __init__(self, stream: TextIO, total: int, label: str) -> None:
        self.stream = stream
        self.total = max(total, 1)
        self.label = label
        self.tty = stream.isatty()
        self._last = 0.0
        self._decile = -1

    def update(self, done: int) -> None:
        share = done / self.total
        if self.tty:
            now = time.monotonic()
            if now - self._last >= 0.1 or done >= self.total:
                self._last = now
                bar = "#" * int(share * 30)
                self.stream.write(f"\r{self.label} [{bar:<30}] {done}/{self.total}")
                self.stream.flush()
        elif int(share * 10) > self._decile:
            self._decile = int(share * 10)
            self.stream.write(f"{self.label}: {done}/{self.total} ({share:.0%})\n")

    def done(self) -> None:
        if self.tty:
            self.stream.write("\n")


def parse_lines(
    lines: Iterator[str], checker: EntryChecker, progress: Callable[[int], None] | None = None
) -> Parsed:
    parsed = Parsed()
    first_seen: dict[str, int] = {}
    numbered: list[tuple[int, Entry]] = []
    for number, line in enumerate(lines, start=1):
        parsed.lines = number
        if not line.strip():
            continue
        try:
            data: Any = json.loads(line)
        except json.JSONDecodeError as exc:
            parsed.errors.append(LineError(number, "(line)", f"not JSON ({exc.msg} at column {exc.colno})"))
            continue
        try:
            entry = Entry.from_dict(data)
            establishments.entry(checker.profile, data)  # scope codes registered, prison numbers
        except ValidationError as exc:
            parsed.errors.append(LineError(number, exc.field, exc.detail))
            continue
        if entry.reference in first_seen:
            where = first_seen[entry.reference]
            parsed.errors.append(LineError(number, "reference", f"{entry.reference} already on line {where}"))
            continue
        first_seen[entry.reference] = number
        numbered.append((number, entry))
    parsed.line_of = first_seen
    for start in range(0, len(numbered), checker.BATCH):
        batch = numbered[start : start + checker.BATCH]
        bad = checker.check_many([entry for _, entry in batch])
        for number, entry in batch:
            error = bad.get(entry.reference)
            if error is None:
                parsed.entries.append(entry)
            else:
                # the index names the entry as "<reference>: <field>"; the line number says which
                parsed.errors.append(LineError(number, error.field.split(": ", 1)[-1], error.detail))
        if progress is not None:
            progress(batch[-1][0])
    if progress is not None:
        progress(parsed.lines)
    parsed.errors.sort(key=lambda e: e.line)
    return parsed


def load(
    writer: Writer, entries: list[Entry], *, batch: int, progress: Callable[[int], None] | None = None
) -> int:
    """Upsert `entries` in atomic batches, pipelined; returns the store version afterwards, once the
    writer's replicas hold them all."""
    version = 0
    done = 0
    step = batch * SCRIPTS_PER_ROUND_TRIP
    for start in range(0, len(entries), step):
        pipe = writer.client.pipeline(transaction=False)
        chunk = entries[start : start + step]
        for i in range(0, len(chunk), batch):
            writer.pipeline_apply(pipe, [(OP_UPSERT, e) for e in chunk[i : i + batch]])
        refused: list[str] = []
        for reply in pipe.execute(raise_on_error=False):
            try:
                results = writer.results(reply)
            except OwnedByRequest as exc:  # a request took the id after the check: that batch wrote nothing
                refused += exc.references
                continue
            version = max([version, *(r.version for r in results)])
        if refused:
            raise OwnedByRequest(tuple(refused))
        done += len(chunk)
        if progress is not None:
            progress(done)
    writer.acknowledge()  # every batch on the replicas, or NotReplicated: not reported as loaded
    return version


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "import",
        help="bulk-load entries from a JSON Lines file",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", type=Path, metavar="FILE.jsonl", help="one entry per line ('-' for stdin)")
    add_store_options(parser)
    parser.add_argument("--strict", action="store_true", help="load nothing unless every line is valid")
    parser.add_argument("--replace", action="store_true", help="republish the whole blocklist from the file")
    parser.add_argument("--allow-shrink", action="store_true", help="with --replace: the list may shrink")
    parser.add_argument("--batch", type=int, default=500, help="entries per atomic write (default 500)")
    parser.set_defaults(handler=run)


def add_store_options(parser: Any) -> None:
    """The options saying which store a command writes to (``import``, ``init``)."""
    parser.add_argument("--redis-url", help="default: NOCONTACT_REDIS_URL, else the embedded Redis")
    parser.add_argument("--data-dir", type=Path, help="the embedded Redis's data directory (default: ./data)")
    parser.add_argument("--prefix", help="Redis key prefix (default: nocontact:)")
    parser.add_argument("--config", help="deployment file (profile and [sync] table)")


def store_settings(args: argparse.Namespace) -> SyncSettings:
    """SyncSettings from the deployment file, the environment and `add_store_options`' options."""
    settings = SyncSettings.from_mapping(config.deployment_table(args.config, "sync"))
    overrides: dict[str, Any] = {}
    if args.redis_url:
        overrides["redis_url"] = args.redis_url
    if args.data_dir:
        overrides["data_dir"] = args.data_dir
    if args.prefix:
        overrides["prefix"] = args.prefix
    return settings.with_(**overrides) if overrides else settings


def run(args: argparse.Namespace, *, stderr: TextIO | None = None) -> int:
    err = stderr or sys.stderr
    try:
        settings = store_settings(args)
        profile = config.load_profile(args.config)
    except (ConfigError, OSError, ValueError) as exc:
        err.write(f"import: {exc}\n")
        return 2
    if args.batch < 1:
        err.write("import: --batch must be at least 1\n")
        return 2
    try:
        source: IO[str] = sys.stdin if str(args.file) == "-" else args.file.open(encoding="utf-8")
    except OSError as exc:
        err.write(f"import: cannot read {args.file}: {exc.strerror}\n")
        return 2
    with source:
        try:
            lines = source.readlines()
        except UnicodeDecodeError as exc:
            err.write(f"import: {args.file} is not UTF-8 ({exc.reason} at byte {exc.start})\n")
            return 2
    started = time.monotonic()
    checking = Progress(err, len(lines), "import: checking")
    parsed = parse_lines(iter(lines), EntryChecker(profile), checking.update)
    checking.done()
    for error in parsed.errors[:MAX_REPORTED]:
        err.write(f"{error}\n")
    if len(parsed.errors) > MAX_REPORTED:
        err.write(f"... and {len(parsed.errors) - MAX_REPORTED} more bad lines\n")
    strict = args.strict or args.replace
    if parsed.errors and strict:
        err.write(f"import: {len(parsed.errors)} bad lines; nothing loaded (--strict/--replace)\n")
        return 1
    try:
        with store_url(settings.redis_url, settings.data_dir) as url:
            client = sync_client(url, settings, name="nocontact-import")
            writer = Writer.configured(client, settings)
            with client:
                if args.replace:
                    result = writer.republish(
                        parsed.entries, allow_shrink=args.allow_shrink, batch=args.batch
                    )
                    version, kept = result.version, result.kept
                else:
                    taken = owned(client, settings.keys, (e.reference for e in parsed.entries))
                    if taken:
                        report_owned(
                            err, OwnedByRequest(tuple(taken)), parsed.line_of, loaded="nothing loaded"
                        )
                        return 1
                    writing = Progress(err, len(parsed.entries), "import: writing")
                    try:
                        version = load(writer, parsed.entries, batch=args.batch, progress=writing.update)
                    except OwnedByRequest as exc:  # the writer's own check, atomic with each batch
                        writing.done()
                        loaded = "the batches holding them were not loaded, others may have been"
                        report_owned(err, exc, parsed.line_of, loaded=loaded)
                        return 1
                    writing.done()
    except OwnedByRequest as exc:  # --replace: nothing was published
        report_owned(err, exc, parsed.line_of, loaded="nothing published (--replace)")
        return 1
    except ShrinkRefused as exc:
        err.write(f"import: {exc}. If the list is meant to be this short, pass --allow-shrink.\n")
        return 1
    except (SyncError, OSError) as exc:
        err.write(f"import: {exc}\n")
        return 2
    except Exception as exc:  # redis errors: name them without a traceback
        err.write(f"import: Redis error: {exc.__class__.__name__}: {exc}\n")
        return 2
    elapsed = time.monotonic() - started
    err.write(
        f"import: {len(parsed.entries)} entries loaded, {len(parsed.errors)} lines failed, "
        f"store version {version} ({elapsed:.1f}s)\n"
    )
    if args.replace:
        err.write(f"import: {kept} requests' entries kept (they change only through their requests)\n")
    return 1 if parsed.errors else 0
