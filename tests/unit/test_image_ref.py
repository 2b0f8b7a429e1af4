import pytest

from harness.errors import RvconformError
from harness.image_ref import ImageRef

DIGEST = "sha256:" + "ab" * 32


def test_parse_and_print_round_trip() -> None:
    ref = ImageRef.parse(f"127.0.0.1:5000/riscv64/redis:7.0.15@{DIGEST}")
    parts = (ref.registry, ref.repository, ref.tag, ref.digest)
    assert parts == ("127.0.0.1:5000", "riscv64/redis", "7.0.15", DIGEST)
    assert str(ref) == f"127.0.0.1:5000/riscv64/redis:7.0.15@{DIGEST}"
    assert ref.pinned == f"127.0.0.1:5000/riscv64/redis@{DIGEST}"


def test_tag_defaults_to_latest_and_a_board_can_see_another_registry_address() -> None:
    ref = ImageRef.parse("lab.example:5000/riscv64/nginx")
    assert ref.tag == "latest" and ref.pinned == "lab.example:5000/riscv64/nginx:latest"
    assert str(ref.at("10.0.2.2:5000")) == "10.0.2.2:5000/riscv64/nginx:latest"


@pytest.mark.parametrize("bad", ["redis", "riscv64/redis:1", "127.0.0.1:5000/Redis", ""])
def test_a_reference_without_registry_gets_a_fix(bad: str) -> None:
    with pytest.raises(RvconformError, match=r"not an image reference[\s\S]*fix: write it as"):
        ImageRef.parse(bad)
