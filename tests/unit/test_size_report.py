"""`rvconform sizes`: verdicts, the terminal table, the PR-comment Markdown, the plot and the HTML fragment."""

import base64
from pathlib import Path

import pytest

from harness.cli import sizes as main
from harness.recipes import Budget
from harness.sizes.history import Baseline, SizeRecord, append_history
from harness.sizes.measure import LayerSize
from harness.sizes.report import html_summary, plot_history, render_markdown, render_table, size_rows

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SERVER = "COPY /out/server/ / # buildkit"


def record(recipe: str, unpacked: int, compressed: int, revision: str = "1a2b3c4d", branch: str = "main",
           time: str = "2026-11-25T10:00:00Z") -> SizeRecord:
    layers = (LayerSize("sha256:base", 500_000, 1_000_000, "ADD rootfs / # buildkit"),
              LayerSize("sha256:srv", compressed - 500_000, unpacked - 1_000_000, SERVER))
    return SizeRecord(recipe, f"reg/riscv64/{recipe}:1", "sha256:d", "linux/riscv64", compressed, unpacked, layers,
                      revision, branch, time)


BUDGETS = {
    "redis": Budget(unpacked=12_000_000, compressed=6_000_000, growth_percent=10),
    "nginx": Budget(unpacked=140_000_000, compressed=64_000_000),
    "redis-cli": Budget(unpacked=4_000_000, compressed=2_500_000),
}


def rows():
    current = [record("redis", 6_800_000, 3_100_000), record("nginx", 106_900_000, 48_600_000),
               record("redis-cli", 4_200_000, 1_750_000), record("extra", 1_000_000, 500_000)]
    baselines = {"redis": Baseline(record("redis", 5_620_000, 2_900_000), "main@1a2b3c4 2026-11-24T10:00:00Z"),
                 "nginx": Baseline(record("nginx", 107_000_000, 48_600_000), "main@1a2b3c4"),
                 "redis-cli": Baseline(record("redis-cli", 3_000_000, 1_750_000), "main@1a2b3c4")}
    return size_rows(current, baselines, BUDGETS)


def test_verdicts() -> None:
    verdicts = {row.recipe: row.verdict for row in rows()}
    assert verdicts == {"extra": "no baseline", "nginx": "ok", "redis": "grew too much", "redis-cli": "over budget"}
    redis = next(row for row in rows() if row.recipe == "redis")
    assert (redis.baseline_unpacked, redis.delta, redis.budget) == (5_620_000, 1_180_000, "12.00 MB")
    assert "the layer that grew most: `COPY /out/server/ / # buildkit`" in redis.problems[0]


def test_render_table_is_aligned() -> None:
    lines = render_table(rows()).splitlines()
    assert lines[0].split() == ["RECIPE", "COMPRESSED", "UNPACKED", "BASELINE", "DELTA", "BUDGET", "VERDICT"]
    assert [line.split()[0] for line in lines[1:]] == ["extra", "nginx", "redis", "redis-cli"]
    assert "+1.18 MB (+21.0%)" in lines[3] and "-100.00 kB (-0.1%)" in lines[2]
    assert len({line.index("VERDICT") if i == 0 else None for i, line in enumerate(lines)} - {None}) == 1
    assert all(line[lines[0].index("VERDICT") - 2:lines[0].index("VERDICT")] == "  " for line in lines)


def test_render_markdown_is_a_pr_comment() -> None:
    text = render_markdown(rows(), title="Image sizes", note="last run on main")
    lines = text.splitlines()
    assert lines[0] == "### Image sizes"
    assert lines[2].startswith("4 recipes: 1 ok, 1 no baseline, 1 over budget, 1 grew too much.")
    assert lines[4] == "| Recipe | Compressed | Unpacked | Baseline | Delta | Budget | Verdict |"
    assert lines[5] == "|:--|--:|--:|--:|--:|--:|:--|"
    assert "| redis | 3.10 MB | 6.80 MB | 5.62 MB | +1.18 MB (+21.0%) | 12.00 MB | **grew too much** |" in lines
    assert any(line.startswith("- redis: unpacked size grew from 5.62 MB to 6.80 MB") for line in lines)


def test_plot_writes_a_real_png_even_for_a_single_point(tmp_path: Path) -> None:
    out = plot_history([record("redis", 5_620_000, 2_900_000)], tmp_path / "plots" / "sizes.png")
    data = out.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 1024


