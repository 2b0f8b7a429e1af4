"""Native builds (--builder): a recipe built by a board's own engine and pushed from the board.

The ssh:// builder is the loopback sshd whose board is this machine (docker, amd64): a build for amd64 goes the
whole way (tunnel, base through the registry, push through the reverse forward, removal), and a riscv64 recipe is
refused. The qemu builder is the riscv64 VM: the busybox recipe built there passes the suites.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import GOOD_IMAGES, start_sshd, stop_sshd
from harness.engine import engine
from harness.errors import BuildError
from harness.labels import MANAGED
from harness.native_build import NativeBuilder
from harness.ports import free_loopback_port
from harness.recipes import load_recipe
from harness.registry_client import RegistryClient

AMD64_RECIPE = """\
ARG BASE=debian:bookworm
FROM ${BASE} AS build
RUN uname -m > /arch && echo "{marker}"
FROM scratch
COPY --from=build /arch /arch
"""


def _amd64_recipe(directory: Path, run_line: str = 'echo "built natively"') -> Path:
    """A recipe for linux/amd64 (the loopback board's platform) on the cached bookworm/amd64 base."""
    directory.mkdir(parents=True)
    (directory / "Dockerfile").write_text(AMD64_RECIPE.replace('echo "{marker}"', run_line))
    (directory / "image.toml").write_text('tag = "1"\nplatform = "linux/amd64"\n\n[bases]\nBASE = "debian:bookworm"\n')
    return directory


def _builder(url: str, registry, tmp_path: Path) -> NativeBuilder:
    return NativeBuilder(builder_url=url, registry_url=registry.url, logs_dir=tmp_path / "logs",
                         labels={MANAGED: "true"}, work_dir=tmp_path / "contexts", log=lambda _: None)


def _managed_images_tagged(repository: str) -> list[str]:
    return [tag for image in engine().images.list(filters={"label": MANAGED}) for tag in image.tags
            if repository in tag]


def test_an_ssh_builder_builds_for_its_own_platform_and_pushes_from_the_board(sshd, registry_process,
                                                                              tmp_path: Path) -> None:
    recipe = load_recipe(_amd64_recipe(tmp_path / "native-amd64"))
    builder = _builder(sshd.url("docker"), registry_process, tmp_path)
    try:
        built = builder.build(recipe)
    finally:
        builder.close()
    client = RegistryClient(registry_process.url)
    manifest = client.manifest(built.ref.repository, built.ref.digest)
    config = client.blob_json(built.ref.repository, manifest.body["config"]["digest"])
    assert (config["os"], config["architecture"]) == ("linux", "amd64")
    log = Path(built.log_path).read_text()
    assert f"native build on {sshd.url('docker')}" in log
    assert "DOCKER_HOST=<ssh://" in log and "127.0.0.1:" in log
    assert _managed_images_tagged(recipe.repository) == [], "the built image stays on the board after the push"
    # The bases reached the board's engine through the registry, by reference.
    assert "rvconform/debian" in log and "--build-arg BASE=127.0.0.1:" in log


def test_an_ssh_builder_is_part_of_the_build_key(sshd, registry_process, tmp_path: Path) -> None:
    recipe = load_recipe(_amd64_recipe(tmp_path / "native-amd64", 'echo "key test"'))
    builder = _builder(sshd.url("docker"), registry_process, tmp_path)
    try:
        first = builder.build(recipe)
        again = builder.build(recipe)
    finally:
        builder.close()
    assert again.reused and again.ref.digest == first.ref.digest
    assert "not built, not pushed" in Path(again.log_path).read_text()


def test_an_ssh_builder_of_another_platform_is_refused(sshd, registry_process, tmp_path: Path) -> None:
    """The recipe declares riscv64; the board is amd64. Building there would give an amd64 image that every
    check of the recipe then fails: the builder refuses, saying which platforms and what to do."""
    recipe = load_recipe(GOOD_IMAGES / "busybox")
    builder = _builder(sshd.url("docker"), registry_process, tmp_path)
    started = time.monotonic()
    try:
        with pytest.raises(BuildError) as caught:
            builder.build(recipe)
    finally:
        builder.close()
    message = caught.value.message
    assert "recipe 'busybox' is for linux/riscv64" in message
    assert "builds natively for its own platform only, linux/amd64" in message
    assert "--builder" in (caught.value.fix or "")
    assert time.monotonic() - started < 30


def test_a_build_failing_on_the_builder_says_so_with_the_log_tail(sshd, registry_process, tmp_path: Path) -> None:
    recipe = load_recipe(_amd64_recipe(tmp_path / "native-broken",
                                       'echo "rvconform-test: fails on the board" && exit 7'))
    builder = _builder(sshd.url("docker"), registry_process, tmp_path)
    try:
        with pytest.raises(BuildError) as caught:
            builder.build(recipe)
    finally:
        builder.close()
    message = caught.value.message
    assert f"native build of recipe 'native-broken' on {sshd.url('docker')} failed" in message
    assert "rvconform-test: fails on the board" in message and "last" in message
    assert _managed_images_tagged(recipe.repository) == []


def test_an_unreachable_builder_is_named_within_seconds(registry_process, tmp_path: Path) -> None:
    url = f"ssh://root@127.0.0.1:{free_loopback_port()}?runtime=docker"
    builder = _builder(url, registry_process, tmp_path)
    started = time.monotonic()
    with pytest.raises(BuildError) as caught:
        builder.build(load_recipe(GOOD_IMAGES / "busybox"))
    assert f"builder {url} is unreachable" in caught.value.message
    assert "connection refused" in caught.value.message
    assert time.monotonic() - started < 20
    with pytest.raises(BuildError, match="is unreachable"):  # said again, without trying again
        builder.build(load_recipe(GOOD_IMAGES / "busybox"))


def test_a_builder_without_docker_is_named(sshd_without_docker, registry_process, tmp_path: Path) -> None:
    builder = _builder(sshd_without_docker.url("ctr"), registry_process, tmp_path)
    with pytest.raises(BuildError) as caught:
        builder.build(load_recipe(GOOD_IMAGES / "busybox"))
    assert "has no docker (no `docker` command on the board)" in caught.value.message
    assert "apt-get install docker.io" in (caught.value.fix or "")


@pytest.fixture
def sshd_without_docker(tmp_path: Path):
    """An sshd whose sessions have a PATH without docker (as a board with only containerd would)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sh", "uname", "ctr"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    home = tmp_path / "sshd"
    home.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / "client_key")], check=True)
    server = start_sshd(home, home, path=str(bin_dir))
    (home / "known_hosts").write_text(server.known_hosts_line)
    config = home / "ssh_config"
    config.write_text(f"Host *\n    UserKnownHostsFile {home / 'known_hosts'}\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RVCONFORM_SSH_CONFIG", str(config))
        yield server
    stop_sshd(server)


@pytest.mark.slow
def test_busybox_built_natively_on_the_qemu_board_passes_the_suites(run_suites, tmp_path: Path) -> None:
    """The shipped busybox recipe, its builder stage on sid (bookworm has no riscv64), built by the VM's docker
    and pushed from the VM; then the same checks as the QEMU-built image (the suites, on the local board)."""
    recipes = tmp_path / "recipes"
    shutil.copytree(GOOD_IMAGES / "busybox", recipes / "busybox")
    toml = recipes / "busybox" / "image.toml"
    # The copy is outside git, so no build (here or native) can carry the OCI labels taken from git: not expected.
    # riscv64 only: the VM builds natively for its own platform (the shipped recipe also has an amd64 entry).
    toml.write_text(_riscv64_only(toml.read_text()).replace('image = "debian:bookworm"', 'image = "debian:sid"')
                    .replace("oci_labels = true", "oci_labels = false"))
    result = run_suites("--builder", "qemu", "--board", "local", recipes=recipes, timeout=3600)
    outcomes = result.outcomes()
    failed = {name: outcome for name, outcome in outcomes.items() if outcome not in ("passed", "skipped")}
    assert failed == {}, result.output[-6000:]
    for name in ("test_build[busybox]", "test_manifest_platform[busybox]", "test_elf_files[busybox]",
                 "test_pull[busybox-local]", "test_command[busybox-local-uname says riscv64]"):
        assert outcomes.get(name) == "passed", f"{name}: {outcomes.get(name)}\n{result.output[-3000:]}"
    log = (result.reports / "logs" / "build-busybox.log").read_text()
    assert "native build on qemu" in log


def _riscv64_only(recipe: str) -> str:
    """A multi-platform image.toml narrowed to linux/riscv64: its other platforms' sources and checks dropped."""
    tables = re.split(r"(?m)^(?=\[)", recipe)
    amd64 = re.compile(r'(?m)^platforms? = .*linux/amd64"\]?$')
    kept = [tables[0], *(table for table in tables[1:] if not amd64.search(table))]
    return "".join(kept).replace('platforms = ["linux/riscv64", "linux/amd64"]', 'platform = "linux/riscv64"')
