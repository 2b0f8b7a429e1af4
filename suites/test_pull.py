"""Each image pulls on each board, for its platform, and is exactly the image that was pushed."""

import pytest

from harness.boards import PullResult
from harness.build import BuiltImage
from harness.fixtures import Outcome
from harness.recipes import Recipe
from harness.tag_pull import TagPull


def test_pull(recipe: Recipe, image: BuiltImage, pulled: Outcome[PullResult], board_url: str,
              tag_pulled: Outcome[TagPull] | None, request: pytest.FixtureRequest) -> None:
    """The board pulls the pinned image from the registry and gets the recipe's platform; for a multi-platform
    recipe it first pulls the tag for its platform and must receive exactly that platform's entry."""
    if tag_pulled is not None:
        pull = tag_pulled.fail_if_error(f"{recipe.name} on {board_url}: pull by tag: ")
        request.node.user_properties.append(("entry", pull.describe()))
        problems = pull.problems()
        assert not problems, f"{recipe.name} on {board_url}: " + "; ".join(problems)
    pulled.fail_if_error()
    result = pulled.value
    assert result is not None
    assert result.platform == recipe.platform, (
        f"{recipe.name} on {board_url}: expected the pulled image to be {recipe.platform}, "
        f"got {result.platform}"
    )
    assert result.digest == image.ref.digest, (
        f"{recipe.name} on {board_url}: pulled digest {result.digest} is not the pushed {image.ref.digest}"
    )
