"""Pull by tag, the way a node of a mixed cluster does: the board asks for the tag for its own platform and
must receive that platform's entry of the index. Which entry it received is read from what it pulled (the
image config digest), never assumed from what it asked for."""

from __future__ import annotations

from dataclasses import dataclass, replace

from harness.boards import Board
from harness.build import BuiltImage
from harness.defaults import PULL_TIMEOUT
from harness.registry_client import RegistryClient


@dataclass(frozen=True)
class TagPull:
    """A board's pull of a multi-platform tag: what it asked for and which entry (digest, platform) it got."""

    board: str
    tag_ref: str
    platform: str
    expected_digest: str | None
    got_digest: str | None
    got_platform: str
    seconds: float

    def describe(self) -> str:
        """One line for the report: which entry the board received."""
        return f"{self.board} pulled {self.tag_ref} for {self.platform} and got entry {self.got_digest} " \
               f"({self.got_platform})"

    def problems(self) -> list[str]:
        """Why the board did not receive the entry for its platform ([] when it did)."""
        if self.expected_digest is None:
            return [f"{self.tag_ref} has no {self.platform} entry, so {self.board} cannot get one"]
        if self.got_digest is None:
            return [f"{self.board} pulled {self.tag_ref} for {self.platform}, but what it got ({self.got_platform}) "
                    "is none of the index's entries"]
        if self.got_digest != self.expected_digest:
            return [f"{self.board} pulled {self.tag_ref} for {self.platform} and got entry {self.got_digest} "
                    f"({self.got_platform}), not the {self.platform} entry {self.expected_digest}"]
        return []


def pull_by_tag(board: Board, image: BuiltImage, platform: str, client: RegistryClient,
                timeout: float = PULL_TIMEOUT) -> TagPull:
    """Have ``board`` pull ``image``'s tag (not its digest) for ``platform`` and find the entry it received."""
    tag_ref = replace(image.ref, digest=None)
    result = board.pull(tag_ref, platform, timeout)
    got = entry_with_config(client, image, result.config_digest) if result.config_digest else None
    return TagPull(board.name, str(tag_ref), platform, image.entry_digest(platform), got, result.platform,
                   result.seconds)


def entry_with_config(client: RegistryClient, image: BuiltImage, config_digest: str) -> str | None:
    """The digest of the index entry of ``image`` whose config is ``config_digest`` (None: no entry has it)."""
    for _, digest in image.entries:
        manifest = client.manifest(image.ref.repository, digest)
        if manifest.body.get("config", {}).get("digest") == config_digest:
            return digest
    return None
