"""Loopback ports for the things the harness starts itself (registry, VM forwards, test sshd)."""

from __future__ import annotations

import socket


def free_loopback_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago; the caller must cope with losing the race."""
    return free_port("127.0.0.1")


def free_port(address: str) -> int:
    """A TCP port on the local ``address`` that was free a moment ago; the caller must cope with losing the race."""
    with socket.socket() as probe:
        probe.bind((address, 0))
        return probe.getsockname()[1]
