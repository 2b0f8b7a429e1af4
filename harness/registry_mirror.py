"""The reference k3s mirror configuration (a docker.io mirror to the private registry), pointed at the
registry a board sees, as the containerd hosts.toml files k3s would write from it."""

from __future__ import annotations

import re

from harness.runtime_config import k3s_to_containerd, reference_k3s_config, without_public_fallbacks

CERTS_D = "/etc/containerd/certs.d/"


def reference_mirror_files(registry: str) -> dict[str, str]:
    """hosts.toml files (relative to a hosts dir) for the reference config with its address set to
    ``registry`` (host:port as the board sees it).

    The reference's public fallback endpoint is dropped: a test may only talk to what it owns.
    """
    mirrors = without_public_fallbacks(reference_k3s_config(registry), [registry])
    return {path.removeprefix(CERTS_D): text for path, text in k3s_to_containerd(mirrors, {}).items()}


def endpoints(hosts_files: dict[str, str]) -> list[str]:
    """The endpoints the hosts.toml files send pulls to, in order."""
    return [url for text in hosts_files.values() for url in re.findall(r'^\[host\."([^"]+)"\]', text, re.M)]


def mirrored_name(repository: str, reference: str) -> str:
    """The Docker Hub name a k3s node asks for, by tag or by digest (docker.io/riscv64/redis:7.0.15,
    docker.io/riscv64/redis@sha256:...)."""
    return f"docker.io/{repository}{'@' if reference.startswith('sha256:') else ':'}{reference}"
