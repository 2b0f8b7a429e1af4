"""Multi-platform recipes as data: the platforms key, per-platform sources and checks, index comparison, the
entry a board received, and which boards run which platform. Pure logic; the registry parts are in
tests/integration/test_multiarch.py."""

from pathlib import Path

import pytest

from harness.boards.platforms import board_platforms, how_it_runs, runs_platform
from harness.build import BuiltImage
from harness.errors import RecipeError
from harness.image_index import IndexEntry, entries_of, entry_for, index_body, index_problems
from harness.image_ref import ImageRef
from harness.recipes import load_recipe
from harness.tag_pull import TagPull

SHA = "sha256:" + "ab" * 32
MULTI = """
tag = "1"
platforms = ["linux/riscv64", "linux/amd64"]
[[sources]]
url = "http://deb.debian.org/debian/pool/main/b/busybox/busybox-static_1_riscv64.deb"
sha256 = "{}"
file = "busybox.deb"
platform = "linux/riscv64"
[[sources]]
url = "http://deb.debian.org/debian/pool/main/b/busybox/busybox-static_1_amd64.deb"
sha256 = "{}"
file = "busybox.deb"
platform = "linux/amd64"
[[checks.command]]
name = "uname says riscv64"
platforms = ["linux/riscv64"]
command = ["uname", "-m"]
stdout = "^riscv64$"
[[checks.command]]
name = "echo"
command = ["echo", "hi"]
""".format("1" * 64, "2" * 64)


def recipe_dir(root: Path, toml: str, name: str = "busybox") -> Path:
    (root / name).mkdir(parents=True)
    (root / name / "image.toml").write_text(toml)
    (root / name / "Dockerfile").write_text("FROM scratch\n")
    return root / name


def test_a_recipe_declares_its_platforms_and_each_view_gets_its_own_sources_and_checks(tmp_path: Path) -> None:
    recipe = load_recipe(recipe_dir(tmp_path, MULTI))
    assert recipe.platforms == ("linux/riscv64", "linux/amd64") and recipe.multi_platform
    assert recipe.platform == "linux/riscv64" and recipe.repository == "riscv64/busybox"
    amd64 = recipe.for_platform("linux/amd64")
    assert amd64.view_id == "busybox-amd64" and amd64.repository == "riscv64/busybox"
    assert [source.sha256[0] for source in amd64.platform_sources] == ["2"]
    assert [source.sha256[0] for source in recipe.platform_sources] == ["1"]
    assert [c.name for c in recipe.declared.command if c.applies_to("linux/amd64")] == ["echo"]
    assert [c.name for c in recipe.declared.command if c.applies_to("linux/riscv64")] == ["uname says riscv64", "echo"]
    assert [view.platform for view in recipe.views()] == list(recipe.platforms)


def test_without_platforms_a_recipe_is_riscv64_only(tmp_path: Path) -> None:
    recipe = load_recipe(recipe_dir(tmp_path, 'tag = "1"\n'))
    assert recipe.platforms == ("linux/riscv64",) and not recipe.multi_platform and recipe.view_id == "busybox"
    legacy = load_recipe(recipe_dir(tmp_path, 'platform = "linux/riscv64"\n', "legacy"))
    assert legacy.platforms == ("linux/riscv64",)


@pytest.mark.parametrize(("toml", "message"), [
    ('platform = "linux/riscv64"\nplatforms = ["linux/riscv64"]\n', "both 'platform' and 'platforms' are set"),
    ("platforms = []\n", "'platforms' must be a non-empty array"),
    ('platforms = ["riscv64"]\n', "'platforms' must be a platform such as linux/riscv64"),
    ('platforms = ["linux/amd64", "linux/amd64"]\n', "'platforms' must be an array without repeats"),
    ('[[sources]]\nurl = "http://x/a.deb"\nsha256 = "%s"\nplatform = "linux/amd64"\n' % ("1" * 64),
     "'sources[0].platform' must be one of the recipe's platforms (linux/riscv64)"),
    ('[[checks.command]]\nname = "n"\ncommand = ["true"]\nplatforms = ["linux/arm64"]\n',
     "must be platforms the recipe declares (linux/riscv64)"),
])
def test_bad_platform_declarations_name_the_key_and_the_fix(tmp_path: Path, toml: str, message: str) -> None:
    with pytest.raises(RecipeError) as caught:
        load_recipe(recipe_dir(tmp_path, toml))
    assert message in str(caught.value) and "image.toml" in str(caught.value), str(caught.value)


def test_a_view_for_an_undeclared_platform_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="does not declare linux/arm64"):
        load_recipe(recipe_dir(tmp_path, MULTI)).for_platform("linux/arm64")


DECLARED = ("linux/riscv64", "linux/amd64")


def entries(*platforms: str) -> list[IndexEntry]:
    return [IndexEntry(platform, f"sha256:{index}" * 2) for index, platform in enumerate(platforms)]


def test_an_index_of_exactly_the_declared_platforms_has_no_problems() -> None:
    assert index_problems(entries("linux/riscv64", "linux/amd64"), DECLARED) == []
    assert index_problems(entries("linux/amd64", "linux/riscv64/rva23"), DECLARED, ("rva23",)) == []


