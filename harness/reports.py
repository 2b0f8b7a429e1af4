"""What a run reports: JUnit properties per test, HTML columns and extras, and a line per image."""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.recipes import Recipe
from harness.sizes.measure import ImageSize
from harness.units import format_size


def item_properties(item: pytest.Item, size: ImageSize | None) -> list[tuple[str, str]]:
    """The image, board and size properties of one test, from its parameters and fixtures."""
    params: dict[str, Any] = item.callspec.params if hasattr(item, "callspec") else {}
    funcargs: dict[str, Any] = getattr(item, "funcargs", {})
    properties: list[tuple[str, str]] = []
    recipe = params.get("recipe")
    if isinstance(recipe, Recipe):
        properties += [("recipe", recipe.name), ("platform", recipe.platform), ("view", recipe.view_id)]
    if "board_url" in params:
        properties.append(("board", params["board_url"]))
    built = funcargs.get("built")
    image = funcargs.get("image") or (built.value if built is not None else None)
    if image is not None:
        build = "given" if not image.log_path else "reused" if image.reused else "built"
        properties += [("image", str(image.ref)), ("digest", image.ref.digest or ""), ("build", build)]
        if getattr(image, "index_digest", None):  # one platform's entry of a multi-platform recipe's index
            properties.append(("index", image.index_digest))
    if size:
        properties += [("unpacked_bytes", str(size.unpacked)), ("compressed_bytes", str(size.compressed))]
    return properties


def log_extra(path: str | Path | None, name: str) -> Any | None:
    """A pytest-html text extra holding a log file, or None when there is none."""
    if not path or not Path(path).is_file():
        return None
    return text_extra(Path(path).read_text(errors="replace"), name)


def text_extra(text: str, name: str) -> Any:
    """A pytest-html text extra (the report shows it under the test's row)."""
    from pytest_html import extras

    return extras.text(text or "(empty)", name=name)


@dataclass
class ImageLine:
    """What the end-of-run summary says about one image."""

    recipe: str
    properties: dict[str, str] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)
    failed: list[str] = field(default_factory=list)

    def render(self) -> str:
        p = self.properties
        image = p.get("image", "(not built)")
        digest = p.get("digest", "")
        if digest and "@" not in image:
            image += f"@{digest[:19]}"
        sizes = "size unknown"
        if "unpacked_bytes" in p:
            sizes = (f"{format_size(int(p['unpacked_bytes']))} unpacked, "
                     f"{format_size(int(p['compressed_bytes']))} compressed")
        counts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(self.outcomes.items()))
        more = ", ..." if len(self.failed) > 4 else ""
        failed = f" [{', '.join(self.failed[:4])}{more}]" if self.failed else ""
        build = p.get("build", "not built")
        return f"{self.recipe:<14} {build:<9} {image}  {p.get('platform', '')}  {sizes}  {counts}{failed}"


class ImageSummary:
    """Collects test reports (in the controlling process) into one line per image."""

    def __init__(self) -> None:
        self.lines: dict[str, ImageLine] = {}

    def add(self, report: pytest.TestReport) -> None:
        properties = dict(report.user_properties)
        recipe = properties.get("view") or properties.get("recipe")  # a multi-platform recipe: a line per entry
        if not recipe:
            return
        line = self.lines.setdefault(recipe, ImageLine(recipe))
        line.properties.update({k: str(v) for k, v in properties.items() if v})
        outcome = _outcome(report)
        if outcome:
            line.outcomes[outcome] += 1
            if outcome in ("failed", "error"):
                line.failed.append(report.nodeid.split("::")[-1])

    def render(self) -> list[str]:
        return [line.render() for line in self.lines.values()]


def _outcome(report: pytest.TestReport) -> str | None:
    if report.when == "call":
        return report.outcome
    if report.failed:
        return "error"
    if report.skipped:
        return "skipped"
    return None


def html_header(cells: list[str]) -> None:
    """Board and Image columns after the Test column."""
    cells.insert(2, '<th class="sortable" data-column-type="board">Board</th>')
    cells.insert(3, '<th class="sortable" data-column-type="image">Image</th>')


def html_row(report: pytest.TestReport, cells: list[str]) -> None:
    properties = dict(getattr(report, "user_properties", []))
    image = properties.get("image", "")
    digest = properties.get("digest", "")
    title = f' title="{html.escape(digest)}"' if digest else ""
    cells.insert(2, f'<td class="col-board">{html.escape(properties.get("board", ""))}</td>')
    cells.insert(3, f'<td class="col-image"{title}>{html.escape(image)}</td>')
