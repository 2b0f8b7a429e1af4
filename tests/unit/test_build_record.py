"""The build key: every input of a build changes it, nothing else does."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.build_record import build_key
from harness.recipes import load_recipe

TINY = Path(__file__).parents[1] / "integration" / "images" / "tiny"


@pytest.fixture
def recipe_dir(tmp_path: Path) -> Path:
    return Path(shutil.copytree(TINY, tmp_path / "tiny"))


def _key(directory: Path, args: dict[str, str] | None = None, labels: dict[str, str] | None = None) -> str:
    return build_key(load_recipe(directory), args or {"BASE": "rvconform/debian:sid-riscv64-abc"}, labels or {})


def test_the_same_inputs_give_the_same_key(recipe_dir: Path, tmp_path: Path) -> None:
    twin = Path(shutil.copytree(recipe_dir, tmp_path / "elsewhere" / "tiny"))
    assert _key(recipe_dir) == _key(recipe_dir) == _key(twin), "the key depends on contents, not on where they are"


@pytest.mark.parametrize("change", ["file content", "new file", "mode", "build arg", "label", "base"])
def test_every_input_changes_the_key(recipe_dir: Path, change: str) -> None:
    before = _key(recipe_dir)
    args, labels = None, None
    if change == "file content":
        (recipe_dir / "Dockerfile").write_text((recipe_dir / "Dockerfile").read_text() + "\n# changed\n")
    elif change == "new file":
        (recipe_dir / "extra.conf").write_text("x")
    elif change == "mode":
        (recipe_dir / "Dockerfile").chmod(0o755)
    elif change == "build arg":
        args = {"BASE": "rvconform/debian:sid-riscv64-abc", "PAD": "1"}
    elif change == "label":
        labels = {"org.opencontainers.image.revision": "abc123"}
    else:
        args = {"BASE": "rvconform/debian:sid-riscv64-def"}
    assert _key(recipe_dir, args, labels) != before


def test_a_native_builder_is_part_of_the_key(recipe_dir: Path) -> None:
    recipe = load_recipe(recipe_dir)
    args = {"BASE": "rvconform/debian:sid-riscv64-abc"}
    here = build_key(recipe, args, {})
    on_vm = build_key(recipe, args, {}, builder="qemu linux/riscv64 docker 28.5.2")
    on_board = build_key(recipe, args, {}, builder="ssh://riscv@board1 linux/riscv64 docker 28.5.2")
    assert len({here, on_vm, on_board}) == 3
    assert build_key(recipe, args, {}, builder=None) == here, "builds here keep their keys"
