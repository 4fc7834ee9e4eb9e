"""The OCR engines on rendered envelopes: each reads a printed one; RapidOCR's models come from
its wheel with no network at all; and the gateway's serving code never loads an OCR library."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.mailroom.ocr import ENGINES, OCR_MODULES, open_engine
from gateway.mailroom.reading import read_file
from tests.support.mailroom_site import BLOCKED, scan
from tests.support.tools import require_command


def test_the_app_factory_and_the_command_line_load_no_ocr_library() -> None:
    code = (
        "import sys, json\n"
        "from gateway.app import create_app\n"
        "from gateway.cli import build_parser\n"
        "import gateway.mailroom.ocr, gateway.mailroom.watch, gateway.mailroom.scan\n"
        "build_parser()\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(done.stdout))
    assert "aiohttp" in loaded and "gateway" in loaded  # it did import the app
    assert not loaded & set(OCR_MODULES)


@pytest.mark.parametrize("engine", ENGINES)
def test_each_engine_reads_a_printed_envelope(engine: str, tmp_path: Path) -> None:
    if engine == "tesseract":
        require_command("tesseract", "tesseract-ocr")
    reading = read_file(scan(tmp_path / "letter.png", BLOCKED, font="Liberation Sans"), open_engine(engine))
    assert reading.engine == engine
    assert "27 Meadow Lane" in reading.text and "DE1 3PN" in reading.text, reading.text
    assert reading.prisoner == "A1234BC"
    assert 0.6 < reading.confidence <= 1


# Runs in a fresh interpreter: an audit hook refuses every network call, then RapidOCR is opened
# and reads an envelope; prints where its models came from.
NO_NETWORK = """
import json, sys
from pathlib import Path
def refuse(event, args):
    if event.startswith(("socket.", "urllib.", "http.client.", "ftplib.", "smtplib.")):
        raise SystemExit(f"network use: {event} {args!r}")
sys.addaudithook(refuse)
from PIL import Image
import rapidocr_onnxruntime
from gateway.mailroom.ocr import open_engine
engine = open_engine("rapidocr")
page = engine.read(Image.open(sys.argv[1]))
package = Path(rapidocr_onnxruntime.__file__).parent
models = sorted(str(p) for p in package.rglob("*.onnx"))
print(json.dumps({"text": page.text, "models": models, "package": str(package)}))
"""


def test_rapidocr_reads_with_no_network_and_its_models_are_in_the_wheel(tmp_path: Path) -> None:
    letter = scan(tmp_path / "letter.png", BLOCKED)
    command = [sys.executable, "-c", NO_NETWORK, str(letter)]
    # and, as root, in a network namespace of its own: no interface but a loopback that is down
    if os.geteuid() == 0 and shutil.which("unshare"):
        command = ["unshare", "--net", *command]
    env = {**os.environ, "HOME": str(tmp_path)}  # nothing cached in the real home is reused
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout)
    assert "DE1 3PN" in found["text"].replace("DE13PN", "DE1 3PN")
    assert len(found["models"]) == 3 and all(m.startswith(found["package"]) for m in found["models"])
