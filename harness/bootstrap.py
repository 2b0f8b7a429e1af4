"""Base images without a container registry: a Debian root filesystem from a mirror, made with
mmdebstrap, wrapped in a docker-archive whose image config names the right platform, and loaded.

``docker import --platform`` is ignored by the 20.10 engine (the config says amd64), which is why
the archive and its config are written here instead.

Cache key: the inputs (distribution, suite, architecture, variant, mirror, mmdebstrap version and
this module's FORMAT). A base is rebuilt only when one of them changes; ``refresh=True`` forces it.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock

from harness import progress
from harness.cache import cache_dir
from harness.defaults import DEBIAN_MIRROR
from harness.engine import engine, engine_errors
from harness.mmdebstrap import APT_OPTIONS, mmdebstrap_version, run_mmdebstrap
from harness.recipes import BaseSpec

FORMAT = 1
IMAGE_REPOSITORY = "rvconform/debian"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def host_architecture() -> str:
    """The Debian name of the build machine's architecture (amd64, arm64, ...)."""
    return subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()


def debian_architecture(platform: str) -> str:
    """Debian's name for an OCI platform's architecture: linux/riscv64 -> riscv64, linux/amd64 -> amd64."""
    arch = platform.split("/")[1]
    return {"arm": "armhf", "386": "i386", "ppc64le": "ppc64el"}.get(arch, arch)


@dataclass(frozen=True)
class BaseImage:
    """One bootstrapped base: its inputs, its cache key and the image name it is loaded under."""

    suite: str
    architecture: str
    mirror: str = DEBIAN_MIRROR
    variant: str = "minbase"

    @property
    def key(self) -> str:
        inputs = {
            "format": FORMAT, "suite": self.suite, "architecture": self.architecture,
            "variant": self.variant, "mirror": self.mirror, "mmdebstrap": mmdebstrap_version(),
        }
        return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:12]

    @property
    def ref(self) -> str:
        return f"{IMAGE_REPOSITORY}:{self.suite}-{self.architecture}-{self.key}"

    @property
    def archive(self) -> Path:
        return cache_dir("bases") / f"{self.suite}-{self.architecture}-{self.key}.tar"

    @property
    def log(self) -> Path:
        """mmdebstrap's output when the base was last made (beside the archive)."""
        return self.archive.with_suffix(".log")


def base_for(spec: BaseSpec, target_platform: str, mirror: str = DEBIAN_MIRROR) -> BaseImage:
    """The base image that satisfies a recipe's base spec for its target platform."""
    platform = target_platform if spec.platform == "target" else f"linux/{host_architecture()}"
    return BaseImage(suite=spec.suite, architecture=debian_architecture(platform), mirror=mirror)


def ensure_base(base: BaseImage, *, refresh: bool = False, log=print) -> str:
    """Make sure ``base`` is loaded in the engine; build it from the mirror only when not cached.

    Returns the image reference to pass as the build arg.
    """
    with FileLock(str(base.archive) + ".lock"):
        if not refresh and _in_engine(base.ref):
            return base.ref
        if refresh or not base.archive.is_file():
            log(f"bootstrap: building {base.ref} from {base.mirror} with mmdebstrap (about a minute); log: {base.log}")
            with progress.step(progress.BASE, f"{base.suite}-{base.architecture}", base.log):
                _build_archive(base)
        log(f"bootstrap: loading {base.archive} into the engine")
        with base.archive.open("rb") as archive:
            engine().images.load(archive)
    return base.ref


def _in_engine(ref: str) -> bool:
    try:
        engine().images.get(ref)
    except engine_errors().ImageNotFound:
        return False
    return True


def _build_archive(base: BaseImage) -> None:
    with tempfile.TemporaryDirectory(prefix="rvconform-bootstrap-", dir=base.archive.parent) as tmp:
        rootfs = Path(tmp) / "rootfs.tar"
        _run_mmdebstrap(base, rootfs)
        partial = Path(tmp) / "image.tar"
        write_docker_archive(rootfs, partial, base.ref, base.architecture, _history(base))
        partial.replace(base.archive)


def _run_mmdebstrap(base: BaseImage, out: Path) -> None:
    arguments = [f"--arch={base.architecture}", f"--variant={base.variant}"]
    arguments += [f"--aptopt={option}" for option in APT_OPTIONS]
    run_mmdebstrap([*arguments, base.suite, str(out), base.mirror], base.log,
                   what=f"the base {base.suite}/{base.architecture} from {base.mirror}",
                   fix="check that the mirror is reachable and has this suite for this architecture "
                   "(a foreign architecture also needs arch-test and the qemu binfmt registration: rvconform doctor)")


def _history(base: BaseImage) -> str:
    return f"mmdebstrap --arch={base.architecture} --variant={base.variant} {base.suite} {base.mirror}"


def write_docker_archive(layer: Path, out: Path, ref: str, architecture: str, created_by: str) -> None:
    """Write a `docker load` archive of one uncompressed layer whose config names ``architecture``."""
    diff_id = "sha256:" + _sha256_file(layer)
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    config = {
        "architecture": architecture,
        "os": "linux",
        "created": created,
        "config": {"Env": [PATH_ENV], "Cmd": ["bash"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": created, "created_by": created_by}],
    }
    config_bytes = json.dumps(config).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    layer_name = diff_id.removeprefix("sha256:") + "/layer.tar"
    manifest = [{"Config": config_name, "RepoTags": [ref], "Layers": [layer_name]}]
    with tarfile.open(out, "w") as archive:
        _add_bytes(archive, config_name, config_bytes)
        _add_bytes(archive, "manifest.json", json.dumps(manifest).encode())
        archive.add(layer, arcname=layer_name)


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:

    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
