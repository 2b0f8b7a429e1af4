"""dockerd: ``insecure-registries`` in /etc/docker/daemon.json, and certs.d for a registry's own CA."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from harness.errors import RvconformError
from harness.runtime_config.access import RegistryAccess

DAEMON_JSON = "/etc/docker/daemon.json"
CERTS_D = "/etc/docker/certs.d"


def docker_daemon_json(registries: Iterable[RegistryAccess], existing: dict[str, Any] | None = None) -> str:
    """daemon.json allowing the plain-HTTP (or unverified https) ``registries``, merged into ``existing``.

    The other keys of ``existing`` and its ``insecure-registries`` entries are kept; the list comes
    out sorted, without duplicates. An https registry with its own CA needs ``docker_cert_paths``.
    """
    config = dict(existing or {})
    current = config.get("insecure-registries", [])
    if not isinstance(current, list) or not all(isinstance(entry, str) for entry in current):
        raise RvconformError(f"daemon.json has insecure-registries = {current!r}, not a list of strings",
                             fix='make it a list such as ["10.0.2.2:5000"], or remove it')
    # dockerd also takes an https registry with an unverifiable certificate as insecure.
    merged = sorted({*current, *(r.host for r in registries if r.insecure or r.skip_verify)})
    if merged or "insecure-registries" in config:
        config["insecure-registries"] = merged
    return json.dumps(config, indent=2) + "\n"


def docker_cert_paths(registry: RegistryAccess) -> list[str]:
    """Where dockerd looks for ``registry``'s CA; empty unless it is https with a CA file of its own."""
    if registry.scheme != "https" or not registry.ca_file:
        return []
    return [f"{CERTS_D}/{registry.host}/ca.crt"]
