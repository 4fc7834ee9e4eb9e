"""The settings both mailroom commands take from their options, then the environment."""

from __future__ import annotations

import argparse
import os

from gateway.mailroom.errors import MailroomError
from gateway.mailroom.ocr import DEFAULT_ENGINE


def settings(args: argparse.Namespace) -> tuple[str, str, str, str]:
    """(url, token, establishment, engine) from the options, then the environment."""
    url = args.url or os.environ.get("NOCONTACT_URL") or "http://127.0.0.1:8080"
    token = args.token or os.environ.get("NOCONTACT_TOKEN") or ""
    establishment = (args.establishment or os.environ.get("NOCONTACT_ESTABLISHMENT") or "").strip().upper()
    if not establishment:
        raise MailroomError("no establishment: pass --establishment CODE or set NOCONTACT_ESTABLISHMENT")
    return url, token, establishment, args.engine or DEFAULT_ENGINE