def test_plot_of_several_recipes_over_time(tmp_path: Path) -> None:
    history = [record(name, size * 1_000_000, size * 500_000, time=f"2026-11-{day:02d}T10:00:00Z")
               for day, size in ((1, 5), (2, 6), (3, 7)) for name in ("redis", "nginx")]
    assert plot_history(history, tmp_path / "sizes.png").read_bytes().startswith(PNG_SIGNATURE)


def test_html_summary_embeds_the_table_and_the_png(tmp_path: Path) -> None:
    png = plot_history([record("redis", 5_620_000, 2_900_000)], tmp_path / "sizes.png")
    fragment = html_summary(rows(), png)
    assert "<table>" in fragment and "<td>redis-cli</td>" in fragment and "<td>over budget</td>" in fragment
    encoded = fragment.split('src="data:image/png;base64,')[1].split('"')[0]
    assert base64.b64decode(encoded) == png.read_bytes()
    assert "<img" not in html_summary(rows(), None)


def write_recipe(recipes: Path, name: str, budget: str) -> None:
    (recipes / name).mkdir(parents=True)
    (recipes / name / "Dockerfile").write_text("FROM scratch\n")
    (recipes / name / "image.toml").write_text(f"[budget]\n{budget}\n")


def test_main_on_three_runs_compares_the_latest_with_the_run_before(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    history = tmp_path / "size-history.jsonl"
    for day, revision, redis in ((1, "aaaaaaa1", 5_000_000), (2, "bbbbbbb2", 5_620_000), (3, "ccccccc3", 6_800_000)):
        time = f"2026-11-0{day}T10:00:00Z"
        append_history(history, [record("redis", redis, 2_900_000, revision, time=time),
                                 record("nginx", 106_900_000, 48_600_000, revision, time=time)])
    write_recipe(tmp_path / "recipes", "redis", 'unpacked = "12 MB"\ngrowth_percent = 10')
    markdown, plot = tmp_path / "out" / "sizes.md", tmp_path / "out" / "sizes.png"
    code = main(["--history", str(history), "--recipes", str(tmp_path / "recipes"),
                 "--markdown", str(markdown), "--plot", str(plot)])
    out = capsys.readouterr().out
    assert code == 1
    assert out.splitlines()[0].split()[:3] == ["RECIPE", "COMPRESSED", "UNPACKED"]
    assert "+1.18 MB (+21.0%)" in out and "grew too much" in out and "main@bbbbbbb" in out
    assert f"wrote {markdown} and {plot}" in out
    assert markdown.read_text().startswith("### Image sizes")
    assert plot.read_bytes().startswith(PNG_SIGNATURE)


def test_main_with_a_pinned_baseline_and_no_recipes_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    history = tmp_path / "size-history.jsonl"
    append_history(history, [record("redis", 5_620_000, 2_900_000)])
    from harness.sizes.history import write_sizes

    pinned = tmp_path / "baseline.json"
    write_sizes(pinned, [record("redis", 5_000_000, 2_900_000)])
    code = main(["--history", str(history), "--baseline", str(pinned), "--recipes", str(tmp_path / "none"),
                 "--markdown", str(tmp_path / "s.md"), "--plot", str(tmp_path / "s.png")])
    out = capsys.readouterr().out
    assert code == 0
    assert "+620.00 kB (+12.4%)" in out and "no budgets" in out and f"pinned {pinned}" in out


@pytest.mark.parametrize("content", [None, ""])
def test_main_without_history_says_how_to_make_one(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None) -> None:
    history = tmp_path / "size-history.jsonl"
    if content is not None:
        history.write_text(content)
    assert main(["--history", str(history), "--plot", str(tmp_path / "p.png")]) == 2
    err = capsys.readouterr().err
    assert str(history) in err and "rvconform run" in err
    assert not (tmp_path / "p.png").exists()


def test_a_plot_is_drawn_only_when_a_recipe_has_two_runs() -> None:
    from harness.sizes.report import worth_plotting

    one = record("redis", 5_620_000, 2_900_000)
    assert not worth_plotting([one, record("nginx", 1_000_000, 600_000)])
    assert worth_plotting([one, record("redis", 5_700_000, 2_950_000, time="2026-11-30T10:00:00Z")])
