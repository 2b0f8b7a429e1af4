"""A small client for the registry HTTP API (distribution v2 / OCI): manifests, blobs and tags; it writes only
manifests (``put_manifest``, for image indexes: blobs are pushed by the engine).

TLS is verified against the CA given for the registry (or the system's); a TLS failure is reported as
one and never retried over plain HTTP. A 401 is answered once with Basic or Bearer auth (registry_auth).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from harness.cache import cache_dir, cached_file, save_verified
from harness.errors import RegistryError, RegistryUnreachable
from harness.registry_access import ACCESS, RegistryAccess
from harness.registry_auth import RegistryAuth

#: Seconds to connect; how long a registry may stay silent afterwards is ACCESS.answer_timeout (--pull-timeout).
CONNECT_TIMEOUT = 5.0
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
    """Talks to one registry over HTTP(S), e.g. ``http://127.0.0.1:5000``.

    ``access`` (CA file, credentials) defaults to what the run's ``ACCESS`` book knows for the host.
    """

    def __init__(self, url: str, access: RegistryAccess | None = None) -> None:
        self.url = url.rstrip("/")
        scheme, _, host = self.url.partition("://")
        self.access = access or ACCESS.access(host, scheme)
        self.http = requests.Session()
        self.http.trust_env = False  # no ~/.netrc credentials or CA bundle from the environment behind our back
        self.http.verify = str(self.access.ca_file) if self.access.ca_file else True
        self._auth: RegistryAuth | None = None

    @property
    def timeout(self) -> tuple[float, float]:
        """(connect, answer) seconds for each request: ACCESS.answer_timeout as the options set it."""
        return CONNECT_TIMEOUT, ACCESS.answer_timeout

    @property
    def auth(self) -> RegistryAuth:
        """The 401 answerer; credentials are looked up on first need, not when the client is made."""
        if self._auth is None:
            self._auth = RegistryAuth(self.url, self.http, self.access.credentials, self.timeout)
        return self._auth

    def _get(self, path: str, **kwargs: Any) -> requests.Response:
        return self._request("GET", path, _scope(path), **kwargs)

    def _request(self, method: str, path: str, scope: str, **kwargs: Any) -> requests.Response:
        sent = self.auth.header(scope) if self._auth else {}
        response = self._send(method, path, sent, **kwargs)
        if response.status_code == 401:
            sent = self.auth.answer(response, scope, sent)
            response = self._send(method, path, sent, **kwargs)
            if response.status_code == 401:
                self.auth.answer(response, scope, sent)  # raises: the answer was refused
        return response

    def _send(self, method: str, path: str, auth: dict[str, str], **kwargs: Any) -> requests.Response:
        headers = {**kwargs.pop("headers", {}), **auth}
        try:
            response = self.http.request(method, f"{self.url}{path}", timeout=self.timeout, headers=headers, **kwargs)
        except requests.exceptions.SSLError as error:
            raise tls_error(self.url, self.access, error) from None
        except requests.exceptions.ReadTimeout:
            raise RegistryUnreachable(
                f"registry {self.url} does not answer: {method} {path} had no answer within {self.timeout[1]:g} s "
                "(--pull-timeout); it accepts connections but stays silent (stopped or overloaded?)",
                fix=f"check that the registry at {self.url} runs and answers") from None
        except requests.RequestException as error:
            raise RegistryUnreachable(
                f"registry {self.url} does not answer: {error}",
                fix=f"check that a registry runs and answers at {self.url}",
            ) from None
        if response.status_code == 400 and "HTTP request to an HTTPS server" in response.text:
            raise RegistryError(
                f"registry {self.url} speaks TLS (https) on that port; plain HTTP was expected",
                fix=f"use https://{self.access.host} (with --registry-ca if its CA is private)")
        return response

    def ping(self) -> None:
        """Raise RegistryError unless GET /v2/ answers like a registry (with the credentials, if it asks)."""
        response = self._get("/v2/")
        if response.status_code != 200:
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

    def manifest_bytes(self, repository: str, reference: str) -> tuple[str, bytes]:
        """A manifest's media type and its exact bytes (what its digest is the hash of)."""
        response = self._get(f"/v2/{repository}/manifests/{reference}", headers={"Accept": ACCEPT})
        self._raise_for(response, f"manifest {repository}:{reference}")
        return response.headers.get("Content-Type", "").split(";")[0], response.content

    def put_manifest(self, repository: str, reference: str, media_type: str, content: bytes) -> str:
        """PUT a manifest or index under a tag or its digest; returns the digest the registry gives it."""
        response = self._request("PUT", f"/v2/{repository}/manifests/{reference}",
                                 f"repository:{repository}:pull,push", data=content,
                                 headers={"Content-Type": media_type})
        if response.status_code == 403:
            raise RegistryError(f"{self.url} denies pushing to {repository} to these credentials",
                                fix="ask for push access to the repository, or use other credentials")
        if response.status_code >= 300:
            raise RegistryError(f"{self.url}: PUT of manifest {repository}:{reference} failed: "
                                f"{response.status_code} {response.text[:300]}")
        return response.headers.get("Docker-Content-Digest") or _digest(content)

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

    def pull_authorization(self, repository: str) -> str | None:
        """The Authorization header value this client sends to pull ``repository`` (Basic, or a Bearer token
        for its pull scope), for a runtime that is handed it in a 0600 file; None for an open registry."""
        self.tags(repository)  # answers the registry's challenge, if it makes one
        return self.auth.header(_scope(f"/v2/{repository}/tags/")).get("Authorization") if self._auth else None

    def _tags_hint(self, repository: str) -> str:
        try:
            return ", ".join(self.tags(repository)) or "(none)"
        except RegistryError:
            return "(unknown)"

    def _download_blob(self, repository: str, digest: str, path: Path) -> None:
        algorithm, _, expected = digest.partition(":")
        response = self._get(f"/v2/{repository}/blobs/{digest}", stream=True)
        self._raise_for(response, f"blob {digest} of {repository}")
        try:
            found = save_verified(response.iter_content(1 << 20), path, algorithm, expected)
        except requests.RequestException as error:  # a body that stops arriving: the read timeout, wrapped
            raise RegistryUnreachable(
                f"registry {self.url} stopped sending blob {digest} of {repository} (no bytes for "
                f"{self.timeout[1]:g} s, --pull-timeout): {type(error).__name__}",
                fix=f"check that the registry at {self.url} runs and answers") from None
        if found != expected:
            raise RegistryError(f"{self.url}: blob {digest} arrived with digest {algorithm}:{found}")

    def _raise_for(self, response: requests.Response, what: str) -> None:
        if response.status_code == 403:
            raise RegistryError(f"{self.url} denies reading {what} to these credentials",
                                fix="ask for pull access to the repository, or use other credentials")
        if response.status_code >= 400:
            raise RegistryError(
                f"{self.url}: reading {what} failed: {response.status_code} {response.text[:200]}"
            )


