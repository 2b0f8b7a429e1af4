import pytest

from harness.units import format_size, parse_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [(4096, 4096), ("12 MB", 12_000_000), ("12MB", 12_000_000), ("1.5 MiB", 1_572_864), ("10 kB", 10_000),
     ("7 B", 7), ("0", 0)],
)
def test_parse_size(text: str | int, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("bad", ["twelve", "12 parsecs", "", -1, True, "1.2.3 MB"])
def test_parse_size_rejects_nonsense(bad: object) -> None:
    with pytest.raises(ValueError, match=r"expected a size|negative"):
        parse_size(bad)  # type: ignore[arg-type]


def test_format_size_reads_like_docker_images() -> None:
    assert format_size(10_200_000) == "10.20 MB"
    assert format_size(999) == "999 B"
    assert format_size(None) == "-"
