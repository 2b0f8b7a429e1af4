"""Loading image.toml: good recipes load; each kind of bad input names the file, the key and the fix."""

from pathlib import Path

import pytest

from harness.errors import RecipeError
from harness.recipes import BaseSpec, Expect, load_recipe, load_recipes

GOOD = """
tag = "7.0.15"
allowed_variants = ["rva23"]
port = 6379
[bases]
BASE = "debian:sid"
BUILDER = { image = "debian:bookworm", platform = "build" }
[build.args]
JOBS = 2
[[sources]]
url = "http://deb.debian.org/debian/pool/main/r/redis/redis_7.0.15.orig.tar.gz"
sha256 = "4b1dc4ee6d622a09fff9c6777191209750fb5e5a725ef78ea012d6eef4c22982"
[checks.redis]
password = "secret"
[budget]
unpacked = "12 MB"
compressed = 6000000
growth_bytes = "1 MB"
growth_percent = 10
[expect]
user = "999:999"
cmd = ["redis-server", "/etc/redis.conf"]
oci_labels = true
"""


def make_recipe(root: Path, toml: str, name: str = "redis", dockerfile: bool = True) -> Path:
    recipe = root / name
    recipe.mkdir(parents=True)
    (recipe / "image.toml").write_text(toml)
    if dockerfile:
        (recipe / "Dockerfile").write_text("FROM scratch\n")
    return recipe


def test_a_good_recipe_loads(tmp_path: Path) -> None:
    recipe = load_recipe(make_recipe(tmp_path, GOOD))
    assert recipe.name == "redis" and recipe.tag == "7.0.15" and recipe.port == 6379
    assert recipe.repository == "riscv64/redis"
    assert recipe.bases["BASE"] == BaseSpec("debian", "sid", "target")
    assert recipe.bases["BUILDER"].platform == "build"
    assert recipe.build_args == {"JOBS": "2"}
    assert recipe.sources[0].file == "redis_7.0.15.orig.tar.gz"
    assert recipe.check("redis") == {"password": "secret"} and recipe.check("nginx") is None
    assert recipe.budget.unpacked == 12_000_000 and recipe.budget.compressed == 6_000_000
    assert (recipe.budget.growth_bytes, recipe.budget.growth_percent) == (1_000_000, 10.0)
    assert recipe.allowed_variants == ("rva23",)
    assert recipe.expect == Expect("999:999", ("redis-server", "/etc/redis.conf"), None, True)


def test_defaults_for_a_minimal_recipe(tmp_path: Path) -> None:
    recipe = load_recipe(make_recipe(tmp_path, ""))
    assert (recipe.tag, recipe.platform, recipe.port, recipe.checks) == ("latest", "linux/riscv64", None, {})


@pytest.mark.parametrize(
    ("toml", "names"),
    [
        ("port = 'abc'", ["'port'", "between 1 and 65535", "'abc'"]),
        ("port = 70000", ["'port'"]),
        ("[budget]\nunpacked = 'twelve'", ["budget.unpacked", "12 MB"]),
        ("[budget]\ngrowth_percent = 'ten'", ["budget.growth_percent", "percent"]),
        ("[budget]\ngrowth = '10%'", ["budget.growth", "growth_percent"]),
        ("[[sources]]\nurl = 'http://x/y.tgz'\nsha256 = 'abc'", ["sources[0].sha256", "64 hex"]),
        ("[checks.postgres]", ["checks.postgres", "redis, nginx, redis-cli"]),
        ("[checks.redis]\npassword = 'x'", ["'port'", "service port"]),
        ("port = 6379\n[checks.redis]\npasword = 'x'", ["'checks.redis.pasword'", "keys of [checks.redis]: password"]),
        ("port = 6379\n[checks.redis]", ["[checks.redis] has no 'password'", 'add password = "..."']),
        ("port = 80\n[checks.nginx]\nheading = 3", ["'checks.nginx.heading'", "<h1> text", "got 3"]),
        ("[checks.redis-cli]\nservers = 'redis'", ["'checks.redis-cli.servers'", "[checks.redis-cli]: server"]),
        ("[bases]\nBASE = 'alpine:3.19'", ["bases.BASE.image", "debian:sid"]),
        ("colour = 'blue'", ["'colour'"]),
        ("[expect]\ncmd = 'redis-server'", ["expect.cmd", "array of strings"]),
        ("[expect]\nshell = 'sh'", ["expect.shell", "oci_labels"]),
        ("allowed_variants = 'rva23'", ["allowed_variants", "array"]),
        ("tag = 'bad tag'", ["'tag'"]),
        ("port = [", ["not valid TOML"]),
    ],
)
def test_malformed_image_toml_names_the_key_and_the_fix(tmp_path: Path, toml: str, names: list[str]) -> None:
    with pytest.raises(RecipeError) as caught:
        load_recipe(make_recipe(tmp_path, toml))
    message = str(caught.value)
    assert "image.toml" in message and "fix:" in message
    for name in names:
        assert name in message


def test_missing_dockerfile_is_named(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match=r"Dockerfile .* is missing[\s\S]*fix: add Dockerfile"):
        load_recipe(make_recipe(tmp_path, GOOD, dockerfile=False))


def test_missing_image_toml_is_named(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(RecipeError, match=r"image.toml is missing"):
        load_recipe(tmp_path / "empty")


def test_load_recipes_selects_by_name_and_lists_choices_for_unknown(tmp_path: Path) -> None:
    make_recipe(tmp_path, GOOD, "redis")
    make_recipe(tmp_path, "", "nginx")
    assert [r.name for r in load_recipes(tmp_path)] == ["nginx", "redis"]
    assert [r.name for r in load_recipes(tmp_path, ["redis"])] == ["redis"]
    with pytest.raises(RecipeError, match=r"no recipe named postgres[\s\S]*choose from: nginx, redis"):
        load_recipes(tmp_path, ["postgres"])


def test_a_missing_recipes_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match=r"does not exist[\s\S]*--recipes"):
        load_recipes(tmp_path / "nowhere")


def test_the_shipped_recipes_load() -> None:
    recipes = load_recipes(Path(__file__).parents[2] / "fixtures" / "images")
    assert {"redis", "nginx", "redis-cli"} <= {r.name for r in recipes}


def test_recipes_hash_so_pytest_groups_their_tests_by_recipe() -> None:
    """pytest groups session-scoped parameters by value only when the value hashes; a recipe holds dicts, so it
    needs a hash of its own, equal for equal recipes and distinct per platform view."""
    shipped = Path(__file__).parents[2] / "fixtures" / "images"
    redis, again = load_recipe(shipped / "redis"), load_recipe(shipped / "redis")
    assert redis == again and hash(redis) == hash(again)
    busybox = load_recipe(shipped / "busybox")
    riscv64, amd64 = busybox.for_platform("linux/riscv64"), busybox.for_platform("linux/amd64")
    assert len({redis, riscv64, amd64, busybox.for_platform("linux/riscv64")}) == 3