def _scope(path: str) -> str:
    """The token scope a request needs: ``repository:NAME:pull`` for /v2/NAME/{manifests,blobs,tags}/..."""
    match = re.match(r"/v2/(.+)/(manifests|blobs|tags)/", path)
    return f"repository:{match.group(1)}:pull" if match else ""


def tls_error(url: str, access: RegistryAccess, error: Exception) -> RegistryError:
    """A TLS failure, named: wrong host, unknown CA, or a server that does not speak TLS at all."""
    text = str(error)
    trusted = f"the CA in {access.ca_file}" if access.ca_file else "the system's CAs"
    if "WRONG_VERSION_NUMBER" in text or "wrong version number" in text or "record layer failure" in text:
        return RegistryError(f"registry {url} does not speak TLS on that port (it answers plain HTTP); "
                             "https was expected",
                             fix=f"if the registry really serves plain HTTP, give it as http://{access.host} "
                             f"(--registry http://... or --registry-http {access.host})")
    if "match" in text and ("hostname" in text.lower() or "IP address" in text):
        return RegistryError(f"registry {url} presents a certificate that is not valid for {access.host} "
                             f"(checked against {trusted}): {_reason(text)}",
                             fix="reach the registry by a name or address its certificate lists, or reissue the "
                             "certificate with that name in subjectAltName")
    if "CERTIFICATE_VERIFY_FAILED" in text and access.ca_file:
        return RegistryError(f"registry {url} presents a certificate that {trusted} does not vouch for: "
                             f"{_reason(text)}",
                             fix=f"{access.ca_file} is not the CA that signed the registry's certificate: give that "
                             f"CA with --registry-ca FILE or --registry-ca {access.host}=FILE")
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return RegistryError(f"registry {url} presents a certificate that {trusted} do not vouch for: {_reason(text)}",
                             fix=f"give its CA with --registry-ca FILE or --registry-ca {access.host}=FILE")
    return RegistryError(f"TLS with registry {url} failed: {_reason(text)}",
                         fix="check the registry's TLS set-up and the CA given with --registry-ca")


def _reason(text: str) -> str:
    match = re.search(r"\[SSL[^\]]*\][^(]*|certificate verify failed[^(]*", text)
    return (match.group(0) if match else text[-200:]).strip().rstrip("\".")


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
