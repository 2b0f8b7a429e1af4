"""Each image stays within the size budget its recipe declares."""

from harness.recipes import Recipe
from harness.sizes import ImageSize, over_budget


def test_within_budget(recipe: Recipe, image_size: ImageSize) -> None:
    """Compressed (config + layers in the registry) and unpacked bytes are within budget."""
    problems = over_budget(image_size, recipe.budget)
    assert not problems, f"{recipe.name}: " + "; ".join(problems)
