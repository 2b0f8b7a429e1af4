"""The platform, ELF and size-growth checks catch what they must, each naming the cause."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import requests

from harness.registry_client import DOCKER_MANIFEST, OCI_INDEX

PLATFORM_TESTS = ("test_manifest_platform", "test_config_platform", "test_elf_files", "test_config_metadata")


def platform_outcomes(run, recipe: str) -> dict[str, str]:
    return {name: run.outcome(f"{name}[{recipe}]") for name in PLATFORM_TESTS}


def test_the_good_recipes_pass_every_platform_check(run_suites) -> None:
    run = run_suites("-k", "platform or elf or metadata")
    for recipe in ("redis", "redis-cli", "nginx"):
        assert set(platform_outcomes(run, recipe).values()) == {"passed"}, run.output[-3000:]


@pytest.mark.parametrize(
    ("recipe", "cause"),
    [
        ("foreign-binary", "/usr/local/bin/true-host: x86-64"),
        ("missing-interpreter", "/true: its interpreter /lib/ld-linux-riscv64-lp64d.so.1 is not in the image"),
        ("missing-library", "/true: needs libc.so.6, which is not on the image's library path"),
    ],
)
def test_elf_problems_fail_exactly_the_elf_check(run_suites, recipes_dir, recipe: str, cause: str) -> None:
    recipes = recipes_dir(recipe)
    if recipe == "foreign-binary":
        shutil.copy("/usr/bin/true", recipes / recipe / "true-host")
    run = run_suites("-k", "platform or elf or metadata", recipes=recipes)
    assert platform_outcomes(run, recipe) == {**dict.fromkeys(PLATFORM_TESTS, "passed"), "test_elf_files": "failed"}
    assert cause in run.message(f"test_elf_files[{recipe}]")


def push_blob(registry, repository: str, data: bytes) -> str:
    """Upload a blob (monolithic upload); returns its digest."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    start = requests.post(f"{registry.url}/v2/{repository}/blobs/uploads/", timeout=30)
    start.raise_for_status()
    location = start.headers["Location"]
    url = location if "://" in location else f"{registry.url}{location}"
    requests.put(f"{url}{'&' if '?' in url else '?'}digest={digest}", data=data, timeout=30,
                 headers={"Content-Type": "application/octet-stream"}).raise_for_status()
    return digest


def push_manifest(registry, repository: str, reference: str, body: dict, media_type: str) -> str:
    """Upload a manifest or index under a tag; returns its digest."""
    data = json.dumps(body).encode()
    requests.put(f"{registry.url}/v2/{repository}/manifests/{reference}", data=data, timeout=30,
                 headers={"Content-Type": media_type}).raise_for_status()
    return "sha256:" + hashlib.sha256(data).hexdigest()


def crafted(registry, tiny_image, tag: str, how: str) -> str:
    """Push a variant of the tiny image under ``riscv64/tiny:<tag>``; returns its reference."""
    client = registry.client()
    manifest = client.manifest("riscv64/tiny", tiny_image.ref.digest)
    if "config-amd64" in how or how == "config-says-amd64":
        config = client.blob_json("riscv64/tiny", manifest.body["config"]["digest"])
        raw = json.dumps(config | {"architecture": "amd64"}).encode()
        config_ref = {**manifest.body["config"], "digest": push_blob(registry, "riscv64/tiny", raw), "size": len(raw)}
        body = {**manifest.body, "config": config_ref}
        digest = push_manifest(registry, "riscv64/tiny", f"{tag}-manifest", body, DOCKER_MANIFEST)
        manifest = client.manifest("riscv64/tiny", digest)
        if how == "config-says-amd64":
            return f"{registry.host}/riscv64/tiny:{tag}-manifest"
    platforms = {"index-without-riscv64": [("amd64", None), ("arm64", "v8")],
                 "variant": [("riscv64", "rva23")],
                 "index-entry-riscv64-config-amd64": [("riscv64", None)]}[how]
    entries = [{"mediaType": manifest.media_type, "digest": manifest.digest, "size": manifest.size,
                "platform": {"os": "linux", "architecture": arch, **({"variant": v} if v else {})}}
               for arch, v in platforms]
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
    push_manifest(registry, "riscv64/tiny", tag, index, OCI_INDEX)
    return f"{registry.host}/riscv64/tiny:{tag}"


@pytest.mark.parametrize(
    ("how", "failing", "cause"),
    [
        ("config-says-amd64", "test_config_platform", "the image config says linux/amd64, but the recipe says "
         "linux/riscv64"),
        ("index-entry-riscv64-config-amd64", "test_config_platform",
         "the image config says linux/amd64, but the index entry says linux/riscv64"),
        ("index-without-riscv64", "test_manifest_platform",
         "no linux/riscv64 in the index riscv64/tiny@sha256:"),
        ("variant", "test_manifest_platform", "variant 'rva23' is not allowed (allowed: none)"),
    ],
)
def test_manifest_problems_are_named(run_suites, recipes_dir, registry_process, tiny_image,
                                     how: str, failing: str, cause: str) -> None:
    ref = crafted(registry_process, tiny_image, how, how)
    run = run_suites("--image", f"tiny={ref}", "-k", "platform or elf or metadata", recipes=recipes_dir("tiny"))
    outcomes = platform_outcomes(run, "tiny")
    assert outcomes[failing] == "failed" and cause in run.message(f"{failing}[tiny]")
    others = {name: outcome for name, outcome in outcomes.items() if name != failing}
    assert set(others.values()) <= {"passed", "error"}, f"only {failing} may fail: {outcomes}"
    if how == "index-without-riscv64":
        assert "it has: linux/amd64, linux/arm64/v8" in run.message(f"{failing}[tiny]")


def test_an_image_20_percent_over_its_baseline_fails_the_growth_check(run_suites, recipes_dir, tmp_path: Path) -> None:
    history = tmp_path / "history.jsonl"
    recipes = recipes_dir("grows")
    env = {"RVCONFORM_BRANCH": "main", "RVCONFORM_REVISION": "base"}
    first = run_suites("-k", "size", "--size-history", str(history), recipes=recipes, env=env)
    assert first.outcome("test_within_budget[grows]") == "passed", first.output[-2000:]
    toml = recipes / "grows" / "image.toml"
    toml.write_text(toml.read_text().replace("PAD = 0", "PAD = 21000000"))
    second = run_suites("-k", "size", "--size-history", str(history), recipes=recipes,
                        env={**env, "RVCONFORM_REVISION": "grown"})
    assert second.outcome("test_size_growth[grows]") == "failed"
    message = second.message("test_size_growth[grows]")
    for part in ("grows: unpacked size grew from 103.", "to 124.", "(+21.", "%), over the allowed growth of 10%",
                 "baseline: main@base", "the layer that grew most", "head -c"):
        assert part in message, message
