"""The images a run checks: each recipe built and pushed once per run, or taken from ``--image``.

Under pytest-xdist every worker asks here; the first one builds under the run's file lock and
records the outcome (the pinned reference, or the build error), and the others read that record.
"""

from __future__ import annotations

from harness.build import Builder, BuiltImage
from harness.errors import RvconformError
from harness.image_ref import ImageRef
from harness.native_build import NativeBuilder
from harness.recipes import Recipe
from harness.registry_access import ACCESS
from harness.registry_client import RegistryClient
from harness.run import Run
from harness.run.records import IMAGE, SIZE, BuildOutcome
from harness.sizes.measure import ImageSize, measure


class ImageSupply:
    """Hands out the pushed image of each recipe, building it at most once per run."""

    def __init__(self, run: Run, builder: Builder | NativeBuilder, given: dict[str, ImageRef]) -> None:
        self.run = run
        self.builder = builder
        self.given = given

    def get(self, recipe: Recipe) -> BuiltImage:
        """The recipe's image, pinned by digest; raises BuildError (or RvconformError) when it failed."""
        return self.run.once(IMAGE, lambda: self._make(recipe), recipe.name).image_or_raise()

    def size(self, recipe: Recipe) -> ImageSize:
        """The image's sizes in its registry, measured once per run."""
        return self.run.once(SIZE, lambda: self._measure(recipe), recipe.name)

    def _measure(self, recipe: Recipe) -> ImageSize:
        ref = self.get(recipe).ref
        return measure(client_for(ref), ref.repository, ref.digest or "", recipe.platform)

    def _make(self, recipe: Recipe) -> BuildOutcome:
        try:
            return BuildOutcome(self._given(recipe) if recipe.name in self.given else self.builder.build(recipe))
        except RvconformError as error:
            return BuildOutcome.failed(error)

    def _given(self, recipe: Recipe) -> BuiltImage:
        """An image named with --image: pin it to the digest its registry serves now.

        Its platform is the platform tests' business, not a reason to refuse it here.
        """
        ref = self.given[recipe.name]
        digest = ref.digest or client_for(ref).manifest(ref.repository, ref.tag or "latest").digest
        return BuiltImage(recipe.name, ref.with_digest(digest), log_path="", seconds=0.0)


def client_for(ref: ImageRef) -> RegistryClient:
    """A registry client for the registry a reference names: the run's own as spawned; else https, or plain
    HTTP on loopback or where --registry/--registry-http said so. Never https first and http after."""
    access = ACCESS.access(ref.registry)
    return RegistryClient(access.url, access)
