"""Native builds' pure logic: which base a builder uses, which recipes it refuses, the --builder option."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.native_build import base_on_builder, foreign_platform_error
from harness.recipes import BaseSpec, Recipe
from harness.settings import read_settings
from tests.unit.test_plugin_logic import config


def _recipe(platform: str) -> Recipe:
    return Recipe(name="busybox", dir=Path("busybox"), dockerfile=Path("busybox/Dockerfile"), platform=platform)


def test_a_build_stage_base_is_the_builder_s_own_architecture() -> None:
    build, target = BaseSpec("debian", "sid", "build"), BaseSpec("debian", "sid", "target")
    assert base_on_builder(build, "linux/riscv64", "linux/riscv64").architecture == "riscv64"
    assert base_on_builder(target, "linux/riscv64", "linux/riscv64").architecture == "riscv64"
    assert base_on_builder(build, "linux/amd64", "linux/amd64").architecture == "amd64"
    assert base_on_builder(target, "linux/arm/v7", "linux/arm/v7").architecture == "armhf"


def test_a_builder_builds_only_for_its_own_platform() -> None:
    assert foreign_platform_error(_recipe("linux/riscv64"), "qemu", "linux/riscv64") is None
    error = foreign_platform_error(_recipe("linux/riscv64"), "ssh://root@board", "linux/amd64")
    assert error is not None
    assert error.message == ("recipe 'busybox' is for linux/riscv64, but the builder ssh://root@board builds natively "
                             "for its own platform only, linux/amd64; an image built there would be linux/amd64")
    assert "--builder" in (error.fix or "") and "leave --builder out" in (error.fix or "")


def test_the_builder_option_takes_a_board_url(tmp_path: Path) -> None:
    assert read_settings(config(options={"recipes": str(tmp_path), "builder": "qemu"})).builder == "qemu"
    assert read_settings(config(options={"recipes": str(tmp_path)})).builder is None
    with pytest.raises(pytest.UsageError, match="--builder local: building on this machine is the default"):
        read_settings(config(options={"recipes": str(tmp_path), "builder": "local"}))
    with pytest.raises(pytest.UsageError, match="unknown board URL 'ftp://x'"):
        read_settings(config(options={"recipes": str(tmp_path), "builder": "ftp://x"}))
