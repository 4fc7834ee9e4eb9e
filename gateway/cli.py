"""The `nocontact` command line. Each subcommand lives with the package it drives; this module
only wires them together."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from cases import cli as cases_cli
from cases import contacts_cli
from gateway import check_cli, serve
from gateway.mailroom import cli as mailroom_cli
from gateway.ui import cli as ui_cli
from gateway.ui import export
from sync import entries, importer, init_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nocontact", description="Prison call and mail screening gateway.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in (
        check_cli,
        serve,
        init_cli,
        cases_cli,
        contacts_cli,
        ui_cli,
        export,
        mailroom_cli,
        importer,
        entries,
    ):
        command.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.handler(args)
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
