"""Generated registry configuration, proven by real pulls: containerd pulls docker.io/riscv64/... through
the reference k3s mirror configuration (pointed at our registry) and gets our image; a wrong endpoint
fails naming the endpoint it tried."""

from __future__ import annotations

import uuid

import pytest

from harness.boards import open_board
from harness.errors import BoardError
from harness.labels import run_labels
from harness.registry_mirror import mirrored_name, reference_mirror_files

BOARDS = ["local", pytest.param("qemu", marks=pytest.mark.slow)]


@pytest.fixture(scope="module", params=BOARDS)
def board(request: pytest.FixtureRequest, registry_process):
    labels = run_labels(f"mirror-{uuid.uuid4().hex[:8]}")
    run = request.getfixturevalue("qemu_run") if request.param == "qemu" else None
    opened = open_board(request.param, labels, run)
    opened.attach_registry(registry_process.url)
    yield opened
    opened.close()


def test_containerd_pulls_through_the_reference_mirror_config(board, tiny_image) -> None:
    files = reference_mirror_files(board.sees(tiny_image.ref).registry)
    result = board.pull_through_mirrors(mirrored_name("riscv64/tiny", "1"), files, "linux/riscv64")
    assert result.digest == tiny_image.ref.digest


def test_a_wrong_endpoint_fails_naming_the_endpoint(board) -> None:
    wrong = board.reach_registry("127.0.0.1", 1)  # nothing listens there: 127.0.0.1:1, or 10.0.2.2:1 in a VM
    files = reference_mirror_files(wrong)
    with pytest.raises(BoardError) as caught:
        board.pull_through_mirrors(mirrored_name("riscv64/tiny", "1"), files, "linux/riscv64")
    assert f"endpoints tried: http://{wrong}" in str(caught.value)
