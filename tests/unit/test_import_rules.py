"""The import rules of docs/architecture.md, checked on the source: a change that breaks one fails here, naming
the module, the import and the rule."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]

#: A package (or module) -> what it must never import; a rule covers the package's modules and subpackages.
FORBIDDEN = {
    "harness": ("suites",),
    "harness.boards": ("harness.conformance", "harness.sizes", "harness.images", "harness.deploy", "harness.build",
                       "harness.probes", "harness.fixtures", "harness.plugin"),
    "harness.probes": ("harness.boards", "harness.run", "harness.build", "harness.conformance", "harness.fixtures"),
    "harness.conformance": ("harness.boards", "harness.build", "harness.deploy", "harness.run", "harness.fixtures"),
    "harness.run": ("harness.boards", "harness.fixtures", "harness.plugin", "harness.deploy"),
    "harness.sizes": ("harness.boards", "harness.run", "harness.fixtures", "harness.plugin"),
    "harness.runtime_config": ("harness.boards", "harness.run", "harness.registry", "harness.fixtures"),
    "harness.wait": ("harness.boards", "harness.run", "harness.probes"),
    "harness.checks": ("harness.fixtures", "harness.run", "harness.sizes"),
}
#: The pytest layer (and cli, which runs pytest): the only modules that may import pytest.
PYTEST_LAYER = {"harness.cli", "harness.plugin", "harness.fixtures", "harness.plugin_state", "harness.settings",
                "harness.reports", "harness.results", "harness.progress_display", "harness.board_groups"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in it (also inside functions and TYPE_CHECKING blocks)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


SOURCES = sorted((ROOT / "harness").rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: module_name(path))
def test_imports_follow_the_rules(path: Path) -> None:
    name, imported = module_name(path), imports(path)
    broken = [f"{name} imports {target} ({package} must not import {banned})"
              for package, banned_list in FORBIDDEN.items() if within(name, package)
              for banned in banned_list for target in sorted(imported) if within(target, banned)]
    if name not in PYTEST_LAYER:
        broken += [f"{name} imports {target} (only the pytest layer imports pytest)"
                   for target in sorted(imported) if within(target, "pytest") or within(target, "_pytest")]
    broken += [f"{name} imports {target} (the plugin is loaded by pytest, never imported)"
               for target in sorted(imported) if within(target, "harness.plugin") and name != "harness.plugin"]
    assert not broken, "\n".join(broken)


def test_the_rules_name_real_packages() -> None:
    names = {module_name(path) for path in SOURCES}
    for package in [*FORBIDDEN, *PYTEST_LAYER]:
        assert any(within(name, package) for name in names), f"{package} is not a module of harness"
