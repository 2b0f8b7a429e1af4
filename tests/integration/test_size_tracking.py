"""Size tracking over runs: each run appends to the history; `rvconform sizes` on three runs prints the
table, writes the Markdown and the plot; the report embeds the table and the plot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_three_runs_make_a_history_that_rvconform_sizes_reports(run_suites, recipes_dir, tmp_path: Path) -> None:
    history = tmp_path / "history.jsonl"
    recipes = recipes_dir("grows")
    toml = recipes / "grows" / "image.toml"
    for revision, pad in (("r1", 0), ("r2", 100_000), ("r3", 200_000)):
        toml.write_text(toml.read_text().replace("PAD = 0", f"PAD = {pad}").replace("PAD = 100000", f"PAD = {pad}"))
        run = run_suites("-k", "size", "--size-history", str(history), recipes=recipes,
                         env={"RVCONFORM_BRANCH": "main", "RVCONFORM_REVISION": revision})
        assert run.outcome("test_within_budget[grows]") == "passed", run.output[-2000:]
    assert len(history.read_text().splitlines()) == 3
    assert "data:image/png;base64," in (run.reports / "report.html").read_text()

    result = subprocess.run(
        [sys.executable, "-m", "harness.cli", "sizes", "--history", str(history), "--recipes", str(recipes),
         "--markdown", str(tmp_path / "sizes.md"), "--plot", str(tmp_path / "sizes.png")],
        capture_output=True, text=True, cwd=Path(__file__).parents[2],
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "RECIPE" in result.stdout and "grows" in result.stdout and "+100.00 kB" in result.stdout
    assert "| grows |" in (tmp_path / "sizes.md").read_text()
    assert (tmp_path / "sizes.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
