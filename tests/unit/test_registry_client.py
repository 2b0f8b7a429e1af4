"""The registry client's reading of answers (digest header, media types, 401/404, indexes, blob digests),
against canned answers from a stdlib HTTP server on 127.0.0.1. The real registry is in the integration tests."""

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from harness.errors import RegistryError
from harness.registry_client import DOCKER_MANIFEST, OCI_INDEX, RegistryClient, select_platform

Answer = tuple[int, dict[str, str], bytes]


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
                       "config": {"digest": "sha256:" + "0" * 64, "size": 2}, "layers": []}).encode()
INDEX = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
    {"digest": digest_of(MANIFEST), "platform": {"os": "linux", "architecture": "amd64"}},
    {"digest": digest_of(MANIFEST), "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
]}).encode()
BLOB = b"layer bytes"


class Canned(BaseHTTPRequestHandler):
    answers: ClassVar[dict[str, Answer]] = {}

    def do_GET(self) -> None:
        status, headers, body = self.answers.get(self.path, (404, {}, b'{"errors": []}'))
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RegistryClient]:
    monkeypatch.setenv("RVCONFORM_CACHE", str(tmp_path / "cache"))
    Canned.answers = {
        "/v2/": (200, {}, b"{}"),
        "/v2/riscv64/tiny/manifests/1": (200, {"Content-Type": DOCKER_MANIFEST, "Docker-Content-Digest": "sha256:abc"},
                                         MANIFEST),
        "/v2/riscv64/tiny/manifests/nodigest": (200, {"Content-Type": DOCKER_MANIFEST}, MANIFEST),
        f"/v2/riscv64/tiny/manifests/{digest_of(MANIFEST)}": (200, {"Content-Type": DOCKER_MANIFEST}, MANIFEST),
        "/v2/riscv64/tiny/manifests/multi": (200, {"Content-Type": OCI_INDEX}, INDEX),
        "/v2/riscv64/tiny/tags/list": (200, {}, b'{"name": "riscv64/tiny", "tags": ["1", "multi"]}'),
        "/v2/private/x/manifests/1": (401, {"WWW-Authenticate": 'Basic realm="lab"'}, b"{}"),
        f"/v2/riscv64/tiny/blobs/{digest_of(BLOB)}": (200, {}, BLOB),
        f"/v2/riscv64/tiny/blobs/{digest_of(b'other')}": (200, {}, BLOB),
    }
    server = ThreadingHTTPServer(("127.0.0.1", 0), Canned)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield RegistryClient(f"http://127.0.0.1:{server.server_address[1]}/")
    server.shutdown()
    server.server_close()


def test_a_manifest_is_read_with_its_digest_and_media_type(registry: RegistryClient) -> None:
    registry.ping()
    manifest = registry.manifest("riscv64/tiny", "1")
    assert (manifest.digest, manifest.media_type, manifest.size) == ("sha256:abc", DOCKER_MANIFEST, len(MANIFEST))
    assert not manifest.is_index
    assert registry.manifest("riscv64/tiny", "nodigest").digest == digest_of(MANIFEST), "hashed when not sent"


def test_a_missing_manifest_names_the_tags_there_and_credentials_are_named(
    registry: RegistryClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    for name in ("RVCONFORM_REGISTRY_USERNAME", "RVCONFORM_REGISTRY_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RegistryError, match=r"has no manifest riscv64/tiny:2[\s\S]*tags here: 1, multi"):
        registry.manifest("riscv64/tiny", "2")
    with pytest.raises(RegistryError, match=r"asks for credentials and none were found[\s\S]*fix: set "
                                            r"RVCONFORM_REGISTRY_USERNAME and RVCONFORM_REGISTRY_PASSWORD"):
        registry.manifest("private/x", "1")
    assert registry.tags("riscv64/none") == []


def test_an_index_without_the_platform_says_what_it_has(registry: RegistryClient) -> None:
    assert select_platform(registry, "riscv64/tiny", "multi", "linux/arm64").digest == digest_of(MANIFEST)
    with pytest.raises(RegistryError, match=r"no linux/riscv64 in the index riscv64/tiny@sha256:\w+; "
                                            r"it has: linux/amd64, linux/arm64/v8"):
        select_platform(registry, "riscv64/tiny", "multi", "linux/riscv64")


def test_a_blob_is_cached_by_digest_and_a_wrong_one_is_refused(registry: RegistryClient, tmp_path: Path) -> None:
    path = registry.blob("riscv64/tiny", digest_of(BLOB))
    assert path.read_bytes() == BLOB and path.parent == tmp_path / "cache" / "blobs"
    with pytest.raises(RegistryError, match="arrived with digest"):
        registry.blob("riscv64/tiny", digest_of(b"other"))
    assert sorted(p.name for p in path.parent.iterdir() if not p.name.endswith(".lock")) == [path.name]


def test_a_certificate_the_given_ca_does_not_vouch_for_names_that_file_as_not_the_signer(tmp_path: Path) -> None:
    from harness.registry_access import RegistryAccess
    from harness.registry_client import tls_error

    failure = Exception("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer")
    given = tls_error("https://lab:5000", RegistryAccess("lab:5000", "https", tmp_path / "wrong.crt"), failure)
    assert f"the CA in {tmp_path / 'wrong.crt'} does not vouch for" in given.message
    assert f"{tmp_path / 'wrong.crt'} is not the CA that signed" in (given.fix or "")
    system = tls_error("https://lab:5000", RegistryAccess("lab:5000", "https"), failure)
    assert "the system's CAs do not vouch for" in system.message and "give its CA" in (system.fix or "")
