"""Size reports: a table of each recipe's latest size against its baseline and budget, as text, Markdown (for
a pull-request comment), a PNG plot of the history, and an HTML fragment for report.html; ``rvconform sizes``.
"""

from __future__ import annotations

import base64
import html
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from harness.recipes import Budget, load_recipes
from harness.sizes.budget import growth_percent, growth_problems, over_budget
from harness.sizes.history import Baseline, SizeRecord, latest_with_baselines, load_history, load_pinned_baselines
from harness.sizes.measure import ImageSize
from harness.units import format_size

OK, OVER_BUDGET, GREW, NO_BASELINE = "ok", "over budget", "grew too much", "no baseline"
FAILING = (OVER_BUDGET, GREW)
HEADERS = ("recipe", "compressed", "unpacked", "baseline", "delta", "budget", "verdict")


@dataclass(frozen=True)
class SizeRow:
    """One recipe's line in the size table; sizes are bytes, ``delta`` is the unpacked change."""

    recipe: str
    compressed: int
    unpacked: int
    baseline_unpacked: int | None
    delta: int | None
    budget: str
    verdict: str
    problems: tuple[str, ...] = ()


def size_rows(records: list[SizeRecord], baselines: dict[str, Baseline], budgets: dict[str, Budget]) -> list[SizeRow]:
    """A row per record, sorted by recipe, judged against its baseline and budget (none when not given)."""
    return [_row(r, baselines.get(r.recipe), budgets.get(r.recipe, Budget()))
            for r in sorted(records, key=lambda r: r.recipe)]


def _row(record: SizeRecord, baseline: Baseline | None, budget: Budget) -> SizeRow:
    over = over_budget(ImageSize(record.compressed, record.unpacked, ()), budget)
    grew = growth_problems(record, baseline, budget)
    if over:
        verdict = OVER_BUDGET
    elif grew:
        verdict = GREW
    else:
        verdict = OK if baseline is not None else NO_BASELINE
    before = None if baseline is None else baseline.record.unpacked
    return SizeRow(
        recipe=record.recipe, compressed=record.compressed, unpacked=record.unpacked, baseline_unpacked=before,
        delta=None if before is None else record.unpacked - before, budget=_budget_text(budget), verdict=verdict,
        problems=tuple(f"{record.recipe}: {p}" for p in over) + tuple(grew),
    )


def _budget_text(budget: Budget) -> str:
    if budget.unpacked is not None:
        return format_size(budget.unpacked)
    return "-" if budget.compressed is None else f"{format_size(budget.compressed)} compressed"


def delta_text(row: SizeRow) -> str:
    """The unpacked change with sign and percent, e.g. "+1.18 MB (+21.0%)"; "-" without a baseline."""
    if row.delta is None or row.baseline_unpacked is None:
        return "-"
    percent = growth_percent(row.baseline_unpacked, row.unpacked)
    sign = "+" if row.delta > 0 else ""
    return f"{sign}{format_size(row.delta)}" + ("" if percent is None else f" ({percent:+.1f}%)")


def _cells(row: SizeRow) -> tuple[str, ...]:
    return (row.recipe, format_size(row.compressed), format_size(row.unpacked), format_size(row.baseline_unpacked),
            delta_text(row), row.budget, row.verdict)


def render_table(rows: list[SizeRow]) -> str:
    """An aligned plain-text table for the terminal; sizes right-aligned."""
    if not rows:
        return "(no size records)"
    table = [tuple(h.upper() for h in HEADERS), *(_cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADERS))]
    left = {0, len(HEADERS) - 1}
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) if i in left else cell.rjust(widths[i]) for i, cell in enumerate(line)).rstrip()
        for line in table
    )


def summary_line(rows: list[SizeRow]) -> str:
    """E.g. "3 recipes: 2 ok, 1 grew too much"."""
    counts = {verdict: sum(r.verdict == verdict for r in rows) for verdict in (OK, NO_BASELINE, *FAILING)}
    parts = ", ".join(f"{n} {verdict}" for verdict, n in counts.items() if n)
    return f"{len(rows)} recipe{'s' if len(rows) != 1 else ''}" + (f": {parts}" if parts else "")


def render_markdown(rows: list[SizeRow], title: str = "Image sizes", note: str = "") -> str:
    """A GitHub-flavoured Markdown summary (header line, table, problems) fit for a pull-request comment."""
    lines = [f"### {title}", "", f"{summary_line(rows)}. Sizes in decimal units (1 MB = 1,000,000 bytes); "
             f"delta is the unpacked change against the baseline{f' ({note})' if note else ''}.", ""]
    lines += ["| " + " | ".join(h.capitalize() for h in HEADERS) + " |",
              "|:--" + "|--:" * 5 + "|:--|"]
    for row in rows:
        cells = list(_cells(row))
        if row.verdict in FAILING:
            cells[-1] = f"**{row.verdict}**"
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    problems = [p for row in rows for p in row.problems]
    if problems:
        lines += ["", *(f"- {p}" for p in problems)]
    return "\n".join(lines) + "\n"


NO_PLOT = "The size plot appears once the size history has two runs of a recipe."


def worth_plotting(history: list[SizeRecord]) -> bool:
    """Whether a plot over time says more than the table: some recipe has two runs in the history.

    Drawing costs two seconds (matplotlib), most of a quick lab run; one point per recipe says nothing.
    """
    return any(len(points) > 1 for points in _series(history).values())


