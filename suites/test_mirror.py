"""A board pulls each image by its Docker Hub name through the reference k3s mirror configuration
(a docker.io mirror to the private registry), pointed at the run's registry, and gets that image."""

import pytest

from harness.boards import Board
from harness.boards.base import MirrorsUnsupported
from harness.build import BuiltImage
from harness.recipes import Recipe
from harness.registry_mirror import mirrored_name, reference_mirror_files


def test_pull_through_k3s_mirror_config(board: Board, image: BuiltImage, recipe: Recipe) -> None:
    """containerd resolves docker.io/<repository>:<tag> through the generated hosts.toml to our registry."""
    files = reference_mirror_files(board.sees(image.ref).registry)
    # An image given by digest alone (--image NAME=REF@sha256:...) has no tag to ask for.
    name = mirrored_name(image.ref.repository, image.ref.tag or image.ref.digest or "latest")
    try:
        result = board.pull_through_mirrors(name, files, recipe.platform)
    except MirrorsUnsupported as reason:
        pytest.skip(str(reason))
    assert result.digest == image.ref.digest, (
        f"{recipe.name} on {board.name}: {name} through the mirror gave {result.digest}, not {image.ref.digest}"
    )
