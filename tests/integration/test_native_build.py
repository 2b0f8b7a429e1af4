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
    # The base was loaded into the board's engine (or already there) and is named as builds here name it.
    assert re.search(r"rvconform/debian:bookworm-amd64-\w+: (loading into|already in) the builder's engine", log), log
    assert "--build-arg BASE=rvconform/debian:bookworm-amd64-" in log


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


def test_a_multi_platform_recipe_through_a_tls_and_password_registry_builds_each_entry_where_it_can(
        run_suites, sshd, tmp_path: Path) -> None:
    """busybox (riscv64 + amd64) with an amd64 builder and the run's registry behind TLS and a password: the amd64
    entry is built on the board (its BuildKit pulls the base with the credentials the CLI here hands it, its
    engine trusts the run's CA, the push carries the credentials), the riscv64 entry here; one index, pulled by
    tag on the local board natively and emulated. The CA written under the board engine's certs.d is gone."""
    recipes = tmp_path / "recipes"
    shutil.copytree(GOOD_IMAGES / "busybox", recipes / "busybox")
    result = run_suites("--builder", sshd.url("docker"), "--board", "local", "--registry-tls", "--registry-auth",
                        "-k", "test_build or test_index or test_pull or uname", recipes=recipes, cli=True, timeout=1200)
    outcomes = result.outcomes()
    for name in ("test_build[busybox-amd64]", "test_build[busybox-riscv64]", "test_index_platforms[busybox]",
                 "test_pull[busybox-amd64-local]", "test_pull[busybox-riscv64-local]",
                 "test_command[busybox-amd64-local-uname says x86_64]",
                 "test_command[busybox-riscv64-local-uname says riscv64]"):
        assert outcomes.get(name) == "passed", f"{name}: {outcomes.get(name)}\n{result.output[-4000:]}"
    assert result.returncode == 0, result.output[-4000:]
    amd64 = (result.reports / "logs" / "build-busybox-amd64.log").read_text()
    riscv64 = (result.reports / "logs" / "build-busybox-riscv64.log").read_text()
    assert f"native build on {sshd.url('docker')}" in amd64
    assert "built here, not on the builder" in riscv64 and "natively for linux/amd64 only" in riscv64
    assert not list(Path("/etc/docker/certs.d").glob("127.0.0.1:*/rvconform-*.crt")), "the builder's CA stays"


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
    """The shipped busybox recipe (riscv64 + amd64), its builder stage on sid (bookworm has no riscv64): the
    riscv64 entry built by the VM's docker and pushed from the VM, the amd64 entry here, through the run's TLS
    and password registry; then the same checks as the QEMU-built image (the suites, on the local board)."""
    recipes = tmp_path / "recipes"
    shutil.copytree(GOOD_IMAGES / "busybox", recipes / "busybox")
    toml = recipes / "busybox" / "image.toml"
    # The copy is outside git, so no build (here or native) can carry the OCI labels taken from git: not expected.
    toml.write_text(toml.read_text().replace('image = "debian:bookworm"', 'image = "debian:sid"')
                    .replace("oci_labels = true", "oci_labels = false"))
    result = run_suites("--builder", "qemu", "--board", "local", "--registry-tls", "--registry-auth",
                        recipes=recipes, timeout=3600)
    outcomes = result.outcomes()
    failed = {name: outcome for name, outcome in outcomes.items() if outcome not in ("passed", "skipped")}
    assert failed == {}, result.output[-6000:]
    for name in ("test_build[busybox-riscv64]", "test_index_platforms[busybox]",
                 "test_manifest_platform[busybox-riscv64]", "test_elf_files[busybox-riscv64]",
                 "test_pull[busybox-riscv64-local]", "test_command[busybox-riscv64-local-uname says riscv64]",
                 "test_pull[busybox-amd64-local]"):
        assert outcomes.get(name) == "passed", f"{name}: {outcomes.get(name)}\n{result.output[-3000:]}"
    assert "native build on qemu" in (result.reports / "logs" / "build-busybox-riscv64.log").read_text()
    assert "built here, not on the builder qemu" in (result.reports / "logs" / "build-busybox-amd64.log").read_text()
