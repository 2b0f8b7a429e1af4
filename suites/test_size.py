"""Each image stays within the size budget its recipe declares, and does not grow past its allowance."""

import pytest

from harness.build import BuiltImage
from harness.images import size_key
from harness.recipes import Recipe
from harness.sizes.budget import growth_problems, over_budget
from harness.sizes.history import Baseline, record_from
from harness.sizes.measure import ImageSize


def test_within_budget(recipe: Recipe, image_size: ImageSize) -> None:
    """Compressed (config + layers in the registry) and unpacked bytes are within budget."""
    problems = over_budget(image_size, recipe.budget)
    assert not problems, f"{recipe.name}: " + "; ".join(problems)


def test_size_growth(recipe: Recipe, image: BuiltImage, image_size: ImageSize, size_baseline: Baseline | None) -> None:
    """Growth against the baseline stays within the recipe's allowance (bytes and percent)."""
    if recipe.budget.growth_bytes is None and recipe.budget.growth_percent is None:
        pytest.skip(f"{recipe.name}: image.toml sets no growth limit (budget.growth_bytes, budget.growth_percent)")
    if size_baseline is None:
        pytest.skip(f"{recipe.name}: no baseline yet (no earlier record on the baseline branch, no --baseline file)")
    current = record_from(size_key(recipe), str(image.ref), image.ref.digest or "", recipe.platform, image_size,
                          "", "", "")
    problems = growth_problems(current, size_baseline, recipe.budget)
    assert not problems, "; ".join(problems)
