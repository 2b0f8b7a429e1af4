"""RunSpec: the whole process a runtime that replaces it (ctr) runs, with and without a replaced entrypoint."""

import pytest

from harness.boards.base import RunSpec


def test_without_replacing_the_entrypoint_a_command_follows_the_image_s_entrypoint() -> None:
    spec = RunSpec(name="x", command=("-h", "host"), entrypoint=("redis-cli",))
    assert spec.process == ("redis-cli", "-h", "host")
    assert RunSpec(name="x", entrypoint=("redis-cli",)).process is None  # the image's own process


def test_a_replaced_entrypoint_drops_the_image_s_and_a_cleared_one_leaves_the_command() -> None:
    assert RunSpec(name="x", command=("-c", "id"), entrypoint=("sh",), replace_entrypoint=True).process == (
        "sh", "-c", "id")
    assert RunSpec(name="x", entrypoint=("sh", "-c", "id"), replace_entrypoint=True).process == ("sh", "-c", "id")
    assert RunSpec(name="x", command=("id",), replace_entrypoint=True).process == ("id",)


def test_a_cleared_entrypoint_with_no_command_is_refused() -> None:
    with pytest.raises(ValueError, match="nothing to run"):
        RunSpec(name="x", replace_entrypoint=True)
