"""TLS and htpasswd for the registry a run spawns, made for the run, kept in its directory (mode 0600).

The CA (trustme) is new for every run; the server certificate is valid for every address a board uses
to reach the host's loopback (127.0.0.1, localhost, and 10.0.2.2 for the QEMU VM). The password is
random and lives only in ``credentials`` (0600) and in memory; the htpasswd file holds its bcrypt hash.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from harness.registry_access import Credentials

#: Every address a board may use for a registry on the host's 127.0.0.1 (10.0.2.2: QEMU's user network).
REGISTRY_NAMES = ("127.0.0.1", "localhost", "10.0.2.2")
USERNAME = "rvconform"


@dataclass(frozen=True)
class TlsFiles:
    """The PEM files a TLS registry serves with, and the CA that clients must trust."""

    ca: Path
    certificate: Path
    key: Path


def write_private(path: Path, data: bytes) -> Path:
    """Write ``data`` to a new file readable only by its owner (created 0600, never wider)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return path


def make_tls(directory: Path, names: tuple[str, ...] = REGISTRY_NAMES) -> TlsFiles:
    """A CA made now, and a server certificate it signed for ``names``."""
    import trustme  # with cryptography a tenth of a second at start-up; only a TLS registry needs it

    ca = trustme.CA(organization_name="rvconform run CA")
    server = ca.issue_cert(*names)
    return TlsFiles(
        ca=write_private(directory / "ca.crt", ca.cert_pem.bytes()),
        certificate=write_private(directory / "server.crt", b"".join(b.bytes() for b in server.cert_chain_pems)),
        key=write_private(directory / "server.key", server.private_key_pem.bytes()),
    )


def make_htpasswd(directory: Path, username: str = USERNAME) -> tuple[Path, Path]:
    """A random password for ``username``: (htpasswd with its bcrypt hash, credentials file), both 0600."""
    import bcrypt  # only a registry with auth needs it

    password = secrets.token_urlsafe(24)
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10))
    htpasswd = write_private(directory / "htpasswd", username.encode() + b":" + hashed + b"\n")
    credentials = write_private(directory / "credentials", f"{username}\n{password}\n".encode())
    return htpasswd, credentials


def read_credentials(path: Path) -> Credentials:
    """The username and password a credentials file holds (first two lines)."""
    username, password = path.read_text().splitlines()[:2]
    return Credentials(username, password, f"the run's registry credentials ({path})")


@dataclass(frozen=True)
class RegistrySecurity:
    """How a spawned registry is secured: TLS files, htpasswd (with the credentials file clients use), or
    token auth (``token``: realm, service, issuer, rootcertbundle, as distribution's ``auth.token``)."""

    tls: TlsFiles | None = None
    htpasswd: Path | None = None
    credentials_file: Path | None = None
    token: dict[str, str] | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    def config(self) -> dict[str, object]:
        """The registry config sections: ``http.tls`` and ``auth``."""
        sections: dict[str, object] = {}
        if self.tls:
            sections["tls"] = {"certificate": str(self.tls.certificate), "key": str(self.tls.key)}
        if self.htpasswd:
            sections["auth"] = {"htpasswd": {"realm": "rvconform", "path": str(self.htpasswd)}}
        elif self.token:
            sections["auth"] = {"token": dict(self.token)}
        return sections


def secure(directory: Path, tls: bool, auth: bool) -> RegistrySecurity:
    """The files for a registry with TLS and/or htpasswd auth, made in ``directory``."""
    htpasswd, credentials = make_htpasswd(directory) if auth else (None, None)
    return RegistrySecurity(tls=make_tls(directory) if tls else None, htpasswd=htpasswd, credentials_file=credentials)
