"""The bootstrap's docker-archive says the platform it is given (what `docker import` fails to do)."""

import hashlib
import io
import json
import tarfile
from pathlib import Path

from harness.bootstrap import BaseImage, write_docker_archive


def make_layer(path: Path) -> bytes:
    with tarfile.open(path, "w") as layer:
        data = b"riscv64 root\n"
        info = tarfile.TarInfo("./etc/issue")
        info.size = len(data)
        layer.addfile(info, io.BytesIO(data))
    return path.read_bytes()


def test_archive_config_names_the_architecture_and_the_layer(tmp_path: Path) -> None:
    layer_bytes = make_layer(tmp_path / "rootfs.tar")
    write_docker_archive(tmp_path / "rootfs.tar", tmp_path / "image.tar", "rvconform/debian:sid-x", "riscv64", "mm")
    with tarfile.open(tmp_path / "image.tar") as archive:
        manifest = json.load(archive.extractfile("manifest.json"))
        config = json.load(archive.extractfile(manifest[0]["Config"]))
        layer = archive.extractfile(manifest[0]["Layers"][0]).read()
    assert manifest[0]["RepoTags"] == ["rvconform/debian:sid-x"]
    assert (config["architecture"], config["os"]) == ("riscv64", "linux")
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(layer_bytes).hexdigest()]
    assert layer == layer_bytes


def test_the_cache_key_changes_with_every_input() -> None:
    base = BaseImage(suite="sid", architecture="riscv64")
    others = [BaseImage("trixie", "riscv64"), BaseImage("sid", "amd64"),
              BaseImage("sid", "riscv64", mirror="http://mirror.example/debian"),
              BaseImage("sid", "riscv64", variant="buildd")]
    assert base.key == BaseImage(suite="sid", architecture="riscv64").key
    assert len({base.key, *(other.key for other in others)}) == 5
    assert base.ref == f"rvconform/debian:sid-riscv64-{base.key}"
