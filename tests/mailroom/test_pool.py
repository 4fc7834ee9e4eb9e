"""The gateway's OCR pool: uploads read in spawned worker processes; the process that serves
never loads an OCR library, before or after reading."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.mailroom_site import BLOCKED, scan

# In a fresh interpreter, as in `nocontact serve`: read one upload through the pool, then list
# the modules the serving process holds.
SERVING = """
import asyncio, json, sys
from pathlib import Path
from gateway.app import create_app
from gateway.mailroom.pool import OcrPool

async def main():
    pool = OcrPool("rapidocr", workers=1)
    try:
        first = await pool.read(Path(sys.argv[1]).read_bytes(), ".png")
        junk = await pool.read(b"not an image", ".png")
    finally:
        pool.close()
    return first, junk

first, junk = asyncio.run(main())
print(json.dumps({"first": first, "junk": junk, "modules": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def test_uploads_are_read_in_worker_processes_and_never_in_the_serving_one(tmp_path: Path) -> None:
    letter = scan(tmp_path / "letter.png", BLOCKED)
    done = subprocess.run(
        [sys.executable, "-c", SERVING, str(letter)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout)
    assert "DE1 3PN" in found["first"]["text"] and found["first"]["prisoner"] == "A1234BC"
    assert "27 Meadow Lane" in found["first"]["lines"]
    assert found["junk"] == {"error": "the upload: not a PNG, JPEG, TIFF or PDF file"}
    from gateway.mailroom.ocr import OCR_MODULES

    assert not set(found["modules"]) & set(OCR_MODULES)


# A gateway host without the mailroom extra: in the worker (a spawned interpreter with the same
# PYTHONPATH), `import rapidocr_onnxruntime` fails as it does where the package is not installed.
MISSING = 'raise ImportError("No module named \'rapidocr_onnxruntime\'", name="rapidocr_onnxruntime")\n'
WITHOUT_EXTRA = """
import asyncio, json
from gateway.mailroom.errors import MailroomError
from gateway.mailroom.pool import OcrPool

async def main():
    pool = OcrPool("rapidocr", workers=1)
    said = []
    try:
        for _ in range(2):  # the first upload and the next: each is told, neither kills the pool
            try:
                await pool.read(b"\\x89PNG\\r\\n\\x1a\\n", ".png")
            except MailroomError as exc:
                said.append(str(exc))
    finally:
        pool.close()
    return said

print(json.dumps(asyncio.run(main())))
"""


def test_a_gateway_without_the_mailroom_extra_says_which_extra_to_install(tmp_path: Path) -> None:
    shadow = tmp_path / "shadow" / "rapidocr_onnxruntime"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(MISSING)
    env = {**os.environ, "PYTHONPATH": str(shadow.parent)}
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTRA],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    said = json.loads(done.stdout)
    assert len(said) == 2 and said[0] == said[1], said
    assert said[0].startswith("the gateway cannot read scans: "), said
    assert "(rapidocr_onnxruntime): pip install 'nocontact[mailroom]' on the gateway host" in said[0], said
