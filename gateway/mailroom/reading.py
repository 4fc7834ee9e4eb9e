"""One scanned file read: every page OCR'd, the text the gateway screens, and the sender's
prison number when the scan shows exactly one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gateway.mailroom.ocr import Engine, OcrLine, OcrPage
from gateway.mailroom.pages import load_pages
from gateway.mailroom.prisoner import sender_number
from gateway.mailroom.text import respaced


@dataclass(frozen=True, slots=True)
class Reading:
    """What OCR made of one envelope. `text` is every page's lines, page after page (the front,
    then the back with the sender and the prison's return address, which the matcher ignores)."""

    pages: tuple[OcrPage, ...]
    prisoner: str | None  # the sender's prison number read from the scan

    @property
    def text(self) -> str:
        return "\n\n".join(page.text for page in self.pages if page.lines)

    @property
    def confidence(self) -> float:
        total = sum(len(line.text) for page in self.pages for line in page.lines)
        if not total:
            return 0.0
        return sum(line.confidence * len(line.text) for page in self.pages for line in page.lines) / total

    @property
    def engine(self) -> str:
        return self.pages[0].engine if self.pages else ""


def read_pages(pages: list[OcrPage]) -> Reading:
    """The engine's pages with their lost spaces put back, and the sender's number."""
    raw = "\n".join(line.text for page in pages for line in page.lines)
    spaced = tuple(
        OcrPage(
            tuple(OcrLine(respaced(line.text), line.confidence, line.box) for line in page.lines), page.engine
        )
        for page in pages
    )
    return Reading(spaced, sender_number(raw, "\n".join(page.text for page in spaced)))


def read_file(path: Path, engine: Engine) -> Reading:
    """Raises MailroomError naming the file when it cannot be read as an image or PDF."""
    return read_pages([engine.read(page) for page in load_pages(path)])