def plot_history(history: list[SizeRecord], out: Path) -> Path:
    """Plot each recipe's unpacked and compressed size over time into the PNG ``out``; returns ``out``."""
    # The OO API on an Agg canvas: no pyplot global state, and no display needed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 6.5), layout="constrained")
    FigureCanvasAgg(figure)
    unpacked, compressed = figure.subplots(2, 1, sharex=True)
    series = _series(history)
    for recipe, points in series.items():
        times = [time for time, _ in points]
        unpacked.plot(times, [r.unpacked / 1e6 for _, r in points], marker="o", label=recipe)
        compressed.plot(times, [r.compressed / 1e6 for _, r in points], marker="o", label=recipe)
    figure.suptitle("Image size over time")
    unpacked.set_ylabel("unpacked (MB)")
    compressed.set_ylabel("compressed (MB)")
    compressed.set_xlabel("run time (UTC)")
    for axes, kind in ((unpacked, "unpacked"), (compressed, "compressed")):
        axes.grid(True, which="both", alpha=0.3)
        _scale(axes, [getattr(r, kind) for points in series.values() for _, r in points])
    if series:
        locator = AutoDateLocator()
        compressed.xaxis.set_major_locator(locator)
        compressed.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        unpacked.legend(loc="best", fontsize="small")
        times = {time for points in series.values() for time, _ in points}
        if len(times) == 1:
            # Matplotlib would widen a single instant to years; a day either side keeps the date readable.
            only = times.pop()
            compressed.set_xlim(only - timedelta(days=1), only + timedelta(days=1))
    else:
        unpacked.text(0.5, 0.5, "no size records", ha="center", va="center", transform=unpacked.transAxes)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, format="png", dpi=100)
    return out


def _scale(axes: Any, values: list[int]) -> None:
    # On one linear axis a 100 MB image flattens a 5 MB one, hiding the growth the plot is for.
    if values and min(values) > 0 and max(values) / min(values) > 10:
        from matplotlib.ticker import LogFormatter

        axes.set_yscale("log")
        axes.set_ylabel(axes.get_ylabel().replace("(MB)", "(MB, log scale)"))
        # Plain numbers ("3", "40", "100") read better in MB than 3x10^0.
        axes.yaxis.set_major_formatter(LogFormatter(labelOnlyBase=False))
        axes.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
    else:
        axes.set_ylim(bottom=0)


def _series(history: list[SizeRecord]) -> dict[str, list[tuple[datetime, SizeRecord]]]:
    """Records by recipe in time order; a record whose time does not parse cannot be placed, so is left out."""
    series: dict[str, list[tuple[datetime, SizeRecord]]] = {}
    for record in history:
        try:
            time = datetime.fromisoformat(record.time)
        except ValueError:
            continue
        if time.tzinfo is not None:
            time = time.astimezone(UTC).replace(tzinfo=None)
        series.setdefault(record.recipe, []).append((time, record))
    return {recipe: sorted(points, key=lambda p: p[0]) for recipe, points in sorted(series.items())}


def html_summary(rows: list[SizeRow], png: Path | None) -> str:
    """An HTML fragment (table and the plot inlined as base64) for a self-contained report.html."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in HEADERS)
    body = "".join(
        f'<tr class="size-{row.verdict.replace(" ", "-")}">'
        + "".join(f"<td>{html.escape(cell)}</td>" for cell in _cells(row)) + "</tr>"
        for row in rows
    )
    parts = ['<section class="rvconform-sizes">', "<h2>Image sizes</h2>", f"<p>{html.escape(summary_line(rows))}</p>",
             f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"]
    parts += [f"<p>{html.escape(p)}</p>" for row in rows for p in row.problems]
    if png is not None and Path(png).is_file():
        data = base64.b64encode(Path(png).read_bytes()).decode("ascii")
        parts.append(f'<img alt="image size over time" src="data:image/png;base64,{data}">')
    else:
        parts.append(f"<p>{NO_PLOT}</p>")
    return "\n".join([*parts, "</section>"]) + "\n"


def report_history(history_path: Path, baseline_branch: str, pinned: Path | None, recipes: Path, markdown: Path,
                   plot: Path) -> int:
    """``rvconform sizes``: print the table of each recipe's latest size, write the Markdown summary and the
    plot; 0 when every recipe is within limits, 1 when one is not, 2 without a history."""
    history = load_history(history_path)
    if not history:
        print(f"rvconform sizes: no size records in {history_path}\n"
              "  fix: run `rvconform run` first (each run appends its sizes there), or point --history at a "
              "size-history.jsonl kept by CI", file=sys.stderr)
        return 2
    current, baselines = latest_with_baselines(history, baseline_branch)
    note = f"last run on {baseline_branch} before the latest"
    if pinned:
        baselines, note = load_pinned_baselines(pinned), f"pinned {pinned}"
    budgets = {r.name: r.budget for r in load_recipes(recipes)} if recipes.is_dir() else {}
    rows = size_rows(current, baselines, budgets)
    print(render_table(rows))
    for problem in (p for row in rows for p in row.problems):
        print(f"  {problem}")
    markdown.parent.mkdir(parents=True, exist_ok=True)
    markdown.write_text(render_markdown(rows, note=note), encoding="utf-8")
    plot_history(history, plot)
    print(f"baseline: {note}{'' if budgets else f'; no recipes in {recipes}, so no budgets'}")
    print(f"wrote {markdown} and {plot}")
    return 1 if any(row.verdict in FAILING for row in rows) else 0
