"""The maps match the tree: every module of harness is named in the README's Layout and in docs/architecture.md."""

from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
MODULES = sorted(p for p in (ROOT / "harness").rglob("*.py") if p.name != "__init__.py")


def layout_section() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme[readme.index("## Layout"):]


@pytest.mark.parametrize("module", MODULES, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_module_is_on_both_maps(module: Path) -> None:
    assert module.stem in layout_section(), f"README's Layout does not name {module.relative_to(ROOT)}"
    architecture = (ROOT / "docs" / "architecture.md").read_text()
    assert f"{module.name}" in architecture or f"{module.stem}.py" in architecture, (
        f"docs/architecture.md does not name {module.relative_to(ROOT)}")


def test_every_package_is_on_both_maps() -> None:
    for package in sorted(p.parent for p in (ROOT / "harness").rglob("__init__.py") if p.parent.name != "harness"):
        assert f"{package.name}/" in layout_section() and f"{package.name}/" in (
            ROOT / "docs" / "architecture.md").read_text(), package
