"""Pushing a built image to the registry, or not: when the registry already has it, nothing is sent."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from harness.engine import engine, engine_errors
from harness.errors import BuildError, RegistryError
from harness.image_ref import ImageRef
from harness.registry_access import Credentials
from harness.registry_client import RegistryClient

if TYPE_CHECKING:
    import docker


def push_unless_present(ref: ImageRef, client: RegistryClient, log_path: Path,
                        docker: docker.DockerClient | None = None) -> tuple[str, bool]:
    """Push ``ref`` from the engine ``docker`` (default: the local one) unless its tag already names the same
    image; returns (manifest digest, reused).

    "The same image" means the same config digest, i.e. the local image ID: same layers, same
    metadata. Then the registry's manifest is the pushed image, and pushing again would change nothing.
    """
    docker = docker or engine()
    image_id = docker.images.get(str(ref)).id
    try:
        present = client.manifest(ref.repository, ref.tag or "latest")
    except RegistryError:
        present = None
    if present and not present.is_index and present.body.get("config", {}).get("digest") == image_id:
        with log_path.open("a") as log:
            log.write(f"\n{ref}: the registry already has this image ({present.digest}); not pushed\n")
        return present.digest, True
    return _push(docker, ref, log_path, client.access.credentials), False


def _push(docker: docker.DockerClient, ref: ImageRef, log_path: Path, credentials: Credentials | None = None) -> str:
    digest = None
    with log_path.open("a") as log:
        log.write(f"\n$ push {ref}\n")
        try:
            # The credentials travel with this request only: the user's docker config is never written.
            stream = docker.images.push(f"{ref.registry}/{ref.repository}", tag=ref.tag, stream=True, decode=True,
                                          auth_config=credentials.auth_config() if credentials else None)
            for event in stream:
                if "error" in event:
                    log.write(f"error: {event['error']}\n")
                    raise BuildError(f"push of {ref} failed: {event['error']}", log_path=log_path,
                                     fix="check that the registry runs and accepts pushes")
                digest = event.get("aux", {}).get("Digest", digest)
                if event.get("status") and event.get("id") is None:
                    log.write(f"{event['status']}\n")
        except engine_errors().APIError as error:
            raise BuildError(f"push of {ref} failed: {error}", log_path=log_path) from None
    if not digest:
        raise BuildError(f"push of {ref} reported no digest", log_path=log_path)
    return digest


def untag(ref: ImageRef, docker: docker.DockerClient | None = None) -> None:
    """Drop the tag in the engine ``docker`` (default: the local one), so a board's pull really fetches from the
    registry.

    BuildKit's own cache keeps the layers for the next build.
    """
    errors = engine_errors()
    try:
        (docker or engine()).images.remove(str(ref), noprune=False)
    except errors.ImageNotFound:
        pass
    except errors.APIError as error:
        # Another run on this engine removed the same image (same content, same ID) a moment before.
        if "unrecognized image ID" not in str(error.explanation or error):
            raise
