"""The `nocontact` command line. Each subcommand lives with the package it drives; this module
only wires them together."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nocontact", description="Prison call and mail screening gateway.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    from gateway import check_cli

    check_cli.register(sub)
    from gateway import serve

    serve.register(sub)
    from cases import cli as cases_cli

    cases_cli.register(sub)
    from gateway.ui import cli as ui_cli

    ui_cli.register(sub)
    try:
        from sync import importer
    except ImportError:  # pragma: no cover - sync is optional while it is being built
        pass
    else:
        importer.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.handler(args)
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
