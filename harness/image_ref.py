"""Image references: ``registry/repository:tag@digest``, split so a board can swap the registry part."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from harness.errors import RvconformError

_REF = re.compile(
    r"^(?P<registry>[a-zA-Z0-9.-]+(?::\d+)?)/(?P<repository>[a-z0-9._/-]+)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]*))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)


@dataclass(frozen=True)
class ImageRef:
    """A reference to an image in a registry."""

    registry: str
    repository: str
    tag: str | None = "latest"
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> ImageRef:
        """Parse ``host[:port]/repo[:tag][@sha256:...]``; the registry part is required."""
        match = _REF.match(text.strip())
        if not match or ("." not in match["registry"] and ":" not in match["registry"]
                         and match["registry"] != "localhost"):
            raise RvconformError(
                f"'{text}' is not an image reference with a registry",
                fix="write it as HOST:PORT/REPOSITORY[:TAG][@sha256:DIGEST], e.g. "
                "lab-registry:5000/riscv64/redis:7.0.15",
            )
        tag = match["tag"] or (None if match["digest"] else "latest")
        return cls(match["registry"], match["repository"], tag, match["digest"])

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        return text + (f"@{self.digest}" if self.digest else "")

    @property
    def pinned(self) -> str:
        """The reference a board pulls: by digest when known, so it checks exactly what was built."""
        if self.digest:
            return f"{self.registry}/{self.repository}@{self.digest}"
        return str(self)

    def at(self, registry: str) -> ImageRef:
        """The same image as seen through another registry address (e.g. 10.0.2.2:PORT from a VM)."""
        return replace(self, registry=registry)

    def with_digest(self, digest: str) -> ImageRef:
        return replace(self, digest=digest)
