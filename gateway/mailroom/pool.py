"""OCR for the gateway's mailroom page, in worker processes. The serving process never imports an
OCR library (an engine holds a core for a second or more and hundreds of MB of models): uploads
are handed to a pool of spawned processes, each opening its engine once, and awaited from the
event loop. The pool starts on the first upload, so a gateway whose page is never used pays
nothing."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from gateway.mailroom.errors import MailroomError

log = logging.getLogger("nocontact.mailroom.pool")

_engine: Any = None  # one per worker process, opened by _start
_unusable: str | None = None  # why _start could not open it (a library not installed)
NICE = 19  # the workers' priority below the serving process where SCHED_IDLE is not to be had


class OcrUnavailable(MailroomError):
    """The worker cannot open its OCR engine (the gateway host lacks the mailroom extra)."""


def _start(engine: str) -> None:
    global _engine, _unusable  # noqa: PLW0603 - the worker's one engine, opened once per process
    os.environ["OMP_THREAD_LIMIT"] = "1"  # tesseract's own threads: one core per worker
    # A letter can wait a moment; a call being screened cannot: the worker runs only on CPU time
    # nothing else wants (SCHED_IDLE), or where Linux's policy is missing, niced well down.
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        os.nice(NICE)
    from gateway.mailroom.ocr import open_engine

    # An initializer that raises breaks the whole pool, and the parent then knows only that "a
    # worker stopped": the reason is kept and said for each upload instead.
    try:
        _engine = open_engine(engine, threads=1)
    except MailroomError as exc:
        _unusable = str(exc)


def read_upload(data: bytes, suffix: str) -> dict[str, Any]:
    """Runs in a worker: the uploaded file read (every page), as plain data for the parent."""
    if _unusable is not None:
        raise OcrUnavailable(f"the gateway cannot read scans: {_unusable} on the gateway host")
    from gateway.mailroom.reading import read_file

    with tempfile.TemporaryDirectory(prefix="nocontact-upload-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        try:
            reading = read_file(path, _engine)
        except MailroomError as exc:
            return {"error": str(exc).replace(path.name, "the upload")}
    return {
        "engine": reading.engine,
        "text": reading.text,
        "confidence": reading.confidence,
        "prisoner": reading.prisoner,
        "pages": len(reading.pages),
        "lines": [line.text for page in reading.pages for line in page.lines],
        "page_of": [at for at, page in enumerate(reading.pages) for _ in page.lines],  # each line's side
    }


class OcrPool:
    """`workers` processes; each upload is read by one of them. `read` raises MailroomError when
    the pool cannot read (a worker died: the pool is started again for the next upload)."""

    def __init__(self, engine: str, workers: int = 1) -> None:
        self.engine = engine
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            context = multiprocessing.get_context("spawn")  # never a fork of the serving process
            self._executor = ProcessPoolExecutor(
                self.workers, mp_context=context, initializer=_start, initargs=(self.engine,)
            )
        return self._executor

    async def read(self, data: bytes, suffix: str) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool(), read_upload, data, suffix)
        except BrokenProcessPool:
            log.error("an OCR worker died; the pool starts again with the next upload")
            self.close()
            raise MailroomError("the OCR worker stopped while reading this upload") from None
        except OcrUnavailable as exc:
            log.error("%s", exc)
            self.close()  # the next upload starts workers again: they see an extra installed since
            raise

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
