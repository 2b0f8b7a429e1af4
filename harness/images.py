"""The images a run checks: each recipe built and pushed once per run, or taken from ``--image``.

Under pytest-xdist every worker asks here; the first one builds under the run's file lock and
records the outcome (the pinned reference, or the build error), and the others read that record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.build import Builder, BuiltImage
from harness.errors import RvconformError
from harness.image_index import entries_of
from harness.image_ref import ImageRef
from harness.multi_platform_build import build_index
from harness.recipes import Recipe
from harness.registry_access import ACCESS
from harness.registry_client import RegistryClient
from harness.run import Run
from harness.run.records import IMAGE, SIZE, BuildOutcome
from harness.sizes.measure import ImageSize, measure

if TYPE_CHECKING:
    from harness.native_build import NativeBuilder


class ImageSupply:
    """Hands out the pushed image of each recipe, building it at most once per run."""

    def __init__(self, run: Run, builder: Builder | NativeBuilder, given: dict[str, ImageRef]) -> None:
        self.run = run
        self.builder = builder
        self.given = given

    def get(self, recipe: Recipe) -> BuiltImage:
        """The recipe's image, pinned by digest (an index's, for a multi-platform recipe); raises BuildError
        (or RvconformError) when it failed."""
        return self.run.once(IMAGE, lambda: self._make(recipe), recipe.name).image_or_raise()

    def size(self, recipe: Recipe) -> ImageSize:
        """The sizes of the recipe's image (of its view's index entry) in its registry, measured once per run."""
        return self.run.once(SIZE, lambda: self._measure(recipe), size_key(recipe))

    def _measure(self, recipe: Recipe) -> ImageSize:
        ref = self.get(recipe).ref
        return measure(client_for(ref), ref.repository, ref.digest or "", recipe.platform)


    def _make(self, recipe: Recipe) -> BuildOutcome:
        try:
            if recipe.name in self.given:
                return BuildOutcome(self._given(recipe))
            built = build_index(self.builder, recipe) if recipe.multi_platform else self.builder.build(recipe)
            return BuildOutcome(built)
        except RvconformError as error:
            return BuildOutcome.failed(error)

    def _given(self, recipe: Recipe) -> BuiltImage:
        """An image named with --image: pin it to the digest its registry serves now.

        Its platform is the platform tests' business, not a reason to refuse it here.
        """
        ref = self.given[recipe.name]
        if ref.digest and not recipe.multi_platform:
            return BuiltImage(recipe.name, ref, log_path="", seconds=0.0)
        top = client_for(ref).manifest(ref.repository, ref.digest or ref.tag or "latest")
        # A multi-platform recipe's boards pull by tag and run their own entry: its digests are needed.
        entries = tuple((entry.platform, entry.digest) for entry in entries_of(top.body)) if top.is_index else ()
        return BuiltImage(recipe.name, ref.with_digest(top.digest), log_path="", seconds=0.0, entries=entries)


def client_for(ref: ImageRef) -> RegistryClient:
    """A registry client for the registry a reference names: the run's own as spawned; else https, or plain
    HTTP on loopback or where --registry/--registry-http said so. Never https first and http after."""
    access = ACCESS.access(ref.registry)
    return RegistryClient(access.url, access)


def size_key(recipe: Recipe) -> str:
    """Whose size record a view's sizes are: the recipe's for its first platform (the one the size history
    tracks), ``NAME-ARCH`` for its other platforms."""
    return recipe.name if recipe.platform == recipe.platforms[0] else recipe.view_id
