"""A board pulls each image by its Docker Hub name through the reference k3s mirror configuration
(a docker.io mirror to the private registry), pointed at the run's registry, and gets that image."""

import pytest

from harness.boards import Board
from harness.boards.base import MirrorsUnsupported
from harness.build import BuiltImage
from harness.images import client_for
from harness.recipes import Recipe
from harness.registry_mirror import mirrored_name, reference_mirror_files


def test_pull_through_k3s_mirror_config(board: Board, image: BuiltImage, recipe: Recipe) -> None:
    """containerd resolves docker.io/<repository>:<tag> through the generated hosts.toml to our registry."""
    seen = board.sees(image.ref).registry
    access = board.runtime_access(seen)
    # Credentials reach containerd as a header in a 0600 hosts.toml, never on ctr's command line.
    authorization = client_for(image.ref).pull_authorization(image.ref.repository) if access else None
    files = reference_mirror_files(seen, access, authorization)
    # An image given by digest alone (--image NAME=REF@sha256:...) has no tag to ask for.
    name = mirrored_name(image.ref.repository, image.ref.tag or image.ref.digest or "latest")
    try:
        result = board.pull_through_mirrors(name, files, recipe.platform)
    except MirrorsUnsupported as reason:
        pytest.skip(str(reason))
    expected = image.index_digest or image.ref.digest  # a tag of a multi-platform recipe names its index
    assert result.digest == expected, (
        f"{recipe.name} on {board.name}: {name} through the mirror gave {result.digest}, not {expected}"
    )
