"""One envelope from file to decision: OCR, the prisoner (given, read from the scan, or unknown),
the gateway's answer, and how it is shown: one line for a person, one JSON object for a program
(--json and the hot folder's sidecar files)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.mailroom.client import GatewayClient, Screened
from gateway.mailroom.ocr import Engine
from gateway.mailroom.reading import Reading, read_file

EXIT_STATUS = {"allow": 0, "hold": 1, "block": 2, "error": 3}


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one file. `decision` is the gateway's, or "error" when there is none."""

    file: str
    decision: str
    prisoner: str | None = None
    prisoner_from: str = "unknown"  # "option" | "scan" | "unknown"
    answer: Screened | None = None
    reading: Reading | None = None
    error: str | None = None
    at: float = field(default_factory=time.time)

    @property
    def exit_status(self) -> int:
        return EXIT_STATUS[self.decision]

    def to_dict(self) -> dict[str, Any]:
        answer, reading = self.answer, self.reading
        return {
            "file": self.file,
            "decision": self.decision,
            "reason": answer.reason if answer else None,
            "matches": list(answer.matches) if answer else [],
            "hit_id": answer.hit_id if answer else None,
            "version": answer.version if answer else None,
            "stale": answer.stale if answer else None,
            "prisoner": self.prisoner,
            "prisoner_from": self.prisoner_from,
            "ocr": {
                "engine": reading.engine,
                "text": reading.text,
                "confidence": round(reading.confidence, 3),
                "pages": len(reading.pages),
            }
            if reading
            else None,
            "error": self.error,
            "screened_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.at)),
        }

    def line(self) -> str:
        """One line for a person: the file, the decision in capitals, and why."""
        if self.decision == "error":
            return f"{self.file}: ERROR {self.error}"
        answer = self.answer
        assert answer is not None
        parts = [f"{m.get('reference')} {m.get('kind')} {m.get('strength')}" for m in answer.matches]
        why = ", ".join(parts)
        if answer.reason:
            why = f"{answer.reason}; {why}" if why else answer.reason
        sender = self.prisoner if self.prisoner else "prisoner unknown"
        shown = f"{self.file}: {self.decision.upper()}"
        if why:
            shown += f" ({why})"
        if answer.hit_id:
            shown += f" hit {answer.hit_id}"
        return f"{shown} [{sender}]" + (" [stale data]" if answer.stale else "")


class Screener:
    """Reads files with one OCR engine and screens them through one gateway, for one establishment.
    `prisoner`, when given, is the sender of every file; otherwise each scan's own number is used,
    and a scan without one is screened as an unknown prisoner's."""

    def __init__(
        self, client: GatewayClient, engine: Engine, establishment: str, prisoner: str | None = None
    ) -> None:
        self.client = client
        self.engine = engine
        self.establishment = establishment
        self.prisoner = prisoner

    def read(self, path: Path) -> Reading:
        return read_file(path, self.engine)

    def screen(self, name: str, reading: Reading) -> Outcome:
        """Raises GatewayUnavailable (keep the file, try again) or GatewayRefused."""
        if self.prisoner is not None:
            prisoner, source = self.prisoner, "option"
        elif reading.prisoner is not None:
            prisoner, source = reading.prisoner, "scan"
        else:
            prisoner, source = None, "unknown"
        answer = self.client.screen_mail(self.establishment, prisoner, reading.text)
        return Outcome(name, answer.decision, prisoner, source, answer, reading)
