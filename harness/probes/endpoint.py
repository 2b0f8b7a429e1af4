"""Where a probe talks to: an address the harness reaches, and what stands behind it (for messages)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Endpoint:
    """``host:port`` reachable from the harness, and ``target``, e.g. "redis on local (127.0.0.1:...)"."""

    host: str
    port: int
    target: str

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"
