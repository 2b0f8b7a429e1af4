"""Base images from a Debian mirror: loaded with a riscv64 config, and reused while inputs are unchanged."""

from harness import bootstrap
from harness.engine import engine
from harness.labels import MANAGED_LABELS
from harness.recipes import BaseSpec


def test_the_riscv64_base_runs_as_riscv64_and_is_reused_from_the_cache() -> None:
    base = bootstrap.base_for(BaseSpec("debian", "sid"), "linux/riscv64")
    messages: list[str] = []
    ref = bootstrap.ensure_base(base, log=messages.append)
    image = engine().images.get(ref)
    assert (image.attrs["Os"], image.attrs["Architecture"]) == ("linux", "riscv64")
    output = engine().containers.run(ref, ["uname", "-m"], platform="linux/riscv64", remove=True,
                                     labels=MANAGED_LABELS)
    assert output.strip() == b"riscv64"

    messages.clear()
    assert bootstrap.ensure_base(base, log=messages.append) == ref
    assert messages == [], "a loaded base with unchanged inputs is neither rebuilt nor reloaded"

    engine().images.remove(ref)
    assert bootstrap.ensure_base(base, log=messages.append) == ref
    assert messages == [f"bootstrap: loading {base.archive} into the engine"], "reloaded from the cache"
