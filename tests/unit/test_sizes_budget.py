from harness.recipes import Budget
from harness.sizes.budget import over_budget
from harness.sizes.measure import ImageSize


def size(unpacked: int, compressed: int) -> ImageSize:
    return ImageSize(compressed=compressed, unpacked=unpacked, layers=())


def test_within_budget_has_no_problems() -> None:
    assert over_budget(size(10_200_000, 4_000_000), Budget(unpacked=12_000_000, compressed=6_000_000)) == []
    assert over_budget(size(10**9, 10**9), Budget()) == []


def test_over_budget_names_both_numbers() -> None:
    problems = over_budget(size(146_000_000, 4_000_000), Budget(unpacked=12_000_000, compressed=6_000_000))
    assert problems == [
        "unpacked size 146.00 MB (146000000 bytes) is over the budget of "
        "12.00 MB (12000000 bytes) by 134.00 MB"
    ]
