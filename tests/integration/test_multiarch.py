"""Multi-platform images: the busybox recipe (riscv64 and amd64) built into a real image index in a real registry;
bad indexes made by these tests from its real entries are caught by the right check, naming the entry; the local
board pulls the tag for each platform (riscv64 under QEMU, amd64 natively) and checks its own entry; the qemu
board pulls the tag and gets the riscv64 entry."""

from __future__ import annotations

import json
import shutil
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from harness.boards import RunSpec, open_board
from harness.build import Builder, BuiltImage
from harness.image_index import IndexEntry, index_body
from harness.labels import run_labels
from harness.multi_platform_build import build_index
from harness.recipes import load_recipe
from harness.registry_client import DOCKER_MANIFEST, OCI_INDEX
from harness.tag_pull import pull_by_tag
from tests.integration.conftest import GOOD_IMAGES
from tests.integration.test_catches_platform_problems import push_blob, push_manifest

REPOSITORY = "riscv64/busybox"
RISCV64, AMD64 = "linux/riscv64", "linux/amd64"
CHECKS = "test_index_platforms or test_manifest_platform or test_config_platform or test_elf_files"


@pytest.fixture(scope="module")
def busybox_index(registry_process, tmp_path_factory: pytest.TempPathFactory) -> BuiltImage:
    """The busybox recipe built for both its platforms and pushed as an index (a real build, a real registry)."""
    builder = Builder(registry_process.url, tmp_path_factory.mktemp("logs"))
    return build_index(builder, load_recipe(GOOD_IMAGES / "busybox"))


def entry(image: BuiltImage, platform: str) -> IndexEntry:
    """The built index's entry for ``platform``, with its size and media type from the registry."""
    digest = image.entry_digest(platform)
    assert digest, f"the built index has no {platform} entry: {image.entries}"
    return IndexEntry(platform, digest, 0, "")


def with_manifest(registry, digest: str, platform: str) -> IndexEntry:
    """An entry naming manifest ``digest`` as ``platform`` (size and media type as the registry has them)."""
    manifest = registry.client().manifest(REPOSITORY, digest)
    return IndexEntry(platform, digest, manifest.size, manifest.media_type)


def config_says(registry, digest: str, architecture: str, tag: str) -> str:
    """A copy of manifest ``digest`` whose config says ``architecture``; returns the new manifest's digest."""
    client = registry.client()
    manifest = client.manifest(REPOSITORY, digest)
    config = client.blob_json(REPOSITORY, manifest.body["config"]["digest"])
    raw = json.dumps(config | {"architecture": architecture}).encode()
    body = {**manifest.body, "config": {**manifest.body["config"], "digest": push_blob(registry, REPOSITORY, raw),
                                         "size": len(raw)}}
    return push_manifest(registry, REPOSITORY, tag, body, DOCKER_MANIFEST)


def push_index(registry, tag: str, entries: list[IndexEntry]) -> str:
    push_manifest(registry, REPOSITORY, tag, index_body(entries), OCI_INDEX)
    return f"{registry.host}/{REPOSITORY}:{tag}"


def bad_indexes(registry, good: BuiltImage) -> dict[str, str]:
    """Recipe name (a copy of busybox) -> a reference to an index that is wrong in one way."""
    riscv64 = with_manifest(registry, entry(good, RISCV64).digest, RISCV64)
    amd64 = with_manifest(registry, entry(good, AMD64).digest, AMD64)
    config_amd64 = config_says(registry, riscv64.digest, "amd64", "config-says-amd64")
    x86_inside = config_says(registry, amd64.digest, "riscv64", "x86-inside")
    return {
        "good": push_index(registry, "good", [riscv64, amd64]),
        "no-riscv64": push_index(registry, "no-riscv64", [amd64]),
        "riscv64-config-amd64": push_index(registry, "riscv64-config-amd64",
                                           [with_manifest(registry, config_amd64, RISCV64), amd64]),
        "amd64-binary-in-riscv64": push_index(registry, "amd64-binary-in-riscv64",
                                              [with_manifest(registry, x86_inside, RISCV64), amd64]),
        "riscv64-variant": push_index(registry, "riscv64-variant",
                                      [with_manifest(registry, riscv64.digest, "linux/riscv64/rva23"), amd64]),
        "extra-arm64": push_index(registry, "extra-arm64",
                                  [riscv64, amd64, with_manifest(registry, amd64.digest, "linux/arm64/v8")]),
    }


def copies_of_busybox(tmp_path: Path, names: list[str]) -> Path:
    """A recipes directory with the busybox recipe under each of ``names``."""
    recipes = tmp_path / "recipes"
    for name in names:
        shutil.copytree(GOOD_IMAGES / "busybox", recipes / name)
    return recipes


def test_the_index_built_from_the_recipe_lists_both_platforms(registry_process, busybox_index: BuiltImage) -> None:
    index = registry_process.client().manifest(REPOSITORY, busybox_index.ref.digest)
    assert index.is_index and index.media_type == OCI_INDEX
    platforms = [f"{m['platform']['os']}/{m['platform']['architecture']}" for m in index.body["manifests"]]
    assert platforms == [RISCV64, AMD64]
    assert [digest for _, digest in busybox_index.entries] == [m["digest"] for m in index.body["manifests"]]
    for platform, digest in busybox_index.entries:  # each entry is its own platform's image
        manifest = registry_process.client().manifest(REPOSITORY, digest)
        config = registry_process.client().blob_json(REPOSITORY, manifest.body["config"]["digest"])
        assert f"{config['os']}/{config['architecture']}" == platform


