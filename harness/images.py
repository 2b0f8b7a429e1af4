"""The images a run checks: each recipe built and pushed once per run, or taken from ``--image``.

Under pytest-xdist every worker asks here; the first one builds under the run's file lock and
records the outcome (the pinned reference, or the build error), and the others read that record.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from harness.build import Builder, BuiltImage
from harness.errors import BuildError, RvconformError
from harness.recipes import Recipe
from harness.reference import ImageRef
from harness.registry import external_registry
from harness.registry_client import RegistryClient
from harness.runstate import Run
from harness.sizes import ImageSize, LayerSize, measure


class ImageSupply:
    """Hands out the pushed image of each recipe, building it at most once per run."""

    def __init__(self, run: Run, builder: Builder, given: dict[str, ImageRef]) -> None:
        self.run = run
        self.builder = builder
        self.given = given

    def get(self, recipe: Recipe) -> BuiltImage:
        """The recipe's image, pinned by digest; raises BuildError (or RvconformError) when it failed."""
        key = f"image-{recipe.name}"
        with self.run.lock(key):
            record = self.run.read(key)
            if record is None:
                record = self._make(recipe)
                self.run.write(key, record)
        if "error" in record:
            error_type = BuildError if record.get("log_path") else RvconformError
            raise error_type(record["error"], fix=record.get("fix"),
                             **({"log_path": Path(record["log_path"])} if record.get("log_path") else {}))
        return BuiltImage(record["recipe"], ImageRef(**record["ref"]), record["log_path"], record["seconds"],
                          record.get("reused", False))

    def size(self, recipe: Recipe) -> ImageSize:
        """The image's sizes in its registry, measured once per run."""
        key = f"size-{recipe.name}"
        with self.run.lock(key):
            record = self.run.read(key)
            if record is None:
                ref = self.get(recipe).ref
                size = measure(client_for(ref), ref.repository, ref.digest or "", recipe.platform)
                record = asdict(size)
                self.run.write(key, record)
        layers = tuple(LayerSize(**layer) for layer in record["layers"])
        return ImageSize(record["compressed"], record["unpacked"], layers)

    def _make(self, recipe: Recipe) -> dict:
        try:
            image = self._given(recipe) if recipe.name in self.given else self.builder.build(recipe)
        except BuildError as error:
            return {"error": error.message, "fix": error.fix, "log_path": str(error.log_path or "")}
        except RvconformError as error:
            return {"error": error.message, "fix": error.fix}
        return {**asdict(image), "ref": asdict(image.ref)}

    def _given(self, recipe: Recipe) -> BuiltImage:
        """An image named with --image: pin it to the digest its registry serves now.

        Its platform is the platform tests' business, not a reason to refuse it here.
        """
        ref = self.given[recipe.name]
        digest = ref.digest or client_for(ref).manifest(ref.repository, ref.tag or "latest").digest
        return BuiltImage(recipe.name, ref.with_digest(digest), log_path="", seconds=0.0)


def client_for(ref: ImageRef) -> RegistryClient:
    """A registry client for the registry a reference names (plain HTTP on loopback, else HTTPS first)."""
    host = ref.registry.split(":")[0]
    if host in ("127.0.0.1", "localhost", "::1"):
        return RegistryClient(f"http://{ref.registry}")
    try:
        return external_registry(f"https://{ref.registry}").client()
    except RvconformError:
        return external_registry(f"http://{ref.registry}").client()
