"""What runtimes print, read into data: ctr's tables, docker/podman inspect JSON, docker port and state lines."""

import pytest

from harness.boards.runtime_output import (
    Pulled,
    ctr_exit_code,
    ctr_image,
    ctr_task_status,
    docker_exit,
    docker_frames,
    docker_image,
    docker_port,
    start_failure_status,
)

DIGEST = "sha256:" + "ab" * 32
CTR_IMAGES = f"""\
REF                            TYPE                                       DIGEST   SIZE    PLATFORMS   LABELS
127.0.0.1:5000/riscv64/tiny:1  application/vnd.oci.image.manifest.v1+json {DIGEST} 1.1 MiB linux/riscv64 -
docker.io/riscv64/redis:7.0.15 application/vnd.oci.image.index.v1+json {DIGEST} 3.0 MiB linux/amd64,linux/riscv64 -
"""
CTR_TASKS = """\
TASK                        PID      STATUS
rvconform-redis-1a2b3c4d    12345    RUNNING
rvconform-dies-5e6f7a8b     12399    STOPPED
"""


def test_ctr_images_ls_gives_the_digest_and_the_first_platform_of_a_ref() -> None:
    assert ctr_image(CTR_IMAGES, "127.0.0.1:5000/riscv64/tiny:1") == Pulled(DIGEST, "linux/riscv64")
    assert ctr_image(CTR_IMAGES, "docker.io/riscv64/redis:7.0.15") == Pulled(DIGEST, "linux/amd64")
    assert ctr_image(CTR_IMAGES, "REF") is None, "the header is not a row"
    assert ctr_image(CTR_IMAGES, "docker.io/riscv64/nginx:1") is None


def test_ctr_tasks_ls_gives_a_task_s_status_and_delete_its_exit_code() -> None:
    assert ctr_task_status(CTR_TASKS, "rvconform-redis-1a2b3c4d") == "RUNNING"
    assert ctr_task_status(CTR_TASKS, "rvconform-dies-5e6f7a8b") == "STOPPED"
    assert ctr_task_status(CTR_TASKS, "rvconform-gone") is None
    assert ctr_exit_code("WARN[0000] task rvconform-dies exited with exit code 7\n") == "7"
    assert ctr_exit_code("") == "0", "ctr says nothing about a task that exited 0"


@pytest.mark.parametrize(
    ("inspect", "expected"),
    [
        ({"RepoDigests": [f"127.0.0.1:5000/riscv64/tiny@{DIGEST}"], "Os": "linux", "Architecture": "riscv64"},
         Pulled(DIGEST, "linux/riscv64")),
        ({"RepoDigests": None, "Os": "linux", "Architecture": "arm64", "Variant": "v8"},
         Pulled(None, "linux/arm64/v8")),
        ({"RepoDigests": ["no-digest-here"], "Os": "linux", "Architecture": "riscv64"},
         Pulled(None, "linux/riscv64")),
    ],
    ids=["docker", "podman-without-digest", "a-tag-only"],
)
def test_an_image_s_inspect_json_gives_its_digest_and_platform(inspect: dict, expected: Pulled) -> None:
    assert docker_image(inspect) == expected


def test_an_image_pulled_by_tag_and_by_entry_digest_reports_the_digest_it_was_pinned_by() -> None:
    index, entry = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    inspect = {"RepoDigests": [f"r/busybox@{index}", f"r/busybox@{entry}"], "Os": "linux", "Architecture": "amd64"}
    assert docker_image(inspect, f"r/busybox@{entry}").digest == entry
    assert docker_image(inspect, f"r/busybox@{index}").digest == index
    assert docker_image(inspect, "r/busybox:1.0").digest == index, "a tag pins nothing: the first digest"
    other = "sha256:" + "3" * 64
    assert docker_image(inspect, f"r/busybox@{other}").digest == index, "a pin it does not carry is not claimed"


def test_docker_port_and_state_lines() -> None:
    assert docker_port("127.0.0.1:49153\n") == 49153
    assert docker_port("0.0.0.0:8080\n[::]:8080\n") == 8080
    assert docker_port("") is None
    assert docker_exit("running 0\n") is None
    assert docker_exit("created 0") is None
    assert docker_exit("exited 137\n") == "exited with code 137"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ('OCI runtime exec failed: exec failed: unable to start container process: exec: "nosuch": '
         "executable file not found in $PATH: unknown", 127),
        ('ctr: failed to create shim task: OCI runtime create failed: runc create failed: unable to start '
         'container process: exec: "/nosuch": stat /nosuch: no such file or directory', 127),
        ("Error: crun: executable file `nosuch` not found in $PATH: No such file or directory: OCI runtime "
         "attempted to invoke a command that was not found", 127),
        ('OCI runtime exec failed: exec failed: unable to start container process: exec: "/etc/passwd": '
         "permission denied: unknown", 126),
        ("sh: nosuch: not found", None),
        ("", None),
    ],
    ids=["docker-exec", "ctr-absolute-path", "podman-crun", "not-executable", "a-shell-s-own", "nothing"],
)
def test_a_runtime_s_start_failure_gets_the_shell_s_exit_status(message: str, expected: int | None) -> None:
    assert start_failure_status(message) == expected


def test_docker_s_multiplexed_stream_is_split_into_stdout_and_stderr() -> None:
    def frame(kind: int, data: bytes) -> bytes:
        return bytes([kind, 0, 0, 0]) + len(data).to_bytes(4, "big") + data

    stream = frame(1, b"out 1\n") + frame(2, b"err\n") + frame(1, b"out 2\n") + frame(2, b"")
    assert docker_frames(stream) == (b"out 1\nout 2\n", b"err\n")
    assert docker_frames(b"") == (b"", b"")
