"""ImageSupply: each recipe's image is made once per run, whichever process asks first; the others read the
outcome, a failed build included (with its log); an --image given by digest needs no build."""

from pathlib import Path

import pytest

from harness.build import BuiltImage
from harness.errors import BuildError, RvconformError
from harness.image_ref import ImageRef
from harness.images import ImageSupply
from harness.recipes import Recipe
from harness.run import Run, root
from harness.sizes.measure import ImageSize

DIGEST = "sha256:" + "cd" * 32


class FakeBuilder:
    """Counts builds; fails with ``error`` when one is given."""

    def __init__(self, error: RvconformError | None = None) -> None:
        self.builds: list[str] = []
        self.error = error

    def build(self, recipe: Recipe) -> BuiltImage:
        self.builds.append(recipe.name)
        if self.error:
            raise self.error
        return BuiltImage(recipe.name, ImageRef("127.0.0.1:5000", recipe.repository, recipe.tag, DIGEST), "/b.log", 2.0)


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.setattr(root, "runs_root", lambda: tmp_path / "runs")
    run = Run.start()
    yield run
    run.close()


@pytest.fixture
def recipe(tmp_path: Path) -> Recipe:
    return Recipe(name="tiny", dir=tmp_path, dockerfile=tmp_path / "Dockerfile", tag="1")


def test_a_recipe_is_built_once_and_every_process_gets_the_same_image(run: Run, recipe: Recipe) -> None:
    builder = FakeBuilder()
    first = ImageSupply(run, builder, {}).get(recipe)
    worker = ImageSupply(Run.join(run.id, run.dir), FakeBuilder(), {})  # another xdist worker of the run
    assert worker.get(recipe) == first and first.ref.digest == DIGEST
    assert builder.builds == ["tiny"] and worker.builder.builds == []


def test_a_failed_build_fails_every_asker_with_its_log_and_is_not_retried(run: Run, recipe: Recipe) -> None:
    builder = FakeBuilder(BuildError("build of recipe 'tiny' failed (exit 1)", log_path=Path("/logs/build-tiny.log"),
                                     fix="fix the Dockerfile"))
    supply = ImageSupply(run, builder, {})
    for _ in range(2):
        with pytest.raises(BuildError) as caught:
            supply.get(recipe)
        assert caught.value.log_path == Path("/logs/build-tiny.log") and caught.value.fix == "fix the Dockerfile"
    assert builder.builds == ["tiny"]


def test_an_error_without_a_build_log_stays_a_plain_error(run: Run, recipe: Recipe) -> None:
    supply = ImageSupply(run, FakeBuilder(RvconformError("registry http://127.0.0.1:9 does not answer")), {})
    with pytest.raises(RvconformError, match="does not answer") as caught:
        supply.get(recipe)
    assert not isinstance(caught.value, BuildError)


def test_an_image_given_by_digest_is_taken_as_it_is(run: Run, recipe: Recipe) -> None:
    given = ImageRef("lab-registry:5000", "riscv64/tiny", None, DIGEST)
    builder = FakeBuilder()
    image = ImageSupply(run, builder, {"tiny": given}).get(recipe)
    assert image.ref == given and image.log_path == "" and builder.builds == []


def test_the_size_is_measured_once(run: Run, recipe: Recipe, monkeypatch: pytest.MonkeyPatch) -> None:
    measured: list[str] = []

    def measure(client: object, repository: str, reference: str, platform: str) -> ImageSize:
        measured.append(reference)
        return ImageSize(100, 200, ())

    monkeypatch.setattr("harness.images.measure", measure)
    supply = ImageSupply(run, FakeBuilder(), {})
    assert supply.size(recipe) == ImageSize(100, 200, ()) == ImageSupply(run, FakeBuilder(), {}).size(recipe)
    assert measured == [DIGEST]
