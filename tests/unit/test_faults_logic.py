"""Pure pieces of fault handling: content tags, option checks, cache leftovers, errors said once."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

import pytest

from harness import settings
from harness.build import content_tag
from harness.cache import LOCK_SUFFIX, PARTIAL_PREFIX, cached_file, sweep_leftovers
from harness.errors import BoardError, RvconformError


def test_a_content_tag_keeps_the_recipe_tag_and_is_a_valid_tag() -> None:
    assert content_tag("7.0.15", "ab" * 12) == f"7.0.15-{'ab' * 12}"
    long = content_tag("t" * 128, "ab" * 12)
    assert len(long) == 128 and long.endswith("ab" * 12)


def test_an_error_s_repr_is_short_and_its_str_says_every_line_once() -> None:
    error = BoardError("the container exited\nlog line", fix="look at the log")
    assert repr(error) == "BoardError('the container exited', ...)"
    assert str(error) == "the container exited\nlog line\n  fix: look at the log"


@pytest.mark.parametrize(("check", "value", "said"), [
    (lambda v: settings._url(v, "--registry", "http://HOST:5000"), "ftp://x", "not an http:// or https:// URL"),
    (lambda v: settings._url(v, "--registry", "http://HOST:5000"), "http://h:99999", "not an http://"),
    (lambda v: settings._url(v, "--mirror", "http://m", bare=False), "deb.debian.org", "not an http://"),
    (settings._host_port, "10.0.2.2", "not HOST:PORT"),
    (settings._branch, " ", "not a branch name"),
    (lambda v: settings._names([v]), "", "empty name"),
])
def test_bad_option_values_are_refused_with_the_option_named(check, value: str, said: str) -> None:
    with pytest.raises(RvconformError, match=said):
        check(value)


def test_good_option_values_pass() -> None:
    assert settings._url("127.0.0.1:5000", "--registry", "x") == "127.0.0.1:5000"
    assert settings._host_port("10.0.2.2:5000") == "10.0.2.2:5000"
    assert settings._branch("feature/x") == "feature/x"


def test_a_path_to_append_to_needs_a_folder_to_write_in(tmp_path: Path) -> None:
    assert settings._writable(str(tmp_path / "a" / "b.jsonl"), "--size-history") == tmp_path / "a" / "b.jsonl"
    with pytest.raises(RvconformError, match="cannot be written"):
        settings._writable(str(tmp_path / "a" / "b.md"), "--summary", made=False)
    with pytest.raises(RvconformError, match="is a directory"):
        settings._writable(str(tmp_path), "--summary")
    (tmp_path / "file").write_text("")
    with pytest.raises(RvconformError, match="is a file, not a directory"):
        settings._directory(str(tmp_path / "file"), "--reports")


def test_a_cached_file_leaves_no_lock_file(tmp_path: Path) -> None:
    made = cached_file(tmp_path / "thing", lambda path: path.write_text("made"))
    assert made.read_text() == "made" and sorted(p.name for p in tmp_path.iterdir()) == ["thing"]


def test_the_sweep_removes_unheld_locks_and_old_partials_and_leaves_held_or_young_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RVCONFORM_CACHE", str(tmp_path))
    sources = tmp_path / "sources"
    sources.mkdir()
    dead_lock, dead_partial = sources / f"a{LOCK_SUFFIX}", sources / f"{PARTIAL_PREFIX}dead"
    held_partial, young_partial = sources / f"{PARTIAL_PREFIX}held", sources / f"{PARTIAL_PREFIX}young"
    for path in (dead_lock, dead_partial, held_partial, young_partial):
        path.write_text("")
    old = time.time() - 60
    for path in (dead_partial, held_partial):
        os.utime(path, (old, old))
    holder = os.open(held_partial, os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        removed = sweep_leftovers(("sources",), min_age=10)
    finally:
        os.close(holder)
    assert sorted(removed) == sorted([dead_lock, dead_partial])
    assert sorted(p.name for p in sources.iterdir()) == sorted([held_partial.name, young_partial.name])


def test_a_failed_recipe_gets_no_history_record_but_stays_in_the_run_s_sizes(tmp_path: Path) -> None:
    from harness.settings import Settings
    from harness.sizes import run_summary
    from harness.sizes.history import load_history, record_from
    from harness.sizes.measure import ImageSize

    def record(name: str):
        return record_from(name, f"reg/riscv64/{name}:1", "sha256:d", "linux/riscv64", ImageSize(10, 20, ()),
                           "r1", "main", "2026-11-29T12:00:00Z")

    settings = Settings(recipes_dir=tmp_path, reports_dir=tmp_path / "reports")
    run_summary.finish([record("good"), record("bad")], settings, [], {}, "none", unrecorded=["bad"])
    assert [r.recipe for r in load_history(settings.history_path)] == ["good"]
    assert "bad" in (tmp_path / "reports" / "sizes.json").read_text()


@pytest.mark.parametrize(("pinned", "parts"), [
    ("127.0.0.1:5000/riscv64/tiny@sha256:" + "a" * 64, ("127.0.0.1:5000/riscv64/tiny", "sha256:" + "a" * 64)),
    ("127.0.0.1:5000/riscv64/tiny:1-abc", ("127.0.0.1:5000/riscv64/tiny", "1-abc")),
    ("127.0.0.1:5000/riscv64/tiny", ("127.0.0.1:5000/riscv64/tiny", "latest")),
])
def test_an_engine_pull_names_repository_and_tag_or_digest_as_the_engine_takes_them(pinned, parts) -> None:
    from harness.boards.engine_pull import _split

    assert _split(pinned) == parts


def test_a_pull_past_its_deadline_names_board_image_registry_and_deadline() -> None:
    from harness.boards.base import pull_timeout_error
    from harness.image_ref import ImageRef

    ref = ImageRef.parse("10.0.2.2:5000/riscv64/tiny@sha256:" + "a" * 64)
    error = pull_timeout_error("qemu", ref, "linux/riscv64", 10, "layer-sha256:ab 1.2MB/3MB\n")
    assert str(error).startswith(f"qemu: pull of {ref.pinned} for linux/riscv64 did not finish within 10 s "
                                 "(--pull-timeout): the registry 10.0.2.2:5000 stopped answering")
    assert "last progress: layer-sha256:ab 1.2MB/3MB" in str(error) and "--pull-timeout" in error.fix


def test_a_pull_timeout_is_a_deadline_in_seconds_and_bounds_registry_silence() -> None:
    from harness.registry_access import ANSWER_TIMEOUT, AccessBook

    assert "--pull-timeout" in settings.OPTIONS and settings.OPTIONS["--pull-timeout"]["default"] == 600
    with pytest.raises(RvconformError, match="--pull-timeout 0: a deadline must be a positive number"):
        settings._seconds(0, "--pull-timeout")
    book = AccessBook()
    book.configure({}, (), None, 10)
    assert book.answer_timeout == 10
    book.configure({}, (), None, 600)
    assert book.answer_timeout == ANSWER_TIMEOUT, "one answer never waits as long as a whole pull"
