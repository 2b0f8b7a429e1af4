"""The reference workflow's k3s registry configuration (fixtures/runtime/registries.yaml: a docker.io mirror to
its private registry at a static lab address), pointed at the registry a test stands up instead."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

from harness.errors import RvconformError
from harness.runtime_config.access import Mirror, endpoint_host
from harness.runtime_config.k3s import parse_k3s_registries

REFERENCE_HOST = "192.168.173.76:6000"
REFERENCE_FIXTURE = Path(__file__).parents[2] / "fixtures" / "runtime" / "registries.yaml"
# The fixture's content, for an installed harness that has no fixtures directory; a unit test keeps
# the two identical.
REFERENCE_REGISTRIES_YAML = """\
# The reference workflow's k3s registry configuration (/etc/rancher/k3s/registries.yaml).
# 192.168.173.76:6000 is the static address of its private registry (plain HTTP): the harness
# substitutes the registry it stands up (reference_k3s_config) and drops the public fallback
# before a test VM reads it (without_public_fallbacks). The original's fallback was a third-party
# Docker Hub mirror (docker.1ms.run); this copy names Docker Hub's own endpoint instead.
mirrors:
  docker.io:
    endpoint:
      - "http://192.168.173.76:6000"
      - "https://registry-1.docker.io"
    rewrite:
      "^riscv64/(.*)": "riscv64/$1"
  "192.168.173.76:6000":
    endpoint:
      - "http://192.168.173.76:6000"
"""


def reference_k3s_config(registry_host: str) -> list[Mirror]:
    """The reference workflow's mirrors with its static registry address replaced by ``registry_host``."""
    if "://" in registry_host or "/" in registry_host or not urlsplit(f"//{registry_host}").hostname:
        raise RvconformError(f"registry host {registry_host!r} is not HOST:PORT",
                             fix="pass the address image references use, e.g. 10.0.2.2:5000")
    text = REFERENCE_FIXTURE.read_text() if REFERENCE_FIXTURE.is_file() else REFERENCE_REGISTRIES_YAML
    mirrors, _ = parse_k3s_registries(text, source=REFERENCE_FIXTURE.name)
    return [_substitute(mirror, REFERENCE_HOST, registry_host) for mirror in mirrors]


def without_public_fallbacks(mirrors: list[Mirror], allowed_hosts: Iterable[str]) -> list[Mirror]:
    """``mirrors`` keeping only endpoints on ``allowed_hosts`` (HOST:PORT or URLs); a mirror left
    without an endpoint is dropped."""
    allowed = {endpoint_host(host) for host in allowed_hosts}
    kept = [replace(m, endpoints=tuple(e for e in m.endpoints if endpoint_host(e) in allowed)) for m in mirrors]
    return [mirror for mirror in kept if mirror.endpoints]


def _substitute(mirror: Mirror, old: str, new: str) -> Mirror:
    endpoints = tuple(_swap_host(endpoint, old, new) for endpoint in mirror.endpoints)
    return replace(mirror, registry=new if mirror.registry == old else mirror.registry, endpoints=endpoints)


def _swap_host(endpoint: str, old: str, new: str) -> str:
    if endpoint_host(endpoint) != old:
        return endpoint
    if "://" not in endpoint:
        return new + endpoint[len(old):]
    return urlsplit(endpoint)._replace(netloc=new).geturl()
