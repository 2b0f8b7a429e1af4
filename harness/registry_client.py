"""A small client for the registry HTTP API (distribution v2 / OCI): manifests, blobs and tags, read only."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from harness.cache import cache_dir, cached_file, save_verified
from harness.errors import RegistryError

TIMEOUT = (5, 60)
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
INDEX_TYPES = (DOCKER_LIST, OCI_INDEX)
ACCEPT = ", ".join((OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST))


@dataclass(frozen=True)
class Manifest:
    """A manifest or index as the registry served it."""

    media_type: str
    digest: str
    body: dict[str, Any]
    size: int

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES or "manifests" in self.body


class RegistryClient:
    """Talks to one registry over HTTP(S), e.g. ``http://127.0.0.1:5000``."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.http = requests.Session()

    def _get(self, path: str, **kwargs: Any) -> requests.Response:
        try:
            response = self.http.get(f"{self.url}{path}", timeout=TIMEOUT, **kwargs)
        except requests.RequestException as error:
            raise RegistryError(
                f"registry {self.url} does not answer: {error}",
                fix=f"check that a registry runs and answers at {self.url}",
            ) from None
        return response

    def ping(self) -> None:
        """Raise RegistryError unless GET /v2/ answers like a registry."""
        response = self._get("/v2/")
        if response.status_code not in (200, 401):
            raise RegistryError(
                f"{self.url}/v2/ answered {response.status_code}, not a registry API",
                fix="use the registry's base URL, e.g. http://HOST:5000",
            )

    def manifest(self, repository: str, reference: str) -> Manifest:
        """The manifest or index for a tag or digest."""
        response = self._get(f"/v2/{repository}/manifests/{reference}", headers={"Accept": ACCEPT})
        if response.status_code == 404:
            raise RegistryError(
                f"{self.url} has no manifest {repository}:{reference}",
                fix=f"push the image first, or check the name; tags here: {self._tags_hint(repository)}",
            )
        self._raise_for(response, f"manifest {repository}:{reference}")
        digest = response.headers.get("Docker-Content-Digest") or _digest(response.content)
        media_type = response.headers.get("Content-Type", "").split(";")[0]
        body = response.json()
        return Manifest(body.get("mediaType", media_type), digest, body, len(response.content))

    def blob(self, repository: str, digest: str) -> Path:
        """A blob's content as a file in the cache (keyed by digest), fetched on first use."""
        path = cache_dir("blobs") / digest.replace(":", "-")
        return cached_file(path, lambda path: self._download_blob(repository, digest, path))

    def blob_json(self, repository: str, digest: str) -> dict[str, Any]:
        """A small JSON blob, such as an image config."""
        return json.loads(self.blob(repository, digest).read_text())

    def tags(self, repository: str) -> list[str]:
        response = self._get(f"/v2/{repository}/tags/list")
        if response.status_code == 404:
            return []
        self._raise_for(response, f"tags of {repository}")
        return response.json().get("tags") or []

    def _tags_hint(self, repository: str) -> str:
        try:
            return ", ".join(self.tags(repository)) or "(none)"
        except RegistryError:
            return "(unknown)"

    def _download_blob(self, repository: str, digest: str, path: Path) -> None:
        algorithm, _, expected = digest.partition(":")
        response = self._get(f"/v2/{repository}/blobs/{digest}", stream=True)
        self._raise_for(response, f"blob {digest} of {repository}")
        found = save_verified(response.iter_content(1 << 20), path, algorithm, expected)
        if found != expected:
            raise RegistryError(f"{self.url}: blob {digest} arrived with digest {algorithm}:{found}")

    def _raise_for(self, response: requests.Response, what: str) -> None:
        if response.status_code == 401:
            raise RegistryError(
                f"{self.url} asks for credentials to read {what}",
                fix="use a registry that allows anonymous reads, or log in (not supported yet)",
            )
        if response.status_code >= 400:
            raise RegistryError(
                f"{self.url}: reading {what} failed: {response.status_code} {response.text[:200]}"
            )


def _digest(content: bytes) -> str:
    return "sha256:" + hashlib.sha256(content).hexdigest()


def platform_of(entry: dict[str, Any]) -> str:
    """``os/architecture[/variant]`` of an index entry's or image config's platform fields."""
    platform = entry.get("platform", entry)
    parts = (platform.get("os", "?"), platform.get("architecture", "?"), platform.get("variant"))
    return "/".join(p for p in parts if p)


def os_arch(platform: str) -> str:
    """``os/architecture`` of a platform, without its variant: linux/arm64/v8 -> linux/arm64."""
    return "/".join(platform.split("/")[:2])


def index_entry(index: Manifest, repository: str, platform: str) -> dict[str, Any]:
    """The entry of ``index`` for ``platform``'s os/architecture (any variant); RegistryError naming what the
    index has when there is none."""
    entries = index.body.get("manifests", [])
    for entry in entries:
        if os_arch(platform_of(entry)) == os_arch(platform):
            return entry
    present = ", ".join(platform_of(e) for e in entries) or "nothing"
    raise RegistryError(f"no {os_arch(platform)} in the index {repository}@{index.digest}; it has: {present}")


def select_platform(client: RegistryClient, repository: str, reference: str, platform: str) -> Manifest:
    """The single-platform manifest of ``reference`` for ``platform``, looking through an index."""
    manifest = client.manifest(repository, reference)
    if not manifest.is_index:
        return manifest
    return client.manifest(repository, index_entry(manifest, repository, platform)["digest"])
