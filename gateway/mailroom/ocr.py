"""OCR engines behind one interface: an image in, its lines of text with a confidence and a box
out. RapidOCR (PP-OCR ONNX models shipped inside the `rapidocr-onnxruntime` wheel; nothing is
downloaded) and Tesseract (Debian's `tesseract-ocr` through `pytesseract`). The default was chosen
by measurement on rendered envelopes (benchmarks/bench_mailroom.py; figures in
benchmarks/README.md). Each engine's library is imported when the engine is opened, never at
import time: the gateway's serving process imports this module's names without the libraries."""

from __future__ import annotations

import importlib
import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from gateway.mailroom.errors import MailroomError

if TYPE_CHECKING:
    from PIL.Image import Image

log = logging.getLogger("nocontact.mailroom.ocr")

ENGINES = ("rapidocr", "tesseract")
DEFAULT_ENGINE = "rapidocr"
# The modules an engine loads: none of them may be in the serving process (tests check it).
RAPID_SIDE = 1100  # pixels, the longer side
TESSERACT_MIN_CONFIDENCE = 30  # of 100: below it, a "word" is mostly paper grain read as letters
OCR_MODULES = ("rapidocr_onnxruntime", "onnxruntime", "cv2", "pytesseract", "numpy", "PIL")


@dataclass(frozen=True, slots=True)
class OcrLine:
    """One line of text as the engine read it; `box` is (left, top, right, bottom) in pixels."""

    text: str
    confidence: float  # 0..1
    box: tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class OcrPage:
    """What an engine read on one page, lines in reading order."""

    lines: tuple[OcrLine, ...]
    engine: str

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    @property
    def confidence(self) -> float:
        """The mean of the lines' confidences, weighted by their length; 0 for an empty page."""
        total = sum(len(line.text) for line in self.lines)
        if not total:
            return 0.0
        return sum(line.confidence * len(line.text) for line in self.lines) / total


class Engine(Protocol):
    name: str

    def read(self, image: Image) -> OcrPage:
        """The lines as the engine read them (gateway.mailroom.text puts lost spaces back)."""
        ...


def open_engine(name: str = DEFAULT_ENGINE, threads: int = 1) -> Engine:
    """An engine by name; its models are loaded now (about a second for RapidOCR). `threads`
    bounds the engine's own threads: one per worker process keeps a core per process."""
    if name == "rapidocr":
        return RapidEngine(threads)
    if name == "tesseract":
        return TesseractEngine(threads)
    raise MailroomError(f"OCR engine {name!r}: one of {', '.join(ENGINES)}")


