"""Each image is riscv64 through and through (each entry of a multi-platform recipe's index: its own platform):
the index lists exactly the declared platforms, manifest or index entry, config, every ELF file, metadata."""

import pytest

from harness.conformance import metadata, platform
from harness.conformance.elf_audit import audit, describe
from harness.conformance.filesystem import ImageContents
from harness.conformance.platform import ResolvedImage
from harness.fixtures import Outcome
from harness.image_index import entries_of, index_problems
from harness.recipes import Recipe
from harness.registry_client import Manifest


@pytest.mark.index
def test_index_platforms(recipe: Recipe, index: Manifest) -> None:
    """A multi-platform recipe's tag is an image index listing exactly its declared platforms: none missing,
    none unexpected, no variant that is not allowed."""
    where = f"{recipe.name} ({index.digest})"
    assert index.is_index, f"{where}: the tag is a single image ({index.media_type}), not an index of " + \
        ", ".join(recipe.platforms)
    problems = index_problems(entries_of(index.body), recipe.platforms, recipe.allowed_variants)
    assert not problems, f"{where}: " + "; ".join(problems)


def test_manifest_platform(recipe: Recipe, resolved: Outcome[ResolvedImage]) -> None:
    """The reference resolves to linux/riscv64 with no variant (or an allowed one), through an index if any."""
    resolved.fail_if_error(f"{recipe.name}: ")
    assert resolved.value is not None
    problems = platform.manifest_problems(resolved.value, recipe.allowed_variants)
    assert not problems, f"{recipe.name} ({recipe.platform}): " + "; ".join(problems)


def test_config_platform(recipe: Recipe, resolved_image: ResolvedImage) -> None:
    """The image config says the same platform as the manifest or index entry."""
    problems = platform.config_problems(resolved_image, recipe.platform)
    assert not problems, f"{recipe.name} ({recipe.platform}): " + "; ".join(problems)


def test_elf_files(recipe: Recipe, image_contents: ImageContents) -> None:
    """Every ELF file is 64-bit RISC-V, lp64d (in another platform's entry: that architecture); dynamic
    executables find their interpreter and libraries."""
    problems = audit(image_contents, recipe.architecture)
    assert not problems, (
        f"{recipe.name} ({recipe.platform}): {len(problems)} problem(s) among {len(image_contents.elves)} ELF files:\n"
        + describe(problems)
    )


def test_config_metadata(recipe: Recipe, resolved_image: ResolvedImage) -> None:
    """Exposed port, cmd, entrypoint, user and OCI labels are what image.toml declares."""
    problems = metadata.metadata_problems(resolved_image.config, recipe)
    assert not problems, f"{recipe.name}: " + "; ".join(problems)
