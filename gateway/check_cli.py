"""`nocontact check`: screen one call, letter or message against a JSONL file of entries, offline.
Prints the decision as JSON: the references and kinds that matched, never the protected details."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from config import EXAMPLES_DIR, load_profile
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


def register(sub: Any) -> None:
    parser = sub.add_parser("check", help="screen one attempt against a file of entries (offline)")
    parser.add_argument("--entries", type=Path, help="JSONL file of entries (default: the shipped examples)")
    parser.add_argument("--config", help="deployment TOML file (profile overrides)")
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
    path = args.entries or EXAMPLES_DIR / "entries.jsonl"
    try:
        with gc_paused():  # as the follower builds: the matcher never pauses the collector itself
            index = Index.build(load_entries(path), load_profile(args.config))
    except (ValidationError, ConfigError, OSError) as exc:
        print(f"nocontact check: {exc}", file=sys.stderr)
        return 2
    if args.demo or not (args.call or args.mail or args.message):
        print(f"{index.entry_count} entries from {path}; screening examples:")
        for channel, establishment, prisoner, attempt in DEMO:
            decision = screen(index, channel, establishment, prisoner, attempt, None)
            shown = attempt.replace("\n", ", ")
            print(
                f"  {channel:<7} {establishment} {prisoner}  {shown!r:<48} -> {json.dumps(answer(decision))}"
            )
        return 0
    channel, attempt = (
        ("call", args.call) if args.call else ("mail", args.mail) if args.mail else ("message", args.message)
    )
    if attempt == "-":
        attempt = sys.stdin.read()
    try:
        decision = screen(index, channel, args.establishment, args.prisoner, attempt, args.content)
    except ValidationError as exc:
        print(json.dumps({"error": "invalid", "detail": str(exc)}))
        return 2
    print(json.dumps(answer(decision)))
    return 0


def screen(
    index: Index, channel: str, establishment: str, prisoner: str, attempt: str, content: str | None
) -> Decision:
    if channel == "call":
        return index.screen_call(establishment, prisoner, attempt)
    if channel == "mail":
        return index.screen_mail(establishment, prisoner, attempt, content)
    return index.screen_message(establishment, prisoner, attempt, content)
