"""Probes: what "the image does its job" means, one module per kind of service."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from harness.probes.endpoint import Endpoint

#: Check profiles whose service has a protocol-level readiness probe, and the module that has it.
_READINESS_MODULES = {"redis": "harness.probes.redis", "nginx": "harness.probes.http"}


def readiness(profile: str) -> Callable[[Endpoint, float], None] | None:
    """How to tell that a service of ``profile`` is ready (endpoint, seconds per attempt); None when no probe
    knows the profile. Its client library loads on first use."""
    module = _READINESS_MODULES.get(profile)
    return import_module(module).answers if module else None


__all__ = ["Endpoint", "readiness"]