def test_bad_indexes_are_caught_by_the_right_check(run_suites, registry_process, busybox_index: BuiltImage,
                                                   tmp_path: Path) -> None:
    refs = bad_indexes(registry_process, busybox_index)
    recipes = copies_of_busybox(tmp_path, list(refs))
    images = [arg for name, ref in refs.items() for arg in ("--image", f"{name}={ref}")]
    run = run_suites(*images, "-k", CHECKS, recipes=recipes)
    failing = {name for name, outcome in run.outcomes().items() if outcome == "failed"}
    good = {name: outcome for name, outcome in run.outcomes().items() if "[good" in name}
    assert len(good) == 7 and set(good.values()) == {"passed"}, f"{good}\n{run.output[-4000:]}"
    # A check that needs what a failed one could not give (no riscv64 entry to read) errors, pointing at it.
    assert {outcome for name, outcome in run.outcomes().items() if name not in failing} <= {"passed", "error"}
    expected = {
        "no-riscv64": {"test_index_platforms[no-riscv64]": "no linux/riscv64 entry in the index (it lists: "
                       "linux/amd64)",
                       "test_manifest_platform[no-riscv64-riscv64]": "no linux/riscv64 in the index"},
        "riscv64-config-amd64": {"test_config_platform[riscv64-config-amd64-riscv64]":
                                 "the image config says linux/amd64, but the index entry says linux/riscv64"},
        "amd64-binary-in-riscv64": {"test_elf_files[amd64-binary-in-riscv64-riscv64]":
                                    "/bin/busybox: x86-64 binary (EM_X86_64, 64-bit), not 64-bit RISC-V"},
        "riscv64-variant": {"test_index_platforms[riscv64-variant]": "says linux/riscv64/rva23: variant 'rva23' is "
                            "not allowed (allowed: none)",
                            "test_manifest_platform[riscv64-variant-riscv64]": "variant 'rva23' is not allowed"},
        "extra-arm64": {"test_index_platforms[extra-arm64]": "unexpected entry linux/arm64/v8 ("},
    }
    for recipe, failures in expected.items():
        mine = {name for name in failing if f"[{recipe}" in name}
        assert mine == set(failures), f"{recipe}: expected exactly {sorted(failures)} to fail, got {sorted(mine)}"
        for test, cause in failures.items():
            assert cause in run.message(test), f"{test}: {run.message(test)}"
            assert recipe in run.message(test), f"{test} does not name the image: {run.message(test)}"
    # The amd64 entry's x86-64 binary is right there, and its config check passed too.
    assert run.outcome("test_elf_files[amd64-binary-in-riscv64-amd64]") == "passed"


def test_the_local_board_pulls_the_tag_natively_and_emulated(run_suites, registry_process,
                                                              busybox_index: BuiltImage, tmp_path: Path) -> None:
    ref = f"{registry_process.host}/{REPOSITORY}:{busybox_index.ref.tag}"
    run = run_suites("--image", f"busybox={ref}", "-k", "test_pull or test_command",
                     recipes=copies_of_busybox(tmp_path, ["busybox"]))
    for arch, platform, machine in (("riscv64", RISCV64, "riscv64"), ("amd64", AMD64, "x86_64")):
        pull = run.verdicts[f"test_pull[busybox-{arch}-local]"]
        assert pull.outcome == "passed", pull.message
        digest = busybox_index.entry_digest(platform)
        assert f"for {platform} and got entry {digest} ({platform})" in pull.properties["entry"]
        assert pull.properties["image"].endswith(f"@{digest}") and pull.properties["index"] == busybox_index.ref.digest
        assert run.outcome(f"test_command[busybox-{arch}-local-uname says {machine}]") == "passed"
        assert run.outcome(f"test_command[busybox-{arch}-local-an applet runs through argv[0]]") == "passed"
    listed = json.loads((run.reports / "results.json").read_text())["tests"]
    results = {test["test"].split("::")[-1]: test for test in listed}
    pull = results["test_pull[busybox-amd64-local]"]
    assert (pull["platform"], pull["index"]) == (AMD64, busybox_index.ref.digest)
    assert f"got entry {busybox_index.entry_digest(AMD64)} ({AMD64})" in pull["entry"]
    names = set(run.verdicts)
    assert "test_command[busybox-amd64-local-uname says riscv64]" not in names  # a check for the other entry only
    assert "test_command[busybox-riscv64-local-uname says x86_64]" not in names


@pytest.mark.slow
def test_the_qemu_board_pulls_the_tag_and_gets_the_riscv64_entry(registry_process, busybox_index: BuiltImage,
                                                                  qemu_run) -> None:
    """The full-system riscv64 VM (containerd) asks for the tag and must get the riscv64 entry, read from what
    containerd fetched; the image then runs there natively."""
    board = open_board("qemu", run_labels(f"multiarch-{uuid.uuid4().hex[:8]}"), qemu_run)
    try:
        board.attach_registry(registry_process.url)
        pull = pull_by_tag(board, busybox_index, RISCV64, registry_process.client())
        assert pull.problems() == [], pull.describe()
        assert pull.got_digest == busybox_index.entry_digest(RISCV64) != busybox_index.entry_digest(AMD64)
        result = board.run_once(replace(busybox_index.ref, digest=None), RunSpec("uname", command=("uname", "-m")))
        assert (result.exit_status, result.stdout.strip()) == (0, "riscv64"), result
    finally:
        board.close()
