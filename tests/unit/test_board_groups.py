"""The board groups that xdist workers record and the controller's scheduler reads (harness.board_groups)."""

from harness.board_groups import read_board_groups, scope_of, write_board_groups


def test_the_groups_of_every_worker_are_read_merged(tmp_path) -> None:
    write_board_groups(tmp_path, "gw0", {"suites/test_pull.py::test_pull[tiny-local]": "board-local"})
    write_board_groups(tmp_path, "gw1", {"suites/test_pull.py::test_pull[tiny-qemu]": "board-qemu"})
    assert read_board_groups(tmp_path) == {"suites/test_pull.py::test_pull[tiny-local]": "board-local",
                                           "suites/test_pull.py::test_pull[tiny-qemu]": "board-qemu"}
    assert sorted(path.name for path in tmp_path.iterdir()) == ["board-groups-gw0.json", "board-groups-gw1.json"]


def test_no_worker_has_recorded_yet_means_no_groups(tmp_path) -> None:
    (tmp_path / "board-groups-gw0.partial").write_text('{"half": ')  # a write in progress is never read
    assert read_board_groups(tmp_path) == {}


def test_a_board_test_is_scheduled_with_its_board_and_any_other_test_alone() -> None:
    groups = {"suites/test_pull.py::test_pull[tiny-local]": "board-local"}
    assert scope_of("suites/test_pull.py::test_pull[tiny-local]", groups) == "board-local"
    assert scope_of("suites/test_sizes.py::test_budget[tiny]", groups) == "suites/test_sizes.py::test_budget[tiny]"
