"""Mailroom figures: how often a rendered envelope to a blocked address is blocked or held, and a
neighbour's is not, with each OCR engine; and envelopes per second per core including OCR, beside
decoding the scan alone (the baseline) in the same run.

The corpus (tests/support/addresses.py, tests/support/envelopes.py): BLOCKED blocked addresses,
each with its neighbours (the next house in the street, another flat in the same building) and a
few unrelated addresses; every envelope written in every font (5 printed, 4 handwriting-style)
at one of three noise levels, the sender's number top left, on the back or missing. OCR results
are cached under ~/.cache/nocontact-bench (keyed by the image, the engine and the OCR code), so a
rerun after a matcher change only screens again. NOCONTACT_BENCH_BLOCKED sets BLOCKED (20)."""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import json
import os
import random
import resource
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import PIL
import pytest

from benchmarks.figures import NOTES, RATIOS, TABLES, per_op, record
from config import load_profile
from gateway.mailroom import ocr as ocr_module
from gateway.mailroom.ocr import ENGINES, OcrLine, OcrPage, open_engine
from gateway.mailroom.reading import read_pages
from matcher.entries import Entry
from matcher.index import Index
from tests.support.addresses import Envelope, corpus, entries
from tests.support.envelopes import (
    HANDWRITING_FONTS,
    PRINTED_FONTS,
    RENDER_VERSION,
    Look,
    render,
    sender_lines,
)

BLOCKED = int(os.environ.get("NOCONTACT_BENCH_BLOCKED", "20"))
JOBS = int(os.environ.get("NOCONTACT_BENCH_JOBS", "2"))
FONTS = (*PRINTED_FONTS, *HANDWRITING_FONTS)
SENDERS = ("top_left", "back", "top_left", "none")
RETURN_ADDRESS = ("HMP Hull", "Hedon Road", "Hull HU9 5LS")
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "nocontact-bench" / "ocr"


def _engine_key(engine: str) -> str:
    """What an engine's readings depend on: its settings and its library's version (the text's
    clean-up runs after it, on every run)."""
    cls = ocr_module.RapidEngine if engine == "rapidocr" else ocr_module.TesseractEngine
    library = "rapidocr-onnxruntime" if engine == "rapidocr" else "pytesseract"
    described = f"{cls.settings}/{importlib.metadata.version(library)}"
    if engine == "tesseract":
        import pytesseract

        described += f"/{pytesseract.get_tesseract_version()}"
    return hashlib.sha256(described.encode()).hexdigest()[:12]


RATIOS.extend(
    (
        f"mailroom envelope ({engine}: decode, OCR, screen) / decode alone",
        f"mailroom_{engine}",
        "mailroom_decode",
    )
    for engine in ENGINES
)


# The corpus is rendered the same way every run: a scan's OCR is cached under its description.
CORPUS = f"render {RENDER_VERSION}, Pillow {PIL.__version__}"


@dataclass(frozen=True)
class Scan:
    envelope: Envelope
    look: Look
    sender: tuple[str, ...]

    @property
    def key(self) -> str:
        described = json.dumps([CORPUS, self.envelope.text, repr(self.look), self.sender])
        return hashlib.sha256(described.encode()).hexdigest()

    def pages(self) -> tuple[bytes, ...]:
        """The PNG files a scanner would write."""
        images = render((self.envelope.name, *self.envelope.lines), self.look, self.sender)
        return tuple(_png(image) for image in images)


