"""Scanned files as page images: PNG, JPEG (turned upright by its EXIF orientation, as phones
write them), TIFF (every frame) and PDF (every page, through poppler's pdftoppm). One file is one
envelope; its pages are its sides. The type is read from the file's first bytes, not its name."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.mailroom.errors import MailroomError

if TYPE_CHECKING:
    from PIL.Image import Image

KINDS = {
    b"\x89PNG\r\n\x1a\n": "png",
    b"\xff\xd8\xff": "jpeg",
    b"II*\x00": "tiff",
    b"MM\x00*": "tiff",
    b"%PDF-": "pdf",
}
SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".pdf"})
MAX_PAGES = 8  # an envelope has two sides; a longer file is a batch scanned by mistake
MAX_SIDE = 4000  # pixels: larger scans are shrunk before OCR (the detector shrinks them anyway)
PDF_DPI = 200
PDF_TIMEOUT = 60.0


def kind_of(head: bytes) -> str | None:
    """ "png" | "jpeg" | "tiff" | "pdf" from a file's first bytes, or None."""
    for magic, kind in KINDS.items():
        if head.startswith(magic):
            return kind
    return None


def file_kind(path: Path) -> str:
    with path.open("rb") as fh:
        kind = kind_of(fh.read(8))
    if kind is None:
        raise MailroomError(f"{path.name}: not a PNG, JPEG, TIFF or PDF file")
    return kind


def load_pages(path: Path) -> list[Image]:
    """The file's pages as RGB images. Raises MailroomError naming the file for anything that is
    not a complete image or PDF of at most MAX_PAGES pages."""
    kind = file_kind(path)
    try:
        pages = _pdf_pages(path) if kind == "pdf" else _image_pages(path)
    except MailroomError:
        raise
    except (OSError, ValueError, SyntaxError) as exc:  # Pillow's ways of saying "truncated or corrupt"
        raise MailroomError(f"{path.name}: cannot be read as {kind.upper()} ({exc})") from None
    if not pages:
        raise MailroomError(f"{path.name}: no pages")
    return [_bounded(page) for page in pages]


def _image_pages(path: Path) -> list[Image]:
    from PIL import Image as PILImage
    from PIL import ImageOps, ImageSequence

    with PILImage.open(path) as image:
        pages: list[Image] = []
        for frame in ImageSequence.Iterator(image):
            if len(pages) == MAX_PAGES:
                raise MailroomError(f"{path.name}: more than {MAX_PAGES} pages (one file is one envelope)")
            upright = ImageOps.exif_transpose(frame)
            pages.append(upright.convert("RGB"))  # convert() loads every pixel: a truncated file fails here
        return pages


def _pdf_pages(path: Path) -> list[Image]:
    from PIL import Image as PILImage

    program = shutil.which("pdftoppm")
    if program is None:
        raise MailroomError(
            "PDF scans need pdftoppm (Debian: apt-get install poppler-utils; ./dev installs it)"
        )
    with tempfile.TemporaryDirectory(prefix="nocontact-pdf-") as tmp:
        try:
            done = subprocess.run(
                [program, "-r", str(PDF_DPI), "-l", str(MAX_PAGES + 1), "-png", str(path), f"{tmp}/page"],
                capture_output=True,
                timeout=PDF_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise MailroomError(f"{path.name}: pdftoppm took over {PDF_TIMEOUT:g}s") from None
        if done.returncode != 0:
            reason = done.stderr.decode(errors="replace").strip().splitlines()
            raise MailroomError(
                f"{path.name}: cannot be read as PDF ({reason[-1] if reason else done.returncode})"
            )
        files = sorted(Path(tmp).glob("page*.png"))
        if len(files) > MAX_PAGES:
            raise MailroomError(f"{path.name}: more than {MAX_PAGES} pages (one file is one envelope)")
        pages = []
        for file in files:
            with PILImage.open(file) as page:
                pages.append(page.convert("RGB"))
        return pages


def _bounded(page: Image) -> Image:
    if max(page.size) <= MAX_SIDE:
        return page
    scale = MAX_SIDE / max(page.size)
    return page.resize((round(page.width * scale), round(page.height * scale)))
