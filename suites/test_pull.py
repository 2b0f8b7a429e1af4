"""Each image pulls on each board, for its platform, and is exactly the image that was pushed."""

from harness.boards import PullResult
from harness.build import BuiltImage
from harness.fixtures import Outcome
from harness.recipes import Recipe


def test_pull(recipe: Recipe, image: BuiltImage, pulled: Outcome[PullResult], board_url: str) -> None:
    """The board pulls the pinned image from the registry and gets the recipe's platform."""
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
