"""The records a run's processes share, each with its type and its one way to and from JSON.

``Run.read(IMAGE, "redis")`` is the redis recipe's build outcome as any process of the run sees it;
``Run.once(IMAGE, make, "redis")`` makes it in the first process that asks, under the run's lock.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.build import BuiltImage
from harness.errors import BuildError, RvconformError
from harness.image_ref import ImageRef
from harness.registry import Registry
from harness.run.slot import Slot
from harness.sizes.measure import ImageSize, LayerSize


@dataclass(frozen=True)
class BuildOutcome:
    """A recipe's image in this run, or why there is none: the error, its fix and the build log."""

    image: BuiltImage | None = None
    error: str = ""
    fix: str | None = None
    log_path: str = ""

    @classmethod
    def failed(cls, error: RvconformError) -> BuildOutcome:
        """The outcome of a build (or an --image lookup) that raised ``error``."""
        log_path = str(error.log_path or "") if isinstance(error, BuildError) else ""
        return cls(error=error.message, fix=error.fix, log_path=log_path)

    @property
    def build_log(self) -> str:
        """The build log's path ("" when there is none, e.g. for an image given with --image)."""
        return self.image.log_path if self.image else self.log_path

    def image_or_raise(self) -> BuiltImage:
        """The image; the build's error again (BuildError, with its log, when it has one) when it failed."""
        if self.image is not None:
            return self.image
        if self.log_path:
            raise BuildError(self.error, fix=self.fix, log_path=Path(self.log_path))
        raise RvconformError(self.error, fix=self.fix)


def _build_to_json(outcome: BuildOutcome) -> dict[str, Any]:
    if outcome.image is None:
        return {"error": outcome.error, "fix": outcome.fix, "log_path": outcome.log_path}
    return {"image": {**asdict(outcome.image), "ref": asdict(outcome.image.ref)}}


def _build_from_json(data: dict[str, Any]) -> BuildOutcome:
    if "image" not in data:
        return BuildOutcome(error=data["error"], fix=data.get("fix"), log_path=data.get("log_path", ""))
    image = data["image"]
    return BuildOutcome(BuiltImage(image["recipe"], ImageRef(**image["ref"]), image["log_path"], image["seconds"],
                                   image.get("reused", False),
                                   tuple(tuple(entry) for entry in image.get("entries", ())),
                                   image.get("index_digest")))


def _size_from_json(data: dict[str, Any]) -> ImageSize:
    return ImageSize(data["compressed"], data["unpacked"], tuple(LayerSize(**layer) for layer in data["layers"]))


@dataclass(frozen=True)
class BoardRecord:
    """A board the run connected to, and the kernel its containers run on (for the report's header)."""

    url: str
    kernel: str


@dataclass(frozen=True)
class VmRecord:
    """The run's VM: where its SSH server listens, the key root accepts and the public host key its sshd must
    present (files of its image), or why it did not boot."""

    ssh_port: int = 0
    key: str = ""
    host_key: str = ""
    console: str = ""
    error: str = ""
    fix: str = ""


#: Each recipe's build outcome (key: the recipe's name).
IMAGE: Slot[BuildOutcome] = Slot("image", _build_to_json, _build_from_json)
#: Each recipe's image size, measured once per run (key: the recipe's name).
SIZE: Slot[ImageSize] = Slot("size", asdict, _size_from_json)
#: The run's registry (spawned, or given with --registry).
REGISTRY: Slot[Registry] = Slot("registry", asdict, lambda data: Registry(**data))
#: Each board the run connected to (key: the board's id).
BOARD: Slot[BoardRecord] = Slot("board", asdict, lambda data: BoardRecord(**data))
#: The run's VM (the qemu board), booted once and shared by the run's processes.
VM: Slot[VmRecord] = Slot("vm", asdict, lambda data: VmRecord(**data))
#: The ids of the crashed runs this run swept when it started.
SWEPT: Slot[list[str]] = Slot("swept", list, list)
