"""The gateway's OCR pool: uploads read in spawned worker processes; the process that serves
never loads an OCR library, before or after reading."""

from __future__ import annotations

import json
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