@pytest.mark.parametrize(("listed", "problem"), [
    (("linux/amd64",), "no linux/riscv64 entry in the index (it lists: linux/amd64); the recipe declares it"),
    (("linux/riscv64", "linux/amd64", "linux/arm64/v8"),
     "unexpected entry linux/arm64/v8 (sha256:2sha256:2) in the index: the recipe declares only linux/riscv64, "
     "linux/amd64"),
    (("linux/riscv64/rva23", "linux/amd64"), "the linux/riscv64 entry (sha256:0sha256:0) says linux/riscv64/rva23: "
     "variant 'rva23' is not allowed (allowed: none)"),
    (("linux/riscv64", "linux/riscv64", "linux/amd64"), "2 entries for linux/riscv64 in the index"),
])
def test_each_index_problem_names_the_entry(listed: tuple[str, ...], problem: str) -> None:
    problems = index_problems(entries(*listed), DECLARED)
    assert len(problems) == 1 and problem in problems[0], problems


def test_the_index_body_round_trips_its_entries() -> None:
    listed = [IndexEntry("linux/riscv64", SHA, 10, "m"), IndexEntry("linux/arm64/v8", SHA, 11, "m")]
    body = index_body(listed)
    assert body["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert body["manifests"][1]["platform"] == {"os": "linux", "architecture": "arm64", "variant": "v8"}
    assert entries_of(body) == listed and entry_for(listed, "linux/arm64") == listed[1]


def test_buildx_attestation_manifests_are_not_platform_entries() -> None:
    """The shape `docker buildx build --platform linux/riscv64,linux/amd64 --push` gives (provenance on)."""
    listed = [IndexEntry("linux/riscv64", SHA, 10, "m"), IndexEntry("linux/amd64", SHA, 11, "m")]
    body = index_body(listed)
    body["manifests"] += [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": SHA, "size": 840,
                           "annotations": {"vnd.docker.reference.digest": SHA,
                                           "vnd.docker.reference.type": "attestation-manifest"},
                           "platform": {"architecture": "unknown", "os": "unknown"}} for _ in listed]
    assert entries_of(body) == listed
    assert index_problems(entries_of(body), DECLARED) == []


def test_a_view_of_an_index_is_pinned_to_its_entry() -> None:
    image = BuiltImage("b", ImageRef("r:5", "riscv64/b", "1", "sha256:index"), "", 0.0,
                       entries=(("linux/riscv64", "sha256:rv"), ("linux/amd64", "sha256:x86")))
    amd64 = image.for_platform("linux/amd64")
    assert (amd64.ref.digest, amd64.ref.tag, amd64.index_digest) == ("sha256:x86", "1", "sha256:index")
    assert image.for_platform("linux/arm64") is image  # no such entry: the index, where resolving names it


def tag_pull(expected: str | None, got: str | None) -> TagPull:
    return TagPull("local", "r:5/riscv64/b:1", "linux/amd64", expected, got, "linux/riscv64", 1.0)


def test_a_board_that_got_another_entry_is_named() -> None:
    assert tag_pull("sha256:x86", "sha256:x86").problems() == []
    wrong = tag_pull("sha256:x86", "sha256:rv").problems()
    assert wrong == ["local pulled r:5/riscv64/b:1 for linux/amd64 and got entry sha256:rv (linux/riscv64), not the "
                     "linux/amd64 entry sha256:x86"]
    assert "is none of the index's entries" in tag_pull("sha256:x86", None).problems()[0]
    assert "has no linux/amd64 entry" in tag_pull(None, None).problems()[0]


def test_the_local_board_runs_riscv64_emulated_and_its_own_platform_natively(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("platform.machine", lambda: "x86_64")
    assert board_platforms("local") == ("linux/riscv64", "linux/amd64")
    assert how_it_runs("local", "linux/amd64") == "natively"
    assert how_it_runs("local", "linux/riscv64") == "under QEMU user emulation"
    assert board_platforms("qemu") == ("linux/riscv64",) and not runs_platform("qemu", "linux/amd64")
    assert runs_platform("ssh://riscv@board1", "linux/riscv64/rva23")


def test_the_entry_containerd_fetched_is_read_from_its_content_store() -> None:
    from harness.boards.runtime_output import docker_image, fetched_entry

    index = {"manifests": [{"digest": "sha256:rv", "platform": {"os": "linux", "architecture": "riscv64"}},
                           {"digest": "sha256:x86", "platform": {"os": "linux", "architecture": "amd64"}}]}
    assert fetched_entry(index, {"sha256:index", "sha256:rv", "sha256:layer"}) == ("sha256:rv", "linux/riscv64")
    assert fetched_entry(index, {"sha256:rv", "sha256:x86"}) is None  # both there, no platform: no evidence
    assert fetched_entry(index, {"sha256:rv", "sha256:x86"}, "linux/riscv64") == ("sha256:rv", "linux/riscv64")
    assert fetched_entry(index, {"sha256:x86"}, "linux/riscv64") == ("sha256:x86", "linux/amd64")  # what it got
    assert docker_image({"Id": "sha256:cfg", "Os": "linux", "Architecture": "amd64"}).config_digest == "sha256:cfg"
    assert docker_image({"Id": "cfg", "Os": "linux", "Architecture": "amd64"}).config_digest == "sha256:cfg"
