"""TLS for ``nocontact serve``: one server SSLContext per worker, its certificate reloadable in place
(SIGHUP) for rotation, optionally asking clients for a certificate signed by ``--tls-client-ca``
(mutual TLS: a PBX may then authenticate by certificate instead of a bearer token).

A reload loads the new files into a scratch context first: a missing file, an unreadable key or a
key that does not match its certificate leaves the live context untouched (and is logged), so a
botched rotation never takes a serving gateway's TLS down. Handshakes already made keep their
certificate; new ones get the new one."""

from __future__ import annotations

import hashlib
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matcher.errors import ConfigError

log = logging.getLogger("nocontact.gateway.tls")


@dataclass(frozen=True, slots=True)
class TlsFiles:
    cert: Path  # PEM: the server certificate, then any intermediates
    key: Path  # PEM private key (unencrypted: the service starts unattended)
    client_ca: Path | None = None  # PEM CA bundle; set = ask every client for a certificate

    @classmethod
    def from_options(cls, cert: Any, key: Any, client_ca: Any = None) -> TlsFiles | None:
        """None when TLS is off; a ConfigError naming the option when only half of it is given."""
        if cert is None and key is None:
            if client_ca is not None:
                raise ConfigError("gateway.tls_client_ca", client_ca, "Needs tls_cert and tls_key.")
            return None
        if cert is None or key is None:
            missing = "tls_cert" if cert is None else "tls_key"
            raise ConfigError(f"gateway.{missing}", None, "tls_cert and tls_key go together.")
        return cls(Path(cert), Path(key), None if client_ca is None else Path(client_ca))


def _load(context: ssl.SSLContext, files: TlsFiles) -> None:
    context.load_cert_chain(files.cert, files.key)
    if files.client_ca is not None:
        context.load_verify_locations(cafile=files.client_ca)


# The most plaintext one TLS record carries (RFC 8446 5.1, RFC 5246 6.2.1): one SSL_read never
# returns more.
RECORD_PLAINTEXT = 16384


class RecordSizedReads(ssl.SSLObject):
    """The server's TLS connections as asyncio's and uvloop's SSL transports drive them (memory
    BIOs), with reads asked for at most one record's plaintext, and no Python frames between the
    transport and ``_ssl`` but one for ``read``.

    Both transports read decrypted data with ``read(256 KiB)`` until the BIO is empty. Without a
    buffer, ``SSLObject.read(n)`` allocates n bytes first and shrinks them to what it read: for a
    300-byte request that is a 256 KiB block, above glibc's mmap threshold (which the serving
    process fixes at 128 kB, sync.offloop.malloc), so an ``mmap``, a page fault, an ``mremap`` and
    a ``munmap`` for every request (benchmarks/README.md, bench_tls). A record's worth comes from
    the heap. Reading less than is available is always correct: the
    transports read again while the BIO or the connection holds more.

    ``SSLObject.read``, ``write`` and ``pending`` are Python methods that only call the ``_ssl``
    object's own; uvloop binds them once per connection and calls ``pending``, ``read`` and
    ``write`` for every request. Each object gets, as instance attributes, the ``_ssl`` object's
    ``write`` and ``pending`` themselves and a ``read`` of one frame (the record clamp)."""

    @classmethod
    def _create(cls, *args: Any, **kwargs: Any) -> Any:
        self = super()._create(*args, **kwargs)  # type: ignore[misc]
        raw = self._sslobj
        raw_read = raw.read

        def read(len: int = 1024, buffer: Any = None) -> Any:
            if buffer is None:
                return raw_read(len if len < RECORD_PLAINTEXT else RECORD_PLAINTEXT)
            return raw_read(len, buffer)

        self.read = read
        self.write = raw.write
        self.pending = raw.pending
        return self


def _blank(files: TlsFiles) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.sslobject_class = RecordSizedReads
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION
    if files.client_ca is not None:
        # Optional: a client without a certificate can still use a bearer token; one that sends a
        # certificate not signed by the CA fails the handshake.
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


class ServerTls:
    """The live server context and its reload."""

    def __init__(self, files: TlsFiles) -> None:
        self.files = files
        self.context = _blank(files)
        try:
            _load(self.context, files)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                "gateway.tls_cert", str(files.cert), f"Cannot load it with its key: {exc}"
            ) from None
        self.fingerprint = certificate_fingerprint(files.cert)

    def reload(self) -> bool:
        """Load the files again (after a certificate rotation); False, and the old certificate kept,
        when they do not load."""
        try:
            _load(_blank(self.files), self.files)
            _load(self.context, self.files)
            fingerprint = certificate_fingerprint(self.files.cert)
        except (OSError, ssl.SSLError, ValueError) as exc:
            log.error("tls: reload failed, keeping the current certificate: %s", exc)
            return False
        log.info("tls: certificate reloaded (sha256 %s, was %s)", fingerprint[:16], self.fingerprint[:16])
        self.fingerprint = fingerprint
        return True

    def reload_if_changed(self) -> bool:
        """Reload when the certificate file no longer holds the certificate being served (a
        rotation this process missed the SIGHUP for); False when nothing changed or it failed."""
        try:
            current = certificate_fingerprint(self.files.cert)
        except (OSError, ValueError):
            return self.reload()  # a broken file: reload says so in the log and keeps the old one
        return current != self.fingerprint and self.reload()


def certificate_fingerprint(path: Path) -> str:
    """The SHA-256 fingerprint (lower-case hex) of the first certificate in a PEM file."""
    der = ssl.PEM_cert_to_DER_cert(_first_pem(path.read_text()))
    return hashlib.sha256(der).hexdigest()


def _first_pem(text: str) -> str:
    begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
    start = text.find(begin)
    stop = text.find(end, start)
    if start < 0 or stop < 0:
        raise ValueError("no PEM certificate in the file")
    return text[start : stop + len(end)] + "\n"


def peer_fingerprint(transport: Any) -> str | None:
    """The SHA-256 fingerprint of the certificate the client presented on this connection (checked
    against the client CA by the handshake), or None: plain HTTP, or no certificate sent."""
    if transport is None:
        return None
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return None if der is None else hashlib.sha256(der).hexdigest()
