"""Envelope images for mailroom tests and benchmarks, rendered with Pillow from the Debian fonts:
printed (a label or a typed address) and handwriting-style (fonts-dkg-handwriting, fonts-breip,
fonts-humor-sans, fonts-comic-neue: each line wanders, leans and changes size a little), a stamp,
the sender's name and prison number top left or on the back with the prison's return address,
then the scanner's faults by level: skew, blur, sensor noise, uneven light, JPEG artefacts."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

FONT_DIR = Path("/usr/share/fonts")
PRINTED_FONTS: dict[str, str] = {
    "DejaVu Sans": "truetype/dejavu/DejaVuSans.ttf",
    "DejaVu Serif": "truetype/dejavu/DejaVuSerif.ttf",
    "Liberation Sans": "truetype/liberation/LiberationSans-Regular.ttf",
    "Liberation Serif": "truetype/liberation/LiberationSerif-Regular.ttf",
    "Liberation Mono": "truetype/liberation/LiberationMono-Regular.ttf",
}
HANDWRITING_FONTS: dict[str, str] = {
    "DkgHandwriting": "truetype/fifthhorseman/dkg.ttf",
    "Breip": "truetype/breip/Breip.ttf",
    "Humor Sans": "truetype/humor-sans/Humor-Sans.ttf",
    "Comic Neue": "opentype/comic-neue/ComicNeue-Regular.otf",
}
# The Debian package each font comes from (a test skips, naming it, when one is missing).
FONT_PACKAGES = {
    "DejaVu Sans": "fonts-dejavu-core",
    "DejaVu Serif": "fonts-dejavu-core",
    "Liberation Sans": "fonts-liberation",
    "Liberation Serif": "fonts-liberation",
    "Liberation Mono": "fonts-liberation",
    "DkgHandwriting": "fonts-dkg-handwriting",
    "Breip": "fonts-breip",
    "Humor Sans": "fonts-humor-sans",
    "Comic Neue": "fonts-comic-neue",
}
# Bumped whenever a change alters the pixels rendered (bench_mailroom caches OCR under it).
RENDER_VERSION = "1"
SIZE = (1400, 700)  # a DL envelope (220 x 110 mm) scanned at about 160 dpi
INKS = ((18, 22, 30), (20, 35, 120), (35, 35, 60))  # black, blue and blue-black ballpoint


@dataclass(frozen=True)
class Noise:
    """One level of scanner fault."""

    skew: float  # degrees, either way
    blur: float  # Gaussian radius in pixels
    grain: float  # sensor noise sigma
    light: float  # 0..1: how far one side is darker than the other
    jpeg: int | None  # re-encoded at this quality


NOISE = (
    Noise(skew=0.8, blur=0.4, grain=4, light=0.0, jpeg=None),
    Noise(skew=2.0, blur=0.9, grain=10, light=0.15, jpeg=75),
    Noise(skew=4.0, blur=1.4, grain=18, light=0.3, jpeg=50),
)


@dataclass(frozen=True)
class Look:
    """How one envelope is written and scanned."""

    font: str
    noise: int = 0
    sender: str = "top_left"  # "top_left" | "back" | "none"
    seed: int = 0

    @property
    def handwriting(self) -> bool:
        return self.font in HANDWRITING_FONTS


def font_path(font: str) -> Path:
    relative = PRINTED_FONTS.get(font) or HANDWRITING_FONTS[font]
    return FONT_DIR / relative


def missing_fonts() -> list[str]:
    """The Debian packages of fonts this machine lacks."""
    return sorted(
        {FONT_PACKAGES[f] for f in (*PRINTED_FONTS, *HANDWRITING_FONTS) if not font_path(f).exists()}
    )


def render(lines: tuple[str, ...] | list[str], look: Look, sender: tuple[str, ...] = ()) -> list[Image.Image]:
    """The envelope's scanned pages: the front, and the back when the sender wrote there."""
    rng = random.Random(f"{look.seed}/{look.font}/{look.noise}/{'|'.join(lines)}")
    paper = rng.choice(((250, 250, 246), (244, 238, 222), (236, 226, 196), (252, 252, 252)))
    front = Image.new("RGB", SIZE, paper)
    draw = ImageDraw.Draw(front)
    _stamp(draw, rng)
    ink = rng.choice(INKS) if look.handwriting else (15, 15, 15)
    if not look.handwriting and rng.random() < 0.5:  # a printed label
        draw.rectangle((440, 260, 1180, 610), fill=(255, 255, 255), outline=(225, 225, 225))
    size = rng.randint(40, 50) if look.handwriting else rng.randint(30, 38)
    _write(front, lines, look, rng, (rng.randint(470, 560), rng.randint(285, 330)), size, ink)
    pages = [front]
    if look.sender == "top_left" and sender:
        _write(front, sender, look, rng, (rng.randint(40, 80), rng.randint(30, 60)), int(size * 0.75), ink)
    elif look.sender == "back" and sender:
        back = Image.new("RGB", SIZE, paper)
        ImageDraw.Draw(back).line((0, 230, SIZE[0] // 2, 360, SIZE[0], 230), fill=(200, 195, 185), width=3)
        _write(back, sender, look, rng, (rng.randint(380, 520), rng.randint(400, 440)), int(size * 0.8), ink)
        pages.append(back)
    return [_scanned(page, NOISE[look.noise], rng) for page in pages]


def _stamp(draw: ImageDraw.ImageDraw, rng: random.Random) -> None:
    x, y = rng.randint(1170, 1230), rng.randint(30, 60)
    colour = rng.choice(((150, 30, 50), (60, 40, 120), (40, 100, 60)))
    draw.rectangle((x, y, x + 130, y + 160), fill=colour)
    draw.ellipse((x + 30, y + 40, x + 100, y + 120), fill=(235, 225, 215))
    for wave in range(4):  # the franking's wavy lines
        top = y + 30 + wave * 30
        draw.line(
            [(x - 200 + i * 20, top + (8 if i % 2 else -8)) for i in range(12)], fill=(60, 60, 60), width=3
        )


def _write(
    page: Image.Image,
    lines: tuple[str, ...] | list[str],
    look: Look,
    rng: random.Random,
    origin: tuple[int, int],
    size: int,
    ink: tuple[int, int, int],
) -> None:
    x, y = origin
    for line in lines:
        height = int(size * rng.uniform(0.92, 1.08)) if look.handwriting else size
        font = ImageFont.truetype(str(font_path(look.font)), height)
        left, top, right, bottom = (int(edge) for edge in font.getbbox(line))
        stroke = Image.new("L", (right - left + 20, bottom - top + 20), 0)
        ImageDraw.Draw(stroke).text((10 - left, 10 - top), line, font=font, fill=255)
        if look.handwriting:
            stroke = stroke.rotate(rng.uniform(-2.5, 2.5), resample=Image.Resampling.BICUBIC, expand=True)
            dx, dy = rng.randint(-18, 18), rng.randint(-5, 5)
        else:
            dx = dy = 0
        if x + dx + stroke.width > page.width - 10:  # a long line starts further left, as a person would
            dx = page.width - 10 - stroke.width - x
        page.paste(Image.new("RGB", stroke.size, ink), (x + dx, y + dy), stroke)
        y += int(height * (rng.uniform(1.25, 1.5) if look.handwriting else 1.3))


def _scanned(page: Image.Image, noise: Noise, rng: random.Random) -> Image.Image:
    angle = rng.uniform(-noise.skew, noise.skew)
    page = page.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=(40, 40, 40))
    if noise.light:
        shade = Image.linear_gradient("L").rotate(rng.choice((90, -90, 0, 180))).resize(page.size)
        dark = Image.new("RGB", page.size, (0, 0, 0))
        page = Image.composite(dark, page, shade.point(lambda v: int(v * noise.light)))
    if noise.blur:
        page = page.filter(ImageFilter.GaussianBlur(noise.blur * rng.uniform(0.7, 1.2)))
    if noise.grain:
        grain = Image.effect_noise(page.size, noise.grain).convert("RGB")
        page = ImageChops.add(page, grain, scale=1.0, offset=-128)
    if noise.jpeg is not None:
        buffer = io.BytesIO()
        page.save(buffer, "JPEG", quality=noise.jpeg)
        page = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    return page


def sender_lines(
    rng: random.Random, number: str, prison: str, return_address: tuple[str, ...] = ()
) -> tuple[str, ...]:
    """What a prisoner writes as sender: name and number, now and then the prison's address."""
    surname = rng.choice(("Bloggs", "Carter", "Mason", "Fletcher", "Barker", "Doyle"))
    first = rng.choice(("From: ", "", "Sender: "))
    lines = [f"{first}{rng.choice('JPDMS')} {surname} {number}", prison]
    if return_address and rng.random() < 0.5:
        lines = [*lines[:1], *return_address]
    return tuple(lines)
