"""`nocontact mailroom scan FILE...`: each file is one envelope. One line per envelope (or one
JSON object with --json); the exit status is the gravest outcome: 3 when any file could not be
screened, else 2 when any was blocked, 1 when any was held, 0 when all were allowed."""

from __future__ import annotations

import argparse
import json
import sys

from gateway.mailroom.errors import MailroomError
from gateway.mailroom.ocr import open_engine
from gateway.mailroom.options import connect
from gateway.mailroom.outcome import Outcome, Screener


def run(args: argparse.Namespace) -> int:
    client, establishment, engine_name = connect(args)
    screener = Screener(client, open_engine(engine_name), establishment, args.prisoner)
    worst = 0
    for path in args.files:
        reading = None
        try:
            reading = screener.read(path)
            outcome = screener.screen(str(path), reading)
        except (MailroomError, OSError) as exc:
            outcome = Outcome(str(path), "error", error=str(exc), reading=reading)
        worst = max(worst, outcome.exit_status)
        if args.json:
            print(json.dumps(outcome.to_dict()), flush=True)
        else:
            print(outcome.line(), flush=True)
    if not args.json and worst == 3:
        print(
            "nocontact mailroom scan: not every file was screened; those files were NOT allowed",
            file=sys.stderr,
        )
    return worst
