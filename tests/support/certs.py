"""Certificates made by the suite (trustme): a CA, server certificates for 127.0.0.1 and
localhost, client certificates for PBXs, written as PEM files, and client SSL contexts."""

from __future__ import annotations

import ssl
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes


class Pki:
    def __init__(self, directory: Path, name: str = "ca") -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.ca = trustme.CA(organization_name=f"nocontact test {name}")
        self.ca_file = directory / f"{name}.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        self._issued = 0

    def issue(self, *names: str) -> tuple[Path, Path]:
        """(certificate chain, key) files for a new certificate naming `names`."""
        self._issued += 1
        cert = self.ca.issue_cert(*names)
        stem = self.directory / f"{names[0]}-{self._issued}"
        chain, key = stem.with_suffix(".crt"), stem.with_suffix(".key")
        chain.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
        cert.private_key_pem.write_to_path(str(key))
        return chain, key

    def server(self) -> tuple[Path, Path]:
        return self.issue("localhost", "127.0.0.1")

    def client(self, name: str) -> tuple[Path, Path]:
        return self.issue(f"{name}.pbx.test")

    def client_context(self, certificate: tuple[Path, Path] | None = None) -> ssl.SSLContext:
        """Trusts this CA; presents `certificate` when given."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        if certificate is not None:
            context.load_cert_chain(*certificate)
        return context


def fingerprint(chain: Path) -> str:
    """SHA-256 of the first certificate in a PEM file (by cryptography, not the gateway's code)."""
    certificate = x509.load_pem_x509_certificate(chain.read_bytes())
    return certificate.fingerprint(hashes.SHA256()).hex()
