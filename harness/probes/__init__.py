"""Probes: what "the image does its job" means, one module per kind of service."""

from __future__ import annotations

from collections.abc import Callable

from harness.probes import http, redis
from harness.probes.endpoint import Endpoint

#: How to tell that a service of each check profile is ready to be probed (endpoint, seconds per attempt).
READINESS: dict[str, Callable[[Endpoint, float], None]] = {"redis": redis.answers, "nginx": http.answers}

__all__ = ["READINESS", "Endpoint"]
