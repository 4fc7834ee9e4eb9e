"""Scanned files as pages: PNG, JPEG (upright by EXIF), multi-page TIFF and PDF; anything else,
or a file cut short, is refused naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from gateway.mailroom.errors import MailroomError
from gateway.mailroom.pages import MAX_PAGES, load_pages
from tests.support.tools import require_command


def sides() -> list[Image.Image]:
    front = Image.new("RGB", (300, 150), (250, 250, 250))
    front.paste((0, 0, 0), (10, 10, 60, 40))  # a dark mark top left, to see turns
    back = Image.new("RGB", (300, 150), (200, 200, 200))
    return [front, back]


def test_png_and_jpeg_are_one_page(tmp_path: Path) -> None:
    front = sides()[0]
    front.save(tmp_path / "a.png")
    front.save(tmp_path / "b.jpg", quality=90)
    front.save(tmp_path / "no-suffix", "PNG")  # the type comes from the bytes, not the name
    for name in ("a.png", "b.jpg", "no-suffix"):
        pages = load_pages(tmp_path / name)
        assert [(p.size, p.mode) for p in pages] == [((300, 150), "RGB")]


def test_a_phone_photo_is_turned_upright_by_its_exif_orientation(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned: display rotated 90 degrees clockwise
    sides()[0].save(tmp_path / "photo.jpg", exif=exif)
    (page,) = load_pages(tmp_path / "photo.jpg")
    assert page.size == (150, 300)


def test_every_page_of_a_tiff_and_a_pdf(tmp_path: Path) -> None:
    front, back = sides()
    front.save(tmp_path / "both.tiff", save_all=True, append_images=[back])
    assert len(load_pages(tmp_path / "both.tiff")) == 2
    require_command("pdftoppm", "poppler-utils")
    front.save(tmp_path / "both.pdf", save_all=True, append_images=[back], resolution=100)
    pages = load_pages(tmp_path / "both.pdf")
    assert len(pages) == 2
    assert pages[0].getpixel((10, 10)) != pages[1].getpixel((10, 10))


@pytest.mark.parametrize("kind", ["PNG", "JPEG", "PDF"])
def test_a_file_cut_short_is_refused_naming_it(tmp_path: Path, kind: str) -> None:
    if kind == "PDF":
        require_command("pdftoppm", "poppler-utils")
    whole = tmp_path / f"whole.{kind.lower()}"
    sides()[0].save(whole, kind)
    cut = tmp_path / f"cut.{kind.lower()}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 3])
    with pytest.raises(MailroomError, match=f"^cut.{kind.lower()}: "):
        load_pages(cut)


def test_what_is_not_a_scan_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("Mrs J Smith, 27 Meadow Lane")
    with pytest.raises(MailroomError, match=r"^notes.txt: not a PNG, JPEG, TIFF or PDF file$"):
        load_pages(tmp_path / "notes.txt")
    front = sides()[0]
    front.save(tmp_path / "batch.tiff", save_all=True, append_images=[front] * MAX_PAGES)
    with pytest.raises(MailroomError, match="one file is one envelope"):
        load_pages(tmp_path / "batch.tiff")
