"""Size tracking inside a run: baselines read before it, records and the summary written after it."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from pathlib import Path

from harness.build import BuiltImage
from harness.gitinfo import git_revision
from harness.recipes import Recipe
from harness.settings import Settings
from harness.sizes.history import (
    Baseline,
    SizeRecord,
    append_history,
    baseline_from_history,
    load_history,
    load_pinned_baselines,
    record_from,
    utc_now,
    write_sizes,
)
from harness.sizes.measure import ImageSize
from harness.sizes.report import html_summary, plot_history, render_markdown, size_rows, worth_plotting


@dataclass(frozen=True)
class RunIdentity:
    """The git revision and branch a run's records are keyed by, and when it ran."""

    revision: str
    branch: str
    time: str

    @classmethod
    def here(cls) -> RunIdentity:
        revision, branch = git_revision(Path.cwd())
        return cls(revision, branch, utc_now())


def load_baselines(settings: Settings) -> tuple[dict[str, Baseline], str]:
    """Baselines per recipe (pinned file, else the branch's last record) and a note saying which."""
    if settings.baseline_file:
        return load_pinned_baselines(settings.baseline_file), f"pinned {settings.baseline_file}"
    history = load_history(settings.history_path) if settings.history_path else []
    recipes = {record.recipe for record in history}
    baselines = {name: baseline_from_history(history, name, settings.baseline_branch) for name in recipes}
    note = f"last run on {settings.baseline_branch} in {settings.history_path}"
    return {name: baseline for name, baseline in baselines.items() if baseline}, note


def current_record(recipe: Recipe, image: BuiltImage | None, size: ImageSize | None,
                   identity: RunIdentity, name: str | None = None) -> SizeRecord | None:
    """This run's size record for a recipe (under ``name``, e.g. ``busybox-amd64`` for another platform's entry
    of a multi-platform recipe), from its image and what the run measured (None without both)."""
    if not size or not image:
        return None
    ref = image.ref
    return record_from(name or recipe.name, str(replace(ref, digest=None)), ref.digest or "", recipe.platform, size,
                       identity.revision, identity.branch, identity.time)


@dataclass(frozen=True)
class SizeSummary:
    """What a run says about its sizes: the Markdown table (sizes.md, --summary) and the report's HTML."""

    markdown: str
    html: str | None


def finish(records: list[SizeRecord], settings: Settings, recipes: list[Recipe], baselines: dict[str, Baseline],
           note: str, *, record: bool = True, unrecorded: Collection[str] = ()) -> SizeSummary | None:
    """Write sizes.json, append the history (when ``record``; never for the recipes in ``unrecorded``), write
    sizes.md and sizes.png for this run's ``records``; return the summary, or None when it measured no image."""
    if not records:
        return None
    kept = [size for size in records if size.recipe not in unrecorded]
    if settings.history_path and record and kept:
        append_history(settings.history_path, kept)
    budgets = {name: recipe.budget for recipe in recipes
               for name in (recipe.name, *(view.view_id for view in recipe.views()))}  # each entry has the budget
    rows = size_rows(records, baselines, budgets)
    markdown = render_markdown(rows, note=f"baseline: {note}")
    if not settings.reports_dir:
        return SizeSummary(markdown, None)
    write_sizes(settings.reports_dir / "sizes.json", records)
    (settings.reports_dir / "sizes.md").write_text(markdown, encoding="utf-8")
    history = (load_history(settings.history_path) if settings.history_path and record else None) or records
    png = settings.reports_dir / "sizes.png"
    png.unlink(missing_ok=True)  # an earlier run's plot would pass for this run's
    if worth_plotting(history):
        plot_history(history, png)
    return SizeSummary(markdown, html_summary(rows, png))
