"""What a runtime needs to know about a registry (address, TLS, credentials) and about a mirror."""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from harness.errors import RvconformError

REGISTRY_FORM = "http://HOST:PORT (plain HTTP), https://HOST:PORT, or bare HOST:PORT for plain HTTP; no path"
# Characters that JSON leaves raw but YAML or TOML must not see raw: DEL, C1 controls, Unicode line
# separators and the byte order mark.
_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff]")


@dataclass(frozen=True)
class RegistryAccess:
    """A registry as a runtime reaches it: its base URL and the TLS and credential settings it needs.

    ``url`` is ``http://HOST:PORT`` (plain HTTP) or ``https://HOST:PORT``; ``ca_file`` and
    ``skip_verify`` only mean something for https.
    """

    url: str
    ca_file: str | None = None
    skip_verify: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def host(self) -> str:
        """``HOST:PORT`` as image references and runtime configs name the registry."""
        return urlsplit(self.url).netloc

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme

    @property
    def insecure(self) -> bool:
        """Plain HTTP: every runtime must be told to allow it."""
        return self.scheme == "http"

    @property
    def has_tls_settings(self) -> bool:
        return bool(self.ca_file) or self.skip_verify

    @property
    def has_auth(self) -> bool:
        return self.username is not None or self.password is not None


@dataclass(frozen=True)
class Mirror:
    """Where a runtime pulls images named after ``registry`` (``docker.io``, ``10.0.2.2:5000``, ``*``).

    ``endpoints`` are tried in order; ``rewrites`` are (regex, replacement) pairs applied to the
    repository name, k3s style (``"^riscv64/(.*)"`` -> ``"riscv64/$1"``).
    """

    registry: str
    endpoints: tuple[str, ...]
    rewrites: tuple[tuple[str, str], ...] = ()


def parse_registry(url: str) -> RegistryAccess:
    """The registry at ``url``; a bare ``HOST:PORT`` is plain HTTP. RvconformError for anything else."""
    text = url.strip()
    parts = urlsplit(text if "://" in text else f"http://{text}")
    try:
        _ = parts.port  # raises ValueError for a port that is not a number
    except ValueError:
        parts = parts._replace(netloc="")
    if (parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/")
            or parts.query or parts.fragment or "@" in parts.netloc):
        raise RvconformError(f"registry URL {url!r} is not a registry base URL",
                             fix=f"write it as {REGISTRY_FORM}; credentials go in --username/--password-env")
    return RegistryAccess(url=f"{parts.scheme}://{parts.netloc}")


def normalize_endpoint(endpoint: str) -> str:
    """An endpoint with its scheme, as k3s and containerd read one without: https, except plain http
    for a loopback address on a port other than 443."""
    if "://" in endpoint:
        return endpoint
    parts = urlsplit(f"//{endpoint}")
    try:
        port = parts.port
    except ValueError:
        port = None
    local = port not in (None, 443) and _is_loopback(parts.hostname or "")
    return f"{'http' if local else 'https'}://{endpoint}"


def endpoint_host(endpoint: str) -> str:
    """``HOST:PORT`` of an endpoint, with or without a scheme."""
    return urlsplit(normalize_endpoint(endpoint)).netloc


def quote(text: str) -> str:
    """``text`` as a double-quoted string that is valid JSON, YAML and TOML alike."""
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(text, ensure_ascii=False))


def _is_loopback(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False
