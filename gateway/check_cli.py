"""`nocontact check`: screen one call, letter or message against the live gateway (``--url``,
default NOCONTACT_URL or http://127.0.0.1:8080, with ``--token`` or NOCONTACT_TOKEN), as the PBX
or the mailroom would; or, with ``--file [ENTRIES.jsonl]``, offline against a file of entries (the
shipped examples when no file is named), saying so. Prints the decision as JSON: the references and
kinds that matched, never the protected details. Exits 0 for allow, 1 for hold, 2 for block and 3
when nothing was decided (the gateway unreachable or refusing, a bad file)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from config import EXAMPLES_DIR, load_profile
from gateway.mailroom.client import GatewayClient
from gateway.mailroom.errors import MailroomError
from matcher.decisions import Decision
from matcher.entries import Entry
from matcher.errors import ConfigError, ValidationError
from matcher.index import Index
from sync.offloop.collector import gc_paused

DEMO = [
    ("call", "HLI", "A1234BC", "9 07700 900123"),
    ("call", "HLI", "Z9999ZZ", "+44 (0)7700-900123 ext. 12"),
    ("call", "HLI", "A1234BC", "07700 900124"),
    ("mail", "HLI", "Z9999ZZ", "Miss J Smith\nFlat 2, 14 High St\nHULL\nHU1 2AB"),
    ("mail", "HLI", "Z9999ZZ", "Mr P Jones\n16 High Street\nHull HU1 2AB"),
    ("message", "HMI", "D4567EF", "aoneill@googlemail.com"),
]


EXIT_CODES = {"allow": 0, "hold": 1, "block": 2}
NOT_DECIDED = 3
EXAMPLES = EXAMPLES_DIR / "entries.jsonl"
DEFAULT_URL = "http://127.0.0.1:8080"
PATHS = {"call": "/v1/screen/call", "mail": "/v1/screen/mail", "message": "/v1/screen/message"}
TARGETS = {"call": "number", "mail": "envelope", "message": "to"}


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "check",
        help="screen one attempt against the live gateway (or --file, offline); exit 0/1/2 allow/hold/block",
        description=__doc__,
    )
    parser.add_argument("--url", help=f"the gateway (default: NOCONTACT_URL, else {DEFAULT_URL})")
    parser.add_argument("--token", help="a screening token (default: NOCONTACT_TOKEN)")
    parser.add_argument(
        "--file",
        "--entries",
        dest="file",
        type=Path,
        nargs="?",
        const=EXAMPLES,
        help="offline: screen against this JSONL file of entries instead (no path: the shipped examples)",
    )
    parser.add_argument("--config", help="deployment TOML file (profile overrides, offline)")
    parser.add_argument("--establishment", default="HLI")
    parser.add_argument("--prisoner", default="A0000AA")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--call", metavar="NUMBER", help="a dialled number")
    what.add_argument("--mail", metavar="TEXT", help="envelope text ('-' reads standard input)")
    what.add_argument("--message", metavar="TO", help="an email address or phone number")
    what.add_argument("--demo", action="store_true", help="screen a few example attempts")
    parser.add_argument("--content", help="letter or message text")
    parser.set_defaults(handler=run)


def load_entries(path: Path) -> list[Entry]:
    entries = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                entries.append(Entry.from_dict(json.loads(line)))
            except json.JSONDecodeError as exc:
                raise ValidationError(f"line {number}", f"not JSON: {exc.msg}") from None
            except ValidationError as exc:
                raise ValidationError(f"line {number}: {exc.field}", exc.detail) from None
    return entries


def answer(decision: Decision) -> dict[str, Any]:
    return {
        "decision": decision.decision,
        "reference": decision.reference,
        "relay": decision.relay,
        "matches": [m.to_dict() for m in decision.matches],
        "version": decision.version,
    }


def run(args: argparse.Namespace) -> int:
    what = _attempt(args)
    if what is None or args.file is not None:
        return _offline(args, args.file or EXAMPLES, what)
    channel, attempt = what
    url = args.url or os.environ.get("NOCONTACT_URL") or DEFAULT_URL
    token = args.token or os.environ.get("NOCONTACT_TOKEN")
    if not token:
        print(
            "nocontact check: no token: pass --token or set NOCONTACT_TOKEN (a dialler, mailroom or "
            "messaging token), or screen offline with --file",
            file=sys.stderr,
        )
        return NOT_DECIDED
    body: dict[str, Any] = {"establishment": args.establishment, "prisoner": args.prisoner}
    body[TARGETS[channel]] = attempt
    if args.content is not None and channel != "call":
        body["content"] = args.content
    try:
        decided = GatewayClient(url, token).post(PATHS[channel], body)
    except MailroomError as exc:
        print(f"nocontact check: nothing decided: {exc}", file=sys.stderr)
        return NOT_DECIDED
    print(json.dumps(decided))
    decision = decided.get("decision") if isinstance(decided, dict) else None
    return EXIT_CODES.get(str(decision), NOT_DECIDED)


def _attempt(args: argparse.Namespace) -> tuple[str, str] | None:
    """(channel, attempt) of a single attempt asked for, or None (the demo)."""
    if args.demo or not (args.call or args.mail or args.message):
        return None
    channel, attempt = (
        ("call", args.call) if args.call else ("mail", args.mail) if args.mail else ("message", args.message)
    )
    return channel, sys.stdin.read() if attempt == "-" else attempt


def _offline(args: argparse.Namespace, path: Path, what: tuple[str, str] | None) -> int:
    try:
        with gc_paused():  # as the follower builds: the matcher never pauses the collector itself
            index = Index.build(load_entries(path), load_profile(args.config))
    except (ValidationError, ConfigError, OSError) as exc:
        print(f"nocontact check: {exc}", file=sys.stderr)
        return NOT_DECIDED
    if what is None:
        print(f"offline: {index.entry_count} entries from {path}, not the live list; screening examples:")
        for channel, establishment, prisoner, attempt in DEMO:
            decision = screen(index, channel, establishment, prisoner, attempt, None)
            shown = attempt.replace("\n", ", ")
            print(
                f"  {channel:<7} {establishment} {prisoner}  {shown!r:<48} -> {json.dumps(answer(decision))}"
            )
        return 0
    print(
        f"nocontact check: offline, against {path} ({index.entry_count} entries), not the live list",
        file=sys.stderr,
    )
    try:
        decision = screen(index, what[0], args.establishment, args.prisoner, what[1], args.content)
    except ValidationError as exc:
        print(json.dumps({"error": "invalid", "detail": str(exc)}))
        return NOT_DECIDED
    print(json.dumps(answer(decision)))
    return EXIT_CODES[decision.decision]


def screen(
    index: Index, channel: str, establishment: str, prisoner: str, attempt: str, content: str | None
) -> Decision:
    if channel == "call":
        return index.screen_call(establishment, prisoner, attempt)
    if channel == "mail":
        return index.screen_mail(establishment, prisoner, attempt, content)
    return index.screen_message(establishment, prisoner, attempt, content)
