"""`nocontact mailroom scan|watch`: the options both share (the gateway, the token, the OCR
engine, the establishment) and the two commands' own."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway.mailroom import scan, watch
from gateway.mailroom.errors import MailroomError
from gateway.mailroom.ocr import DEFAULT_ENGINE, ENGINES


def register(sub: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url", default=None, help="the gateway (default: $NOCONTACT_URL, else http://127.0.0.1:8080)"
    )
    common.add_argument("--token", default=None, help="a mailroom token (default: $NOCONTACT_TOKEN)")
    common.add_argument(
        "--establishment", default=None, help="the prison's code (default: $NOCONTACT_ESTABLISHMENT)"
    )
    common.add_argument(
        "--prisoner",
        default=None,
        help="the sender's prison number, for every file (default: read from each scan)",
    )
    common.add_argument(
        "--engine", choices=ENGINES, default=None, help=f"OCR engine (default: {DEFAULT_ENGINE})"
    )
    common.add_argument(
        "--timeout", type=float, default=15.0, help="seconds to wait for the gateway's answer"
    )

    parser = sub.add_parser("mailroom", help="OCR envelope scans and screen them through the gateway")
    commands = parser.add_subparsers(dest="mailroom_command", required=True, metavar="COMMAND")
    scan = commands.add_parser(
        "scan",
        parents=[common],
        help="screen scanned envelopes (PNG, JPEG, TIFF, PDF); exit 0 allow, 1 hold, 2 block, 3 error",
    )
    scan.add_argument("files", nargs="+", type=Path, metavar="FILE")
    scan.add_argument("--json", action="store_true", help="one JSON object per envelope, one per line")
    scan.set_defaults(handler=_run_scan)

    watch = commands.add_parser(
        "watch", parents=[common], help="a hot folder: screen each complete scan once and file it by decision"
    )
    watch.add_argument("in_dir", type=Path, metavar="IN_DIR")
    watch.add_argument(
        "--out", type=Path, required=True, metavar="OUT_DIR", help="allow/, hold/, block/, error/ go here"
    )
    watch.add_argument(
        "--settle", type=float, default=2.0, help="seconds a file must stay unchanged (default 2)"
    )
    watch.add_argument("--poll", type=float, default=1.0, help="seconds between looks at IN_DIR (default 1)")
    watch.add_argument("--once", action="store_true", help="handle what is there, then stop")
    watch.set_defaults(handler=_run_watch)


def _run_scan(args: argparse.Namespace) -> int:
    return _reported(scan.run, args)


def _run_watch(args: argparse.Namespace) -> int:
    return _reported(watch.run, args)


def _reported(run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """The command's exit status; a MailroomError is said on stderr and is status 3."""
    try:
        return run(args)
    except MailroomError as exc:
        print(f"nocontact mailroom {args.mailroom_command}: {exc}", file=sys.stderr)
        return 3