def _library(module: str, engine: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MailroomError(
            f"OCR engine {engine} is not installed ({exc.name}): pip install 'nocontact[mailroom]'"
        ) from None


def _box(points: Any) -> tuple[int, int, int, int]:
    xs = [int(p[0]) for p in points]
    ys = [int(p[1]) for p in points]
    return min(xs), min(ys), max(xs), max(ys)


def in_reading_order(lines: list[OcrLine]) -> tuple[OcrLine, ...]:
    """Lines top to bottom; fragments of one line (their vertical middles within half a line's
    height of each other) joined left to right."""
    rows: list[list[OcrLine]] = []
    for line in sorted(lines, key=lambda item: (item.box[1] + item.box[3]) / 2):
        middle = (line.box[1] + line.box[3]) / 2
        if rows:
            last = rows[-1][-1]
            height = max(last.box[3] - last.box[1], line.box[3] - line.box[1], 1)
            if abs((last.box[1] + last.box[3]) / 2 - middle) < height / 2:
                rows[-1].append(line)
                continue
        rows.append([line])
    joined = []
    for row in rows:
        row.sort(key=lambda item: item.box[0])
        text = " ".join(item.text for item in row)
        weight = sum(len(item.text) for item in row) or 1
        confidence = sum(item.confidence * len(item.text) for item in row) / weight
        box = (
            min(i.box[0] for i in row),
            min(i.box[1] for i in row),
            max(i.box[2] for i in row),
            max(i.box[3] for i in row),
        )
        joined.append(OcrLine(text, confidence, box))
    return tuple(joined)


class RapidEngine:
    """PP-OCRv4 detection and recognition through onnxruntime, on the CPU."""

    name = "rapidocr"
    settings = f"side {RAPID_SIDE}, det min 320"  # what changes its readings (the benchmark's cache key)

    def __init__(self, threads: int = 1) -> None:
        rapid_ocr = _library("rapidocr_onnxruntime", self.name).RapidOCR
        # A page is shrunk to RAPID_SIDE before detection (which then keeps its size): envelope
        # writing is large, and the detector's time grows with the area.
        self._ocr = rapid_ocr(
            intra_op_num_threads=threads, inter_op_num_threads=1, det_limit_type="min", det_limit_side_len=320
        )

    def read(self, image: Image) -> OcrPage:
        import numpy as np

        scale = min(1.0, RAPID_SIDE / max(image.size))
        if scale < 1.0:
            image = image.resize((round(image.width * scale), round(image.height * scale)))
        pixels = np.asarray(image.convert("RGB"))[:, :, ::-1]  # the models take OpenCV's BGR
        found, _ = self._ocr(pixels)
        lines = []
        for points, text, score in found or ():
            left, top, right, bottom = _box(points)
            box = (round(left / scale), round(top / scale), round(right / scale), round(bottom / scale))
            if str(text).strip():
                lines.append(OcrLine(str(text), float(score), box))
        return OcrPage(in_reading_order(lines), self.name)


class TesseractEngine:
    """Tesseract 5's LSTM engine, English, on a cleaned grey image."""

    name = "tesseract"
    settings = f"psm 11, oem 1, eng, median 3, autocontrast 1, min confidence {TESSERACT_MIN_CONFIDENCE}"

    def __init__(self, threads: int = 1) -> None:
        pytesseract = _library("pytesseract", self.name)
        try:
            pytesseract.get_tesseract_version()
        except pytesseract.TesseractNotFoundError:
            raise MailroomError(
                "OCR engine tesseract: the tesseract program is missing (Debian: apt-get install "
                "tesseract-ocr tesseract-ocr-eng; ./dev installs them)"
            ) from None
        self._tesseract = pytesseract
        self._env_threads = str(threads)

    def read(self, image: Image) -> OcrPage:
        from PIL import ImageFilter, ImageOps

        grey = ImageOps.autocontrast(image.convert("L"), cutoff=1).filter(ImageFilter.MedianFilter(3))
        os.environ["OMP_THREAD_LIMIT"] = self._env_threads  # read by each tesseract process it starts
        data = self._tesseract.image_to_data(
            grey, lang="eng", config="--oem 1 --psm 11", output_type=self._tesseract.Output.DICT
        )
        words: dict[tuple[int, int, int], list[tuple[str, float, tuple[int, int, int, int]]]] = {}
        for i, text in enumerate(data["text"]):
            confidence = float(data["conf"][i])
            if not str(text).strip() or confidence < TESSERACT_MIN_CONFIDENCE:
                continue
            key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
            left, top = int(data["left"][i]), int(data["top"][i])
            box = (left, top, left + int(data["width"][i]), top + int(data["height"][i]))
            words.setdefault(key, []).append((str(text), confidence / 100, box))
        lines = []
        for found in words.values():
            text = " ".join(word for word, _, _ in found)
            weight = sum(len(word) for word, _, _ in found) or 1
            confidence = sum(c * len(word) for word, c, _ in found) / weight
            boxes = [box for _, _, box in found]
            box = (
                min(b[0] for b in boxes),
                min(b[1] for b in boxes),
                max(b[2] for b in boxes),
                max(b[3] for b in boxes),
            )
            lines.append(OcrLine(text, confidence, box))
        return OcrPage(in_reading_order(lines), self.name)
