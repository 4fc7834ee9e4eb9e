"""``nocontact serve`` and ``nocontact token create|list|revoke``.

serve: with no Redis URL it starts the embedded Redis (sync.embedded) under the data directory.
With ``--workers N`` the parent binds the listening socket, starts the embedded Redis once, then
keeps N workers accepting on the shared socket (gateway.supervisor: restarts, SIGTERM, SIGHUP);
their /metrics is one (gateway.workermetrics). Prints where it listens and how to get a token; never a
victim's details."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import redis

from config import establishments
from gateway import workermetrics
from gateway.auth import ROLES, bind_certificate, create_token, list_tokens, revoke_token
from gateway.logs import setup_logging
from gateway.settings import GatewaySettings
from gateway.supervisor import Supervisor, run_worker
from gateway.tls import ServerTls, certificate_fingerprint
from gateway.worker import tune_process
from matcher.errors import ConfigError
from sync.datadir import DataDirLock
from sync.embedded import EmbeddedRedis, attached_url
from sync.errors import NotReplicated, SyncError
from sync.init_cli import initialise
from sync.private import PRIVATE_UMASK, ExposedDataDir, check_data_dir
from sync.redis_url import redis_client, unreachable
from sync.replication import Replication
from sync.writer import Writer

log = logging.getLogger("nocontact.gateway")


class ListenError(Exception):
    """The listening socket cannot be bound (the port in use, an address not on this host...)."""

    def __init__(self, host: str, port: int, cause: OSError) -> None:
        super().__init__(host, port, cause)
        self.host, self.port, self.cause = host, port, cause

    def __str__(self) -> str:
        return (
            f"cannot listen on {self.host}:{self.port} ({self.cause.strerror or self.cause}): stop what "
            "uses it (another gateway?), or choose another --port / --host"
        )


def register(sub: Any) -> None:
    serve = sub.add_parser("serve", help="run the screening gateway (HTTP API)")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="TCP port (default 8080)")
    serve.add_argument("--data-dir", type=Path, help="spool, snapshot and embedded Redis (default ./data)")
    serve.add_argument("--config", help="deployment TOML file")
    serve.add_argument("--workers", type=int, help="worker processes sharing the port (default 1)")
    serve.add_argument(
        "--init",
        action="store_true",
        help="first start on a store of your own: publish an empty blocklist if none (`nocontact init`)",
    )
    serve.add_argument(
        "--tls-cert", type=Path, help="serve HTTPS: certificate chain (PEM); SIGHUP reloads it"
    )
    serve.add_argument("--tls-key", type=Path, help="the certificate's private key (PEM)")
    serve.add_argument("--tls-client-ca", type=Path, help="CA of client certificates (mutual TLS)")
    serve.set_defaults(handler=run_serve)

    token = sub.add_parser("token", help="create, list or revoke API tokens")
    token.add_argument("--config", help="deployment TOML file")
    token.add_argument("--data-dir", type=Path)
    actions = token.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create a token (printed once)")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--establishment", help="bind a screening or security token to one establishment")
    create.add_argument(
        "--certificate",
        type=Path,
        help="a client certificate (PEM) to bind instead of issuing a token (serve --tls-client-ca)",
    )
    actions.add_parser("list", help="list tokens (ids and roles; tokens themselves are not stored)")
    revoke = actions.add_parser("revoke", help="revoke a token by id")
    revoke.add_argument("id")
    token.set_defaults(handler=run_token)


def _settings(args: argparse.Namespace, **overrides: Any) -> GatewaySettings:
    return GatewaySettings.load(args.config, data_dir=args.data_dir, **overrides)


def run_token(args: argparse.Namespace) -> int:
    try:
        settings = _settings(args)
    except ConfigError as exc:
        print(f"nocontact token: {exc}", file=sys.stderr)
        return 2
    url = attached_url("token", settings.sync.redis_url, settings.data_dir)
    if url is None:
        return 2
    client = redis_client(url, socket_timeout=5, socket_connect_timeout=2)
    keys = settings.sync.keys
    replication = Replication.configured(settings.sync)
    try:
        if args.action == "create":
            try:
                establishment = establishments.option(args.config, args.establishment)
                if args.certificate is not None:
                    fingerprint = certificate_fingerprint(args.certificate)
                    principal = bind_certificate(
                        client, keys, fingerprint, args.role, establishment, replication=replication
                    )
                    token = f"certificate sha256 {fingerprint} (no token: the certificate is the credential)"
                else:
                    token, principal = create_token(
                        client, keys, args.role, establishment, replication=replication
                    )
            except (ValueError, OSError) as exc:
                print(f"nocontact token: {exc}", file=sys.stderr)
                return 2
            print(f"id={principal.id} role={principal.role} establishment={principal.establishment or '-'}")
            print(token)
        elif args.action == "list":
            for p in list_tokens(client, keys):
                bound = f"\tcertificate {p.certificate[:16]}..." if p.certificate else ""
                print(f"{p.id}\t{p.role}\t{p.establishment or '-'}{bound}")
        elif not revoke_token(client, keys, args.id, replication=replication):
            print(f"nocontact token: no token with id {args.id}", file=sys.stderr)
            return 1
        else:
            print(f"revoked {args.id}")
    except NotReplicated as exc:
        print(
            f"nocontact token: {exc}; it may be in the store all the same: look with `nocontact token list`",
            file=sys.stderr,
        )
        return 2
    except (redis.RedisError, OSError) as exc:
        print(f"nocontact token: {unreachable(url, exc)}", file=sys.stderr)
        return 2
    return 0


def _start_embedded(settings: GatewaySettings) -> tuple[Any, str]:
    server = EmbeddedRedis(settings.data_dir)
    url: str = server.start(adopt=False)  # serve holds the data directory: one answering is an orphan
    # A fresh embedded store holds an explicitly empty blocklist, so the gateway is ready at once
    # (followers refuse an empty store that is not explicit). A no-op once anything is published.
    with redis_client(url, socket_timeout=5) as client:
        Writer.configured(client, settings.sync.with_(redis_url=url)).initialise()
    return server, url


MIN_ADMIN_TOKEN = 32  # characters: a token from the environment is a password nothing rate-limits


def _bootstrap_admin(settings: GatewaySettings, url: str) -> None:
    if settings.admin_token:
        print("nocontact: admin token: the value of NOCONTACT_ADMIN_TOKEN", flush=True)
        return
    client = redis_client(url, socket_timeout=5, socket_connect_timeout=2)
    try:
        if any(p.role == "admin" for p in list_tokens(client, settings.sync.keys)):
            print(
                "nocontact: admin tokens exist; create more with `nocontact token create --role admin`",
                flush=True,
            )
            return
        # Shown whether or not a replica confirms it: a token in the store that nobody was shown
        # would lock the operator out (the next start sees an admin token and makes none).
        token, principal = create_token(client, settings.sync.keys, "admin", replication=Replication())
        try:
            Replication.configured(settings.sync).confirm(client)
        except NotReplicated as exc:
            log.warning("gateway: the generated admin token is %s; create another if it is gone", exc)
    except (redis.RedisError, OSError) as exc:
        # A restart during an outage: serve from the snapshot file and the token cache meanwhile.
        log.warning(
            "gateway: admin bootstrap skipped: %s; serving from the snapshot file and the token cache "
            "until it answers",
            unreachable(url, exc),
        )
        return
    finally:
        client.close()
    print(f"nocontact: generated admin token (id {principal.id}), shown once: {token}", flush=True)


def run_serve(args: argparse.Namespace) -> int:
    # `systemctl reload` (SIGHUP) must never kill the gateway: ignored until a worker serving TLS
    # installs its certificate reload; without TLS there is nothing to reload.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    setup_logging(os.environ.get("NOCONTACT_LOG_LEVEL", "INFO"))
    tune_process()
    try:
        settings = _settings(
            args,
            host=args.host,
            port=args.port,
            workers=args.workers,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            tls_client_ca=args.tls_client_ca,
        )
        tls = None if settings.tls is None else ServerTls(settings.tls)
    except ConfigError as exc:
        print(f"nocontact serve: {exc}", file=sys.stderr)
        return 2
    if settings.admin_token is not None and 0 < len(settings.admin_token) < MIN_ADMIN_TOKEN:
        print(
            f"nocontact serve: NOCONTACT_ADMIN_TOKEN is {len(settings.admin_token)} characters; an admin "
            f"token must be at least {MIN_ADMIN_TOKEN} (e.g. `python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'`), or leave it unset and serve prints a generated one",
            file=sys.stderr,
        )
        return 2
    os.umask(PRIVATE_UMASK)  # the data directory's files hold victims' details: the owner's alone
    try:
        check_data_dir(settings.data_dir)
    except ExposedDataDir as exc:
        print(f"nocontact serve: {exc}", file=sys.stderr)
        return 2
    lock = DataDirLock(settings.data_dir)
    try:
        lock.acquire()
        sock = _listen(settings.host, settings.port)
    except (SyncError, ListenError) as exc:
        print(f"nocontact serve: {exc}", file=sys.stderr)
        lock.release()
        return 2
    try:
        return _serve(args, settings, tls, sock)
    finally:
        sock.close()
        lock.release()


def _serve(
    args: argparse.Namespace, settings: GatewaySettings, tls: ServerTls | None, sock: socket.socket
) -> int:
    embedded = None
    try:
        if settings.sync.redis_url is None:
            embedded, url = _start_embedded(settings)
            settings = settings.with_(sync=settings.sync.with_(redis_url=url))
            where = f"embedded Redis under {settings.data_dir}"
        else:
            where = "the configured Redis"
            if args.init:
                try:
                    print(
                        f"nocontact: init: {initialise(settings.sync.redis_url, settings.sync)}", flush=True
                    )
                except (redis.RedisError, OSError) as exc:  # a restart in an outage: the store has one
                    log.warning("gateway: init skipped: %s", unreachable(settings.sync.redis_url, exc))
        _bootstrap_admin(settings, str(settings.sync.redis_url))
        host, port = sock.getsockname()[:2]
        scheme = "http" if tls is None else "https"
        pages = "web pages at /ui/" if settings.pages else "web pages off"
        print(
            f"nocontact: listening on {scheme}://{host}:{port} ({settings.workers} worker(s), {where}, "
            f"{pages}); "
            f"more tokens: `nocontact token create --role dialler --establishment CODE`",
            flush=True,
        )
        if settings.workers == 1:
            run_worker(settings, sock, tls)
        else:
            _supervise(settings, sock, tls)
    except SyncError as exc:  # the embedded Redis would not start
        print(f"nocontact serve: {exc}", file=sys.stderr)
        return 2
    finally:
        if embedded is not None:
            embedded.stop()
    return 0


def _supervise(settings: GatewaySettings, sock: socket.socket, tls: ServerTls | None) -> None:
    metrics_dir = workermetrics.prepare(settings.data_dir)
    Supervisor(
        settings.workers,
        lambda: run_worker(settings, sock, tls, metrics_dir),
        sock=sock,
        on_exit=lambda pid: workermetrics.retire(metrics_dir, pid),
    ).run()


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ListenError(host, port, exc) from None
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock
