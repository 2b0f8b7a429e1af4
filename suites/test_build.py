"""Each recipe builds for its platform and reaches the registry, pinned by digest."""

from harness.build import BuiltImage
from harness.fixtures import Outcome
from harness.recipes import Recipe


def test_build(recipe: Recipe, built: Outcome[BuiltImage]) -> None:
    """The recipe builds and is pushed (or the --image given for it resolves in its registry)."""
    built.fail_if_error()
    assert built.value is not None and built.value.ref.digest, f"{recipe.name}: pushed without a digest"
