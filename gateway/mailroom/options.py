"""The settings both mailroom commands take from their options, then the environment."""

from __future__ import annotations

import argparse
import os

from gateway.mailroom.client import GatewayClient
from gateway.mailroom.ocr import DEFAULT_ENGINE


def settings(args: argparse.Namespace) -> tuple[str, str, str, str]:
    """(url, token, establishment or "", engine) from the options, then the environment."""
    url = args.url or os.environ.get("NOCONTACT_URL") or "http://127.0.0.1:8080"
    token = args.token or os.environ.get("NOCONTACT_TOKEN") or ""
    establishment = (args.establishment or os.environ.get("NOCONTACT_ESTABLISHMENT") or "").strip().upper()
    return url, token, establishment, args.engine or DEFAULT_ENGINE


def connect(args: argparse.Namespace) -> tuple[GatewayClient, str, str]:
    """The gateway client, the establishment (the token's binding unless given) and the engine."""
    url, token, establishment, engine = settings(args)
    client = GatewayClient(url, token, args.timeout)
    return client, establishment or client.establishment(), engine
