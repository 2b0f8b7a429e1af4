"""Size records survive JSON, the history only grows, baselines come from the right branch, growth limits bite."""

import json
import subprocess
from pathlib import Path

import pytest

from harness.errors import RvconformError
from harness.gitinfo import git_revision
from harness.recipes import Budget
from harness.sizes.budget import growth_problems, layer_growth
from harness.sizes.history import (
    Baseline,
    SizeRecord,
    append_history,
    baseline_from_history,
    load_history,
    load_pinned_baselines,
    record_from,
    write_sizes,
)
from harness.sizes.measure import ImageSize, LayerSize

BASE = "ADD rootfs.tar.xz / # buildkit"
SERVER = "COPY /out/server/ / # buildkit"
CONF = "COPY redis.conf /etc/redis.conf # buildkit"


def record(recipe: str = "redis", layers: tuple[LayerSize, ...] = (), branch: str = "main",
           revision: str = "1a2b3c4d", time: str = "2026-11-25T10:00:00Z") -> SizeRecord:
    return SizeRecord(
        recipe=recipe, ref=f"127.0.0.1:5000/riscv64/{recipe}:7.0.15", digest="sha256:" + "a" * 64,
        platform="linux/riscv64", compressed=sum(layer.compressed for layer in layers),
        unpacked=sum(layer.unpacked for layer in layers), layers=layers, revision=revision, branch=branch, time=time,
    )


def layer(step: str, unpacked: int, compressed: int = 0, digest: str = "") -> LayerSize:
    return LayerSize(digest or f"sha256:{len(step)}-{unpacked}", compressed, unpacked, step)


REDIS = (layer(BASE, 4_000_000, 2_000_000), layer(SERVER, 1_600_000, 800_000), layer(CONF, 20_000, 5_000))


def test_record_round_trips_through_json_and_describes_itself() -> None:
    original = record(layers=REDIS)
    data = json.loads(json.dumps(original.to_json()))
    assert data["layer_count"] == 3
    assert data["largest_layer"] == {"created_by": BASE, "unpacked": 4_000_000}
    assert SizeRecord.from_json(data) == original
    assert SizeRecord.from_json({**data, "something_new": 1}) == original
    assert record().largest_layer is None and record().to_json()["largest_layer"] is None


def test_record_from_a_measured_image() -> None:
    layers = (LayerSize("sha256:1", 2_000_000, 4_000_000, BASE), LayerSize("sha256:2", 900_000, 1_620_000))
    size = ImageSize(compressed=2_900_000, unpacked=5_620_000, layers=layers)
    made = record_from("redis", "reg/riscv64/redis:7", "sha256:d", "linux/riscv64", size, "abc", "main",
                       "2026-11-25T10:00:00Z")
    assert made.layers == (LayerSize("sha256:1", 2_000_000, 4_000_000, BASE),
                           LayerSize("sha256:2", 900_000, 1_620_000, ""))
    assert (made.compressed, made.unpacked, made.layer_count, made.revision) == (2_900_000, 5_620_000, 2, "abc")


def test_sizes_json_is_a_sorted_pretty_list_that_loads_as_pinned_baselines(tmp_path: Path) -> None:
    path = tmp_path / "reports" / "sizes.json"
    write_sizes(path, [record("redis", REDIS), record("nginx", REDIS)])
    text = path.read_text()
    assert text.startswith("[\n  {") and text.endswith("\n")
    assert [item["recipe"] for item in json.loads(text)] == ["nginx", "redis"]
    assert list(tmp_path.joinpath("reports").iterdir()) == [path]
    pinned = load_pinned_baselines(path)
    assert pinned["redis"] == Baseline(record("redis", REDIS), f"pinned {path}")


def test_pinned_baseline_file_missing_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RvconformError, match="does not exist"):
        load_pinned_baselines(tmp_path / "nope.json")


def test_history_appends_and_keeps_earlier_lines(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "size-history.jsonl"
    assert load_history(path) == []
    first, second = record("redis", REDIS, time="2026-11-25T10:00:00Z"), record("nginx", time="2026-11-26T10:00:00Z")
    append_history(path, [first])
    earlier = path.read_text()
    append_history(path, [second])
    assert path.read_text().startswith(earlier)
    assert len(path.read_text().splitlines()) == 2
    assert load_history(path) == [first, second]


def test_append_after_a_partial_last_line_starts_a_new_line(tmp_path: Path) -> None:
    path = tmp_path / "size-history.jsonl"
    append_history(path, [record()])
    with path.open("a") as file:
        file.write('{"recipe": "cut off')
    append_history(path, [record("nginx")])
    lines = path.read_text().splitlines()
    assert lines[1] == '{"recipe": "cut off' and json.loads(lines[2])["recipe"] == "nginx"


def test_a_corrupt_line_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "size-history.jsonl"
    append_history(path, [record()])
    with path.open("a") as file:
        file.write("\nnot json\n")
    with pytest.raises(RvconformError, match=rf"{path}:3: not a size record") as raised:
        load_history(path)
    assert "line 3" in str(raised.value)


def test_a_record_missing_its_sizes_is_corrupt_too(tmp_path: Path) -> None:
    path = tmp_path / "size-history.jsonl"
    path.write_text('{"recipe": "redis"}\n')
    with pytest.raises(RvconformError, match=":1: not a size record"):
        load_history(path)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("RVCONFORM_REVISION", "RVCONFORM_BRANCH", "GITHUB_REF_NAME", "CI_COMMIT_REF_NAME"):
        monkeypatch.delenv(name, raising=False)
    # tmp_path must not be found inside some enclosing repository.
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args], cwd=cwd,
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path, clean_env: None) -> Path:
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "commit", "-q", "--allow-empty", "-m", "first")
    return tmp_path


