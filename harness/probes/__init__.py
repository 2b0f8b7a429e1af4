"""Probes: what "the image does its job" means, one module per kind of service."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module

from harness.probes.endpoint import Endpoint

#: Check profiles whose service has a protocol-level readiness probe, and the module that has it.
_READINESS_MODULES = {"redis": "harness.probes.redis", "nginx": "harness.probes.http"}


@dataclass(frozen=True)
class Readiness:
    """How to tell that a service is ready: ``answers(endpoint, seconds)`` returns once it is, and raises one
    of ``not_ready`` while it is not (any other error is a real failure)."""

    answers: Callable[[Endpoint, float], None]
    not_ready: tuple[type[BaseException], ...]


def readiness(profile: str) -> Readiness | None:
    """The readiness probe of ``profile``; None when no probe knows the profile. Its client library loads
    on first use."""
    name = _READINESS_MODULES.get(profile)
    if name is None:
        return None
    module = import_module(name)
    return Readiness(module.answers, module.NOT_READY)


__all__ = ["Endpoint", "Readiness", "readiness"]
