"""The reference k3s mirror configuration (a docker.io mirror to the private registry), pointed at the
registry a board sees, as the containerd hosts.toml files k3s would write from it."""

from __future__ import annotations

import re
from dataclasses import replace

from harness.runtime_config import k3s_to_containerd, reference_k3s_config, without_public_fallbacks
from harness.runtime_config.access import RegistryAccess

CERTS_D = "/etc/containerd/certs.d/"


def reference_mirror_files(registry: str, access: RegistryAccess | None = None, authorization: str | None = None
                           ) -> dict[str, str]:
    """hosts.toml files (relative to a hosts dir) for the reference config with its address set to
    ``registry`` (host:port as the board sees it).

    The reference's public fallback endpoint is dropped: a test may only talk to what it owns. ``access``
    (the board's, for a TLS registry) turns the endpoints to https with its CA; ``authorization`` (a Basic
    header or a Bearer token, see RegistryClient.pull_authorization) is sent to the registry: such files hold
    a secret (write them 0600).
    """
    mirrors = without_public_fallbacks(reference_k3s_config(registry), [registry])
    if access and access.scheme == "https":
        mirrors = [replace(m, endpoints=tuple(e.replace("http://", "https://", 1) for e in m.endpoints))
                   for m in mirrors]
    accesses = {registry: access} if access else {}
    files = k3s_to_containerd(mirrors, accesses, {registry: authorization} if authorization else None)
    return {path.removeprefix(CERTS_D): text for path, text in files.items()}


def endpoints(hosts_files: dict[str, str]) -> list[str]:
    """The endpoints the hosts.toml files send pulls to, in order."""
    return [url for text in hosts_files.values() for url in re.findall(r'^\[host\."([^"]+)"\]', text, re.M)]


def mirrored_name(repository: str, reference: str) -> str:
    """The Docker Hub name a k3s node asks for, by tag or by digest (docker.io/riscv64/redis:7.0.15,
    docker.io/riscv64/redis@sha256:...)."""
    return f"docker.io/{repository}{'@' if reference.startswith('sha256:') else ':'}{reference}"