def _png(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def corpus_scans() -> tuple[list[dict[str, Any]], list[Scan]]:
    """The entries to block, and every scan of the corpus (described, not yet rendered)."""
    protected, envelopes = corpus(seed=19, blocked=BLOCKED, unrelated=max(2, BLOCKED // 4))
    rng = random.Random(19)
    made = []
    for number, envelope in enumerate(envelopes):
        for font_number, font in enumerate(FONTS):
            look = Look(font, (number + font_number) % 3, SENDERS[(number * 7 + font_number) % 4], number)
            sender = sender_lines(rng, "A1234BC", "HMP Hull", RETURN_ADDRESS)  # drawn for every scan alike
            made.append(Scan(envelope, look, sender))
    return entries(protected), made


@pytest.fixture(scope="module")
def scans() -> tuple[list[dict[str, Any]], list[Scan]]:
    return corpus_scans()


def _ocr_job(engine: str, scan: Scan) -> list[dict[str, Any]]:
    from PIL import Image

    reader = _engines.get(engine) or _engines.setdefault(engine, open_engine(engine))
    read = [reader.read(Image.open(io.BytesIO(page)).convert("RGB")) for page in scan.pages()]
    return [{"lines": [[line.text, line.confidence, list(line.box)] for line in page.lines]} for page in read]


_engines: dict[str, Any] = {}


def _pages(data: list[dict[str, Any]], engine: str) -> list[OcrPage]:
    return [
        OcrPage(
            tuple(
                OcrLine(text, confidence, (box[0], box[1], box[2], box[3]))
                for text, confidence, box in page["lines"]
            ),
            engine,
        )
        for page in data
    ]


def ocr_all(engine: str, made: list[Scan]) -> Iterator[tuple[Scan, list[OcrPage]]]:
    """Each scan's OCR pages: rendered and read (in JOBS processes) only when not cached."""
    folder = CACHE / f"{engine}-{_engine_key(engine)}"
    folder.mkdir(parents=True, exist_ok=True)
    todo = [scan for scan in made if not (folder / f"{scan.key}.json").exists()]
    if todo:
        os.environ["OMP_THREAD_LIMIT"] = "1"
        with ProcessPoolExecutor(JOBS) as pool:
            for scan, data in zip(todo, pool.map(_ocr_job, [engine] * len(todo), todo), strict=True):
                (folder / f"{scan.key}.json").write_text(json.dumps(data))
    for scan in made:
        yield scan, _pages(json.loads((folder / f"{scan.key}.json").read_text()), engine)


def _share(counts: Counter[str], part: str, whole: str) -> str:
    total = counts[whole]
    return f"{100 * counts[part] / total:5.1f}% ({counts[part]}/{total})" if total else "  n/a"


@pytest.mark.parametrize("engine", ENGINES)
def test_mailroom_accuracy(
    benchmark: Any, scans: tuple[list[dict[str, Any]], list[Scan]], engine: str
) -> None:
    data, made = scans
    index = Index.build([Entry.from_dict(e) for e in data], load_profile(environ={}))
    counts: Counter[str] = Counter()
    missed: list[str] = []
    every: list[dict[str, Any]] = []  # for a look at what went wrong, kept beside the cache
    for scan, pages in ocr_all(engine, made):
        reading = read_pages(pages)
        answer = index.screen_mail("HLI", reading.prisoner, reading.text)
        decision = answer.decision
        every.append(
            {
                "kind": scan.envelope.kind,
                "look": repr(scan.look),
                "written": scan.envelope.text,
                "read": reading.text,
                "prisoner": reading.prisoner,
                "decision": decision,
                "reason": answer.reason,
            }
        )
        style = "handwriting" if scan.look.handwriting else "printed"
        kind = scan.envelope.kind
        for group in (
            f"{style} {kind}",
            f"{style} neighbour" if kind in ("next_house", "other_flat") else "",
        ):
            if group:
                counts[group] += 1
                counts[f"{group} {decision}"] += 1
                if decision != "allow":
                    counts[f"{group} acted"] += 1
                if answer.reason == "unreadable":
                    counts[f"{group} unreadable"] += 1
        if scan.look.sender != "none":
            counts["sender written"] += 1
            counts["sender read"] += reading.prisoner == "A1234BC"
            counts["sender misread"] += reading.prisoner not in (None, "A1234BC")
        if kind == "blocked" and decision == "allow" and len(missed) < 12:
            missed.append(f"{scan.look.font}/{scan.look.noise}: {reading.text!r}")
    lines = [f"mailroom accuracy, {engine} ({len(made)} envelopes, {BLOCKED} blocked addresses):"]
    for style in ("printed", "handwriting"):
        group = f"{style} blocked"
        lines.append(
            f"  {style:<12} blocked: block-or-hold {_share(counts, f'{group} acted', group)},"
            f" block {_share(counts, f'{group} block', group)},"
            f" held unreadable {_share(counts, f'{group} unreadable', group)}"
        )
        for kind in ("next_house", "other_flat", "neighbour", "unrelated"):
            group = f"{style} {kind}"
            lines.append(
                f"  {style:<12} {kind:<10}: blocked {_share(counts, f'{group} block', group)},"
                f" held {_share(counts, f'{group} hold', group)}"
                f" (unreadable {_share(counts, f'{group} unreadable', group)})"
            )
    lines.append(
        f"  sender's number read {_share(counts, 'sender read', 'sender written')},"
        f" misread {_share(counts, 'sender misread', 'sender written')}"
    )
    lines += ["  missed (first 12):", *(f"    {m}" for m in missed)]
    TABLES.append("\n".join(lines))
    (CACHE / f"last-{engine}.json").write_text(json.dumps(every, indent=1))
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    assert counts["printed blocked"] and counts["handwriting blocked"]


def _cpu() -> float:
    """CPU seconds of this process and its finished children (tesseract runs as a child)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


SAMPLE = 16  # envelopes timed per round, drawn from the whole corpus (a quarter have a back page)


def _sample(made: list[Scan]) -> list[Scan]:
    return random.Random(7).sample(made, min(SAMPLE, len(made)))


def test_mailroom_decode(benchmark: Any, scans: tuple[list[dict[str, Any]], list[Scan]]) -> None:
    from PIL import Image

    sample = _sample(scans[1])
    pages = {scan.key: scan.pages() for scan in sample}

    def run() -> None:
        for scan in sample:
            for page in pages[scan.key]:
                Image.open(io.BytesIO(page)).convert("RGB")

    per_op(benchmark, run, len(sample), "mailroom_decode", rounds=5)


@pytest.mark.parametrize("engine", ENGINES)
def test_mailroom_throughput(
    benchmark: Any, scans: tuple[list[dict[str, Any]], list[Scan]], engine: str
) -> None:
    """Decode, OCR (the engine on one thread) and screen, in this process: the CPU time of one
    envelope is what one core spends on it."""
    from PIL import Image

    data, made = scans
    index = Index.build([Entry.from_dict(e) for e in data], load_profile(environ={}))
    os.environ["OMP_THREAD_LIMIT"] = "1"
    reader = open_engine(engine, threads=1)
    sample = _sample(made)
    files = {scan.key: scan.pages() for scan in sample}
    cpu: list[float] = []

    def run() -> None:
        started = _cpu()
        for scan in sample:
            pages = [reader.read(Image.open(io.BytesIO(page)).convert("RGB")) for page in files[scan.key]]
            reading = read_pages(pages)
            index.screen_mail("HLI", reading.prisoner, reading.text)
        cpu.append((_cpu() - started) / len(sample))

    started = time.perf_counter()
    per_op(benchmark, run, len(sample), f"mailroom_{engine}", rounds=3)
    cpu.sort()
    pages = sum(len(files[scan.key]) for scan in sample) / len(sample)
    median = cpu[len(cpu) // 2]
    NOTES[f"mailroom_{engine}"] = (
        f"CPU {median:.2f} s/envelope ({pages:.2f} pages): {1 / median:.2f} envelopes/s per core"
        f" ({time.perf_counter() - started:.0f} s)"
    )
    record(f"mailroom_{engine}_cpu", median * 1e9)
