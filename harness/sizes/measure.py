"""Image sizes as the registry holds them: compressed (config + layer blobs) and unpacked (file bytes).

Unpacked bytes are counted the way `docker image inspect` reports Size: the bytes of the files
each layer adds, summed over layers, so the numbers compare with what people see locally.
"""

from __future__ import annotations

import tarfile
from dataclasses import dataclass

from harness.registry_client import RegistryClient, select_platform


@dataclass(frozen=True)
class LayerSize:
    """One layer: its digest, blob bytes, the bytes of the files it adds, and the step that made it."""

    digest: str
    compressed: int
    unpacked: int
    created_by: str = ""


@dataclass(frozen=True)
class ImageSize:
    """Compressed and unpacked bytes of one image, and its layers in order."""

    compressed: int
    unpacked: int
    layers: tuple[LayerSize, ...]


def measure(client: RegistryClient, repository: str, reference: str, platform: str) -> ImageSize:
    """Measure the image for ``platform`` behind ``repository@reference`` in the registry."""
    manifest = select_platform(client, repository, reference, platform)
    config = client.blob_json(repository, manifest.body["config"]["digest"])
    steps = layer_steps(config)
    layers = tuple(
        LayerSize(layer["digest"], int(layer["size"]), _unpacked_bytes(client, repository, layer["digest"]),
                  steps[index] if index < len(steps) else "")
        for index, layer in enumerate(manifest.body.get("layers", []))
    )
    compressed = int(manifest.body["config"]["size"]) + sum(layer.compressed for layer in layers)
    return ImageSize(compressed=compressed, unpacked=sum(layer.unpacked for layer in layers), layers=layers)


def layer_steps(config: dict) -> list[str]:
    """The build step (``created_by``) of each layer, in layer order, from the config's history."""
    return [entry.get("created_by", "") for entry in config.get("history", []) if not entry.get("empty_layer")]


def _unpacked_bytes(client: RegistryClient, repository: str, digest: str) -> int:
    path = client.blob(repository, digest)
    with tarfile.open(path, mode="r:*") as layer:
        return sum(member.size for member in layer if member.isreg())
