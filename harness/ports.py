"""Loopback ports for the things the harness starts itself (registry, VM forwards, test sshd)."""

from __future__ import annotations

import socket


def free_loopback_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago; the caller must cope with losing the race."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
