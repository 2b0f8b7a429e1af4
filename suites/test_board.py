"""Each board is reachable: connected, its runtime found, the run's registry reachable from it."""

from harness.boards import Board
from harness.fixtures import Outcome


def test_board_reachable(connected: Outcome[Board], board_url: str) -> None:
    """The board answers (for a VM: it booted) and is set up to reach the registry."""
    connected.fail_if_error()