def test_git_revision_outside_git_is_empty(tmp_path: Path, clean_env: None) -> None:
    assert git_revision(tmp_path) == ("", "")


def test_git_revision_reads_head_and_branch(repo: Path) -> None:
    assert git_revision(repo) == (git(repo, "rev-parse", "HEAD"), "main")


def test_git_revision_env_overrides(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RVCONFORM_REVISION", "feedface")
    monkeypatch.setenv("RVCONFORM_BRANCH", "release")
    assert git_revision(repo) == ("feedface", "release")


def test_detached_head_takes_the_ci_branch(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    head = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "--detach")
    assert git_revision(repo) == (head, "HEAD")
    monkeypatch.setenv("CI_COMMIT_REF_NAME", "gitlab-branch")
    assert git_revision(repo) == (head, "gitlab-branch")
    monkeypatch.setenv("GITHUB_REF_NAME", "github-branch")
    assert git_revision(repo) == (head, "github-branch")


def test_baseline_is_the_last_record_of_that_recipe_on_that_branch() -> None:
    history = [record(revision="aaaaaaa1", time="2026-11-01T00:00:00Z"),
               record(revision="bbbbbbb2", time="2026-11-02T00:00:00Z"),
               record(branch="feature", revision="ccccccc3"),
               record("nginx", revision="ddddddd4")]
    baseline = baseline_from_history(history, "redis", "main")
    assert baseline is not None and baseline.record.revision == "bbbbbbb2"
    assert baseline.source == "main@bbbbbbb 2026-11-02T00:00:00Z"
    assert baseline_from_history(history, "redis", "feature").record.revision == "ccccccc3"
    assert baseline_from_history(history, "redis", "release") is None
    assert baseline_from_history(history, "redis-cli", "main") is None


def grown(server: int) -> SizeRecord:
    return record(layers=(REDIS[0], layer(SERVER, server, 800_000), REDIS[2]), revision="fffffff9")


MAIN = Baseline(record(layers=REDIS), "main@1a2b3c4 2026-11-25T10:00:00Z")


def test_growth_within_limits_and_without_baseline_is_fine() -> None:
    assert growth_problems(grown(1_700_000), MAIN, Budget(growth_bytes=500_000, growth_percent=10)) == []
    assert growth_problems(grown(9_000_000), None, Budget(growth_bytes=1, growth_percent=1)) == []
    assert growth_problems(grown(9_000_000), MAIN, Budget()) == []


def test_growth_over_percent_names_everything() -> None:
    problems = growth_problems(grown(2_780_000), MAIN, Budget(growth_percent=10))
    assert problems == [
        "redis: unpacked size grew from 5.62 MB to 6.80 MB (+1.18 MB, +21.0%), over the allowed growth of 10% "
        "(baseline: main@1a2b3c4 2026-11-25T10:00:00Z); "
        "the layer that grew most: `COPY /out/server/ / # buildkit` (+1.18 MB)"
    ]


def test_growth_over_bytes_and_compressed_too() -> None:
    current = record(layers=(REDIS[0], layer(SERVER, 2_000_000, 1_500_000), REDIS[2]))
    problems = growth_problems(current, MAIN, Budget(growth_bytes=300_000))
    assert len(problems) == 2
    assert problems[0].startswith("redis: unpacked size grew from 5.62 MB to 6.02 MB (+400.00 kB, +7.1%), "
                                  "over the allowed growth of 300.00 kB")
    assert problems[1].startswith("redis: compressed size grew from 2.81 MB to 3.50 MB (+700.00 kB, +25.0%)")
    assert problems[1].endswith("`COPY /out/server/ / # buildkit` (+700.00 kB)")


def test_layer_that_grew_most_is_matched_by_step_even_when_layers_move() -> None:
    # A new small layer at the front shifts positions; matching by step still finds the server layer.
    current = record(layers=(layer("RUN echo hi # buildkit", 10_000), REDIS[0], layer(SERVER, 2_600_000), REDIS[2]))
    growth = {step.created_by: delta for step, delta in layer_growth(current, MAIN.record)}
    assert growth == {"RUN echo hi # buildkit": 10_000, BASE: 0, SERVER: 1_000_000, CONF: 0}
    problems = growth_problems(current, MAIN, Budget(growth_percent=5))
    assert problems[0].endswith("the layer that grew most: `COPY /out/server/ / # buildkit` (+1.00 MB)")


def test_layer_that_grew_most_falls_back_to_position_and_new_layers_count_from_zero() -> None:
    before = record(layers=(layer("", 4_000_000), layer("", 1_000_000)))
    after = record(layers=(layer("", 4_100_000), layer("", 1_000_000), layer("", 300_000, digest="sha256:new")))
    assert [delta for _, delta in layer_growth(after, before)] == [100_000, 0, 300_000]
    problems = growth_problems(after, Baseline(before, "pinned sizes.json"), Budget(growth_bytes=0))
    assert problems[0].endswith("the layer that grew most: `layer sha256:new` (+300.00 kB)")
    assert "(baseline: pinned sizes.json)" in problems[0]
